"""The engine: runs methods over dataset splits, caches fused images, scores them, stores results.

- :mod:`~fusionbench.engine.runner`: ``run(method, dataset)``, the per-image frame of one run.
- :mod:`~fusionbench.engine.units`: one pair's unit of work (fuse, cache, score).
- :mod:`~fusionbench.engine.store`: the SQLite store of per-image results, written atomically.
- :mod:`~fusionbench.engine.backends`: where units execute (in process, a process pool, Dask).
- :mod:`~fusionbench.engine.doctor`: checks of the data, weights and cache set-up.

Imports go one way: the engine uses methods, metrics and datasets; it never imports the CLI or reports.
"""
