"""A simulated JBOX fleet with injected faults, for demos, rule backtests and load tests.

The model is vectorised with numpy over boxes and driven by injected time (a :class:`SimWindow`),
so the same seed and the same start give the same data and the same ground truth, byte for byte.

>>> from simulator.window import SimWindow
>>> from simulator.scenario import build_scenario
>>> scenario = build_scenario(boxes=20, seed=7, window=SimWindow(1_764_428_400_000, 1800, 10))
>>> len(scenario.plan.faulty_ids())
2

Two outputs share the model: :mod:`simulator.backfill` writes history straight into InfluxDB,
:mod:`simulator.live` pushes JSON (see :mod:`simulator.payloads`) to the collector in scaled real time.
"""
