#!/usr/bin/env bash
# DOEI's effect, measured in resumable batches (issue 14): every setting on
# 3 pretrained backbones x 3 fine-tuning seeds, each paired with its own
# baseline; MCTformer-V2 on the demo set (where settings are chosen) and the
# held-out set (where they are reported), TS-CAM and TransCAM on the held-out
# set; DOEI in training and at CAM extraction only.
#
#   bash tools/analysis_tools/doei_effect.sh plan     # print every batch still to run, nothing else
#   bash tools/analysis_tools/doei_effect.sh          # run ONE batch of about BUDGET minutes (default 30)
#   bash tools/analysis_tools/doei_effect.sh all      # batches until nothing is left
#
# Each call runs the next unfinished step for at most BUDGET minutes and stops
# cleanly (a killed batch loses only its current run): call it again, on an
# idle machine, until it prints "nothing left". Work files go to
# work_dirs/doei_effect (checkpoints, CAM reports; OUT=DIR elsewhere), the CSV,
# summary and plots to projects/wsss_lab/results/doei_effect/ (DOCS=DIR) after every run; e.g.
# BUDGET=60 OUT=/scratch/effect bash tools/analysis_tools/doei_effect.sh.
# The first batch pretrains the
# three backbones (checkpoints/vit-6l128_procedural-64{,_seed1,_seed2}.pth,
# about 12 minutes each on 2 idle cores) as tools/pretrain.py --seed N does.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUDGET=${BUDGET:-30}
OUT=${OUT:-work_dirs/doei_effect}
DOCS=${DOCS:-projects/wsss_lab/results/doei_effect}
SEEDS="--pretrain-seeds 0 1 2 --seeds 0 1 2"
SWEEP="python tools/analysis_tools/doei_sweep.py"
MCT=configs/demo/mctformer-v2_vit-6l128-pre_synthetic-64.py
TSCAM=configs/demo/tscam_vit-6l128-pre_synthetic-64.py
TRANSCAM=configs/demo/transcam_conformer-6l128-pre_synthetic-128.py
# In order of importance: the paired base setting first (the README's claim),
# then the diagnostics (why), on the data the issue names.
STEPS=(
  "$MCT --grid base --mode train cam --dataset heldout demo"
  "$TSCAM --grid base --mode train cam --dataset heldout"
  "$TRANSCAM --grid base --mode train cam --dataset heldout"
  "$MCT --grid diagnostics --mode cam --dataset demo heldout"
  "$MCT --grid diagnostics --mode train --dataset demo heldout"
)
what=${1:-batch}
if [ "$what" = plan ]; then
  # Every step's plan in ONE interpreter: importing mmdoei is most of a plan's time (seconds per step).
  python - "$OUT" "$BUDGET" "$SEEDS" "${STEPS[@]}" <<'PLAN'
import runpy, shlex, sys
out, budget, seeds, steps = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
sweep = runpy.run_path('tools/analysis_tools/doei_sweep.py', run_name='doei_sweep')
for step in steps:
    sweep['main'](shlex.split(step) + shlex.split(seeds) + ['--out-dir', out, '--plan', '--budget-minutes', budget])
PLAN
  exit 0
fi
# The first step from index $1 on with runs left, as "INDEX [plan] N runs to do, ...", or nothing: the steps'
# plans in ONE interpreter, as for plan above (a batch used to start one per step: a minute when little was left).
next_step() {
  python - "$1" "$OUT" "$SEEDS" "${STEPS[@]}" <<'NEXT'
import contextlib, io, runpy, shlex, sys
start, out, seeds, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
sweep = runpy.run_path('tools/analysis_tools/doei_sweep.py', run_name='doei_sweep')
for index in range(start, len(steps)):
    plan = io.StringIO()
    with contextlib.redirect_stdout(plan):
        sweep['main'](shlex.split(steps[index]) + shlex.split(seeds) + ['--out-dir', out, '--plan'])
    first = plan.getvalue().splitlines()[0]
    if '] 0 runs to do' not in first:
        print(index, first)
        break
NEXT
}
start=0
previous=
while [ "$start" -lt "${#STEPS[@]}" ]; do
  next=$(next_step "$start")  # a plain assignment: under set -e a failing plan stops the script here
  [ -n "$next" ] || break
  if [ "$next" = "$previous" ]; then
    # `all` repeats a step its budget stopped; one whose plan does not shrink would repeat for ever
    echo "[doei_effect] no progress on: $next" >&2
    exit 1
  fi
  previous=$next
  index=${next%% *}
  step=${STEPS[$index]}
  echo "[doei_effect] $step: ${next#* }"
  # shellcheck disable=SC2086
  $SWEEP $step $SEEDS --out-dir "$OUT" --report-dir "$DOCS" --budget-minutes "$BUDGET"
  if [ "$what" != all ]; then exit 0; fi
  start=$index  # a step its budget stopped has runs left: `all` goes on with it, not with the next step
done
echo "[doei_effect] nothing left: $DOCS/{sweep.csv,summary.md,plots/}"
