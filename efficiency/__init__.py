"""The efficiency rule (docs/DESIGN.md, "The efficiency rule"), all of it here:

- formula.py: what a kept minute contributes, how minutes are bucketed, the DC/AC ratio (in SQL
  and in Python) and the summed columns every figure is made from;
- contributions.py: recomputing the per-(meter, minute) contributions from history;
- refresh.py: the refresh that moves the per-vehicle 24 h sums, and the reads of one vehicle;
- meters.py: a meter's (a charger's) running sums and reads;
- fleet.py: the listings, a device's hours and days, the monitoring counts;
- sessions.py: charging sessions, built from the readings, their figures from the contributions;
- reference.py: the rule written naively, for the tests and the simulator.
"""
