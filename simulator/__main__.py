"""`python -m simulator --help`."""

from simulator.command import simulate

simulate(prog_name="python -m simulator")
