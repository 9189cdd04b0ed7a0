"""The efficiency rule (docs/DESIGN.md, "The efficiency rule"), all of it here:

- formula.py: what a kept minute contributes, how minutes are bucketed, the DC/AC ratio (in SQL
  and in Python) and the summed columns every figure is made from;
- contributions.py: recomputing the per-minute contributions from history;
- performance.py: the refresh that moves the per-vehicle 24 h sums, and the reads of one vehicle;
- fleet.py: the fleet listing and a vehicle's hours.
"""
