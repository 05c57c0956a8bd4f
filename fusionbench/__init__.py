"""fusionbench: the IR/VIS image-fusion benchmark suite."""

__version__ = "0.1.0"
