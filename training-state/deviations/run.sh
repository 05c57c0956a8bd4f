#!/usr/bin/env bash
# Deviation ablations of SIDM-Fusion (lite, g7 recipe, seed 0): the deviations of docs/sidm.md switched off
# alone, all together (spec_objective) and the two loss-level ones together (magnitude_no_target).
# Each writes <name>.csv beside its TOML; the trainings go to $DEV (default fusionbench-train/deviations).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEV=${DEV:-fusionbench-train/deviations}
for name in spec_objective magnitude no_target edge_unscaled no_target_patches magnitude_no_target; do
  FUSIONBENCH_WEIGHTS=${FUSIONBENCH_WEIGHTS:-../shared/weights} fusionbench ablate --dataset msrs --width lite \
    --groups g7 --seeds 0 --stage2-steps 2000 --config training-state/deviations/$name.toml \
    --spc-from fusionbench/methods/sidm/checkpoints/sidm-lite-g7.pt --train-dir "$DEV/$name" --jobs 1 \
    --data-root ../shared --cache "$DEV/cache" --workers 1 --metrics mi,vif,ag,scd,en,qabf,objects \
    --format csv --out training-state/deviations/$name.csv
done
