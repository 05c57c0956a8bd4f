"""python -m fusionbench: the command line."""

from fusionbench.cli import main

main()
