#!/usr/bin/env bash
# The paper-scale CMNIST column (21 models) on one GPU machine, then its small outputs kept in git.
#   bash workflow/scripts/cmnist_column_gpu.sh [JOBS]
# JOBS (default 16) training jobs share the GPU at once (each a small lnl_convnet; device auto
# picks CUDA). Runs resume from last.pt if the machine is taken away: run the same command again.
# Afterwards measured/cmnist/{table1,unimodal}.csv and measured/cmnist/runs/ hold every finished
# run (no checkpoints): commit them; `greedy render table1 --unimodal measured/cmnist/unimodal.csv
# --table1 measured/cmnist/table1.csv ...` rebuilds the column from them.
set -euo pipefail
cd "$(dirname "$0")/../.."
JOBS="${1:-16}"
snakemake results/cmnist/table1.csv results/cmnist/unimodal.csv --cores "$JOBS" --keep-going \
    --configfile config/real-mnist.yaml config/cmnist-column.yaml
for study in table1 unimodal; do
    greedy measured --study "$study"
done
