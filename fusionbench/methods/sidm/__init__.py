"""SIDM-Fusion: the seed paper's class-activation, multiscale-edge-gradient fusion network.

``network`` (the modules), ``swin`` (Swin layers on any map size), ``losses``, ``data`` (training
pool, target masks, patches), ``train`` (stage-wise training), ``method`` (the registered
``sidm`` method with the shipped checkpoints) and ``ablation`` (Table 2).
"""

from fusionbench.methods.sidm.config import ABLATION_GROUPS, Ablation, SIDMConfig

__all__ = ["ABLATION_GROUPS", "Ablation", "SIDMConfig"]
