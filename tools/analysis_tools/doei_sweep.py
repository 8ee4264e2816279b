"""Sweep DOEI's parameters on a stage-1 config: CSV of every run, plots, markdown summary.

    # the reduced grid on the demo data (DOEI at CAM extraction on each seed's baseline)
    python tools/analysis_tools/doei_sweep.py configs/demo/mctformer-v2_vit-6l128-pre_synthetic-64.py \\
        --grid reduced --mode cam --seeds 0 1 2
    # the full grid, DOEI in training and CAM extraction (one training per point and seed)
    python tools/analysis_tools/doei_sweep.py CONFIG --grid full --mode train --seeds 0 1 2
    # one setting against the baseline over 5 seeds
    python tools/analysis_tools/doei_sweep.py CONFIG --grid base --mode train --seeds 0 1 2 3 4 \\
        --base sf_p2c=0.0 sf_c2c=0.0

CONFIG is a baseline config with ``cam_dataloader`` and ``cam_eval`` (the demo
configs, or a VOC config with --data-root). Without --data-root the demo's
synthetic set is written (if missing) to OUT/data and used. Runs are kept
under OUT (checkpoints, seed reports); a rerun skips every finished run, so an
interrupted sweep continues. Writes OUT/sweep.csv (one row per run and seed),
OUT/sweep_<mode>.png (figure-4 style) and OUT/summary.md, each atomically,
after every run.
"""
import argparse
import json
import os.path as osp
import sys
import time
from pathlib import Path

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

from mmengine.config import Config, DictAction  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

import mmdoei  # noqa: E402,F401  registers the models
from mmdoei.analysis import GRIDS, expand_grid, plot_sweep, read_rows, rows_to_csv, summary_markdown  # noqa: E402
from mmdoei.apis.experiment import (cams_and_seeds, ensure_synthetic_voc, stage1_cfg, train_seconds,  # noqa: E402
                                    train_stage1)
from mmdoei.apis.pretrain import (PRETRAINED_CHECKPOINT, resolve_pretrained, use_pretrained,  # noqa: E402
                                  uses_pretrained)
from mmdoei.doei import DOEIConfig  # noqa: E402
from mmdoei.utils import atomic_write  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the baseline stage-1 config')
    parser.add_argument('--grid', choices=sorted(GRIDS), default='reduced')
    parser.add_argument('--axis', action='append', metavar='PARAM=V1,V2,...',
                        help='a custom axis instead of --grid (repeatable), e.g. --axis sf=-0.1,0 --axis layers=2,all')
    parser.add_argument('--mode', choices=['cam', 'train'], nargs='+', default=['cam'],
                        help='cam: DOEI at CAM extraction on the baseline checkpoint; '
                        'train: DOEI in training and extraction (both may be given)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--base', nargs='+', action=DictAction, default={},
                        help='the base DOEI setting every axis varies around (DOEIConfig keys; '
                        'default: the DOEIConfig defaults)')
    parser.add_argument('--out-dir', help='default: work_dirs/doei_sweep/<config name>')
    parser.add_argument('--data-root', help='a VOC-layout folder (default: the demo synthetic set in OUT/data)')
    parser.add_argument('--num-train', type=int, default=400, help='size of the synthetic set when it is written')
    parser.add_argument('--epochs', type=int, help="training epochs (default: the config's)")
    parser.add_argument('--pretrained', help='the pretrained backbone for configs that use the cached one '
                        f'({PRETRAINED_CHECKPOINT}; pretrained first if missing)')
    parser.add_argument('--keep-cams', action='store_true', help='keep the CAM files of every run')
    parser.add_argument('--verbose', action='store_true', help="keep mmengine's INFO logs of every run")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides for every run')
    return parser.parse_args(argv)


def _value(text: str):
    if text in ('all', 'None'):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_axes(axes) -> dict:
    """``['sf=-0.1,0', 'layers=2,all']`` -> ``{'sf': [-0.1, 0], 'layers': [2, None]}``."""
    grid = {}
    for axis in axes:
        if '=' not in axis:
            raise ValueError(f'--axis wants PARAM=V1,V2,..., got {axis!r}')
        param, values = axis.split('=', 1)
        grid[param] = [_value(v) for v in values.split(',') if v]
    return grid


def main(argv=None) -> Path:
    args = parse_args(argv)
    name = osp.splitext(osp.basename(args.config))[0]
    out = Path(args.out_dir or osp.join('work_dirs', 'doei_sweep', name))
    out.mkdir(parents=True, exist_ok=True)
    # expand_grid validates every setting before any training starts
    runs = expand_grid(parse_axes(args.axis) if args.axis else GRIDS[args.grid], dict(args.base or {}))
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.pop('doei', None)
    if not args.verbose:  # hundreds of runs: keep the sweep's own progress lines readable
        cfg.log_level = 'WARNING'
    if uses_pretrained(cfg):
        use_pretrained(cfg, resolve_pretrained(args.pretrained, str(ROOT)))
    data_root = args.data_root or str(ensure_synthetic_voc(str(out), args.num_train))

    csv_path = out / 'sweep.csv'
    rows = read_rows(csv_path.read_text()) if csv_path.exists() else []
    done = {(r['mode'], r['run'], r['seed']) for r in rows}
    todo = [(mode, seed, run) for mode in args.mode for seed in args.seeds for run in runs
            if (mode, run['run'], seed) not in done]
    print(f'[sweep] {len(runs)} settings x {len(args.seeds)} seeds x {len(args.mode)} mode(s): '
          f'{len(todo)} runs to do, {len(done)} done; output in {out}')
    t_start = time.time()
    for i, (mode, seed, run) in enumerate(todo):
        t0 = time.time()
        if mode == 'cam' or run['doei'] is None:
            # The baseline checkpoint of a seed serves both modes' baseline rows and every 'cam' run.
            base_cfg = stage1_cfg(cfg, out / 'train' / f'seed{seed}' / 'baseline', seed=seed, epochs=args.epochs,
                                  data_root=data_root, doei=None)
            ckpt = train_stage1(base_cfg, f'seed{seed}_baseline')
            run_cfg = stage1_cfg(base_cfg, base_cfg.work_dir, seed=seed, doei=run['doei'])
        else:
            run_cfg = stage1_cfg(cfg, out / 'train' / f'seed{seed}' / run['run'], seed=seed, epochs=args.epochs,
                                 data_root=data_root, doei=run['doei'])
            ckpt = train_stage1(run_cfg, f'seed{seed}_{run["run"]}')
        cam_dir = out / mode / f'seed{seed}' / run['run'] / 'cams'
        report = cams_and_seeds(run_cfg, str(ckpt), str(cam_dir), keep_cams=args.keep_cams,
                                name=f'{mode}_seed{seed}_{run["run"]}')
        rows.append(dict(run=run['run'], mode=mode, param=run['param'], value=run['value'], seed=seed,
                         doei=resolved(run['doei']), mIoU=report['mIoU'], FP=report['FP'],
                         FN=report['FN'], best_threshold=report['best_threshold'],
                         seconds=round(time.time() - t0 + (train_seconds(ckpt) if mode == 'train' else 0), 1)))
        write_outputs(out, rows)
        elapsed = time.time() - t_start
        print(f'\n[sweep] {i + 1}/{len(todo)} {mode} seed {seed} {run["run"]}: mIoU {report["mIoU"]:.1f} '
              f'FP {report["FP"]:.1f} FN {report["FN"]:.1f}  ({elapsed:.0f} s, '
              f'~{elapsed / (i + 1) * (len(todo) - i - 1):.0f} s left)', flush=True)
    if rows and not todo:  # nothing ran: refresh the outputs (after a run they are current)
        write_outputs(out, rows)
    if rows:
        print(f'[sweep] done: {out / "sweep.csv"}, {out / "summary.md"}')
    return out


def resolved(doei) -> str:
    """Every DOEI setting of a run, resolved against today's DOEIConfig defaults
    (so a CSV row keeps its meaning when the defaults change); 'null' for the baseline."""
    return json.dumps(None if doei is None else DOEIConfig.from_dict(doei).to_dict(), sort_keys=True)


def write_outputs(out: Path, rows: list) -> None:
    """The CSV, one plot per mode and the summary, each replaced atomically."""
    with atomic_write(out / 'sweep.csv', 'w') as f:
        f.write(rows_to_csv(rows))
    for mode in dict.fromkeys(r['mode'] for r in rows):
        png = plot_sweep(rows, mode)
        with atomic_write(out / f'sweep_{mode}.png') as f:
            f.write(png)
    with atomic_write(out / 'summary.md', 'w') as f:
        f.write(summary_markdown(rows, title=f'DOEI sweep: {out.name}'))


if __name__ == '__main__':
    main()
