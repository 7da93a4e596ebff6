"""Sweep loops kept only so that recorded histories of sweeps started by earlier versions
replay (and such sweeps, still running when a worker is upgraded, finish). Frozen: never
change what they decide or the commands they issue.

- steerable.py (+ steerable_state.py): sweeps started between steering and the engine (the
  `steering` patch without `engine`; fixtures sweep_steering_*_v5). Remove once no sweep of
  hpo before the engine can run or be replayed: one release after the engine, plus the
  namespace's retention.
- The first loop, in sweep.py's SweepWorkflow.run after both patches: sweeps from before steering
  (fixtures sweep_random*, sweep_asha*, sweep_function_asha_v4, sweep_image_asha_v4); the same rule.
"""
