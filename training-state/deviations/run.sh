#!/usr/bin/env bash
# Deviation ablations of SIDM-Fusion (lite, g7 recipe, seed 0): each deviation switched off alone.
cd /work/main
for name in spec_objective magnitude no_target edge_unscaled no_target_patches; do
  FUSIONBENCH_WEIGHTS=../shared/weights fusionbench ablate --dataset msrs --width lite --groups g7 --seeds 0 \
    --stage2-steps 2000 --config /work/train/dev/$name.toml \
    --spc-from fusionbench/methods/sidm/checkpoints/sidm-lite-g7.pt --train-dir /work/train/dev/$name --jobs 1 \
    --data-root ../shared --cache /work/train/dev/cache --workers 1 --metrics mi,vif,ag,scd,en,qabf,objects \
    --format csv --out /work/train/dev/$name.csv
done
