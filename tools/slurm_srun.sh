#!/usr/bin/env bash
# What tools/slurm_train.sh and tools/slurm_test.sh share: srun one process per GPU.
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [GRES=gpu:GPUS_PER_NODE] [SRUN_ARGS=...] [PYTHON=python] \
#       tools/slurm_srun.sh PARTITION JOB_NAME TOOL [TOOL's arguments]
# GPUS processes in all, GPUS_PER_NODE on each node. On nodes without GPUs set GRES= (empty):
# srun then asks for no --gres and every process runs on the CPU with gloo.
# The master port is MASTER_PORT (default 29500).
set -x
PARTITION=$1
JOB_NAME=$2
TOOL=$3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
GRES=${GRES-gpu:${GPUS_PER_NODE}}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    ${GRES:+--gres="${GRES}"} \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "${PYTHON}" -u "$(dirname "$0")/${TOOL}" "${@:4}"
