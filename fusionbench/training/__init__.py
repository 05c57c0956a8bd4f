"""Training of SIDM-Fusion and its Table 2 ablation (never imported on the inference path).

``data`` (training pool, target masks, validation pairs, patches), ``losses``, ``train`` (stage-wise
training, resume, snapshots, model selection), ``validation`` (what a snapshot scores on the held-out
pairs), ``ablation`` (Table 2 rows over several seeds) and ``ship`` (copy trained checkpoints into
the package). The network itself lives in :mod:`fusionbench.methods.sidm`.
"""
