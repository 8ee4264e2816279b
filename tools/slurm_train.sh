#!/usr/bin/env bash
# Training on a Slurm cluster:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [GRES=gpu:GPUS_PER_NODE] [SRUN_ARGS=...] [PYTHON=python] \
#       tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
# On nodes without GPUs: GRES= (empty), see tools/slurm_srun.sh.
exec bash "$(dirname "$0")/slurm_srun.sh" "$1" "$2" train.py "$3" --work-dir="$4" --launcher="slurm" "${@:5}"
