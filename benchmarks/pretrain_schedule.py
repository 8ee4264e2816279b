"""Pretraining schedules compared: time, top-1, and the baselines' seed mIoU after fine-tuning.

    python benchmarks/pretrain_schedule.py                      # both schedules, pretraining seed 0
    python benchmarks/pretrain_schedule.py --seeds 0 1 2 --seed-miou   # + MCTformer-V2 baseline seeds
    python benchmarks/pretrain_schedule.py --schedules current --seeds 0 --dry-run   # print the settings

Run it on an idle machine (it pretrains each schedule from scratch: about 12
minutes for ``current`` and 6 for ``short`` per seed on 2 cores, plus 2
minutes per fine-tuning with ``--seed-miou``). ``current`` is
configs/pretrain/vit-6l128_1xb64-15e_procedural-64.py as it is (10,000 images,
15 epochs, 5e-4, warm-up + cosine; 46.6-46.7 % top-1); ``short`` a faster
candidate (6,000 images, 12 epochs, 1e-3), which reached 29.4 % top-1 for
pretraining seed 0 on 2026-11-30. Both go through
:func:`mmdoei.apis.pretrain.pretrain_backbone`, the demo's path, into
work_dirs/bench_pretrain/ (their own data folders and checkpoints: the
demo's cache is not touched). Prints one table row per schedule: median and
range over seeds of the wall time (data generation included), the top-1 on
the procedural val split and, with ``--seed-miou``, the fine-tuned
MCTformer-V2 baseline's seed mIoU on the demo set (training seed 0).
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

from timing import env_line, table  # noqa: E402

import mmdoei  # noqa: E402,F401
from mmdoei.apis.pretrain import PRETRAIN_CONFIG, pretrain_backbone  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Overrides of the current config that give a shorter candidate schedule.
SHORT_MAX_EPOCHS = 12
SCHEDULES = {
    'current': dict(cfg_options={}, data_options={}),
    'short': dict(
        cfg_options={
            'train_cfg.max_epochs': SHORT_MAX_EPOCHS, 'train_cfg.val_interval': SHORT_MAX_EPOCHS,
            'default_hooks.checkpoint.interval': SHORT_MAX_EPOCHS,
            'optim_wrapper.optimizer.lr': 1e-3,
            'param_scheduler': [
                dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
                dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=SHORT_MAX_EPOCHS,
                     convert_to_iter_based=True)]},
        data_options=dict(num_train=60)),
}
DEMO_CONFIG = 'configs/demo/mctformer-v2_vit-6l128-pre_synthetic-64.py'


def top1(work_dir: Path) -> float:
    """The last val top-1 in the run's scalars json (mmengine's LocalVisBackend)."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    if not files:
        raise FileNotFoundError(f'no scalars.json under {work_dir}')
    values = [json.loads(line).get('accuracy/top1') for line in files[-1].read_text().splitlines()]
    values = [v for v in values if v is not None]
    if not values:
        raise ValueError(f'{files[-1]} has no accuracy/top1: did validation run?')
    return float(values[-1])


def seed_miou(checkpoint: str, out: Path) -> float:
    """Fine-tune the demo's MCTformer-V2 baseline from ``checkpoint`` (seed 0) and score its seeds."""
    from mmdoei.apis.pipeline import cams_and_seeds, stage1_cfg, train_stage1
    from mmdoei.apis.pretrain import use_pretrained
    from projects.wsss_lab.data import ensure_synthetic_voc
    data_root = ensure_synthetic_voc(str(ROOT / 'work_dirs' / 'bench_pretrain'), 400)
    cfg = stage1_cfg(str(ROOT / DEMO_CONFIG), str(out), seed=0, data_root=str(data_root), doei=None)
    use_pretrained(cfg, checkpoint)
    cfg.log_level = 'WARNING'
    ckpt = train_stage1(cfg, 'bench_baseline')
    return float(cams_and_seeds(cfg, str(ckpt), str(out / 'cams'), keep_cams=False)['mIoU'])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--schedules', nargs='+', choices=sorted(SCHEDULES), default=['current', 'short'])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0], help='pretraining seeds')
    parser.add_argument('--seed-miou', action='store_true', help='also fine-tune the MCTformer-V2 baseline')
    parser.add_argument('--dry-run', action='store_true', help='print the settings, run nothing')
    args = parser.parse_args()
    bench = ROOT / 'work_dirs' / 'bench_pretrain'
    results = {}
    for name in args.schedules:
        for seed in args.seeds:
            tag = f'{name}_seed{seed}'
            if args.dry_run:
                print(f'{tag}: {SCHEDULES[name]}')
                continue
            t0 = time.time()
            ckpt = pretrain_backbone(str(ROOT / PRETRAIN_CONFIG), str(bench / f'{tag}.pth'),
                                     data_root=str(bench / f'procedural_{name}_seed{seed}'),
                                     work_dir=str(bench / tag), seed=seed, **SCHEDULES[name])
            entry = dict(seconds=time.time() - t0, top1=top1(bench / tag))
            if args.seed_miou:
                entry['mIoU'] = seed_miou(ckpt, bench / f'{tag}_finetune')
            results.setdefault(name, []).append(entry)
            print(f'[bench] {tag}: {entry}', flush=True)
    if args.dry_run:
        return

    def cell(values, fmt):
        return f'{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})'

    rows = []
    for name, entries in results.items():
        row = [name, str(len(entries)), cell([e['seconds'] / 60 for e in entries], '{:.1f}'),
               cell([e['top1'] for e in entries], '{:.1f}')]
        if args.seed_miou:
            row.append(cell([e['mIoU'] for e in entries], '{:.1f}'))
        rows.append(row)
    header = ['schedule', 'seeds', 'minutes (median, range)', 'top-1 %'] + (
        ['baseline seed mIoU'] if args.seed_miou else [])
    print(f'\n{env_line()}; a shared machine makes the minutes longer, not the accuracies different\n')
    print(table(rows, header))


if __name__ == '__main__':
    main()
