"""Sweep DOEI's parameters on a stage-1 config: CSV of every run, plots, markdown summary.

    # the reduced grid on the demo data (DOEI at CAM extraction on each seed's baseline)
    python tools/analysis_tools/doei_sweep.py configs/demo/mctformer-v2_vit-6l128-pre_synthetic-64.py \\
        --grid reduced --mode cam --seeds 0 1 2
    # the full grid, DOEI in training and CAM extraction (one training per point and seed)
    python tools/analysis_tools/doei_sweep.py CONFIG --grid full --mode train --seeds 0 1 2
    # one setting against the baseline over 5 seeds
    python tools/analysis_tools/doei_sweep.py CONFIG --grid base --mode train --seeds 0 1 2 3 4 \\
        --base sf_p2c=0.0 sf_c2c=0.0
    # DOEI's effect: 3 pretrained backbones x 3 fine-tuning seeds, on the demo set and the held-out one,
    # in 30-minute batches (rerun the same command until nothing is left; --plan prints the batches)
    python tools/analysis_tools/doei_sweep.py CONFIG --grid base --mode train cam --pretrain-seeds 0 1 2 \\
        --seeds 0 1 2 --dataset demo heldout --out-dir work_dirs/doei_effect \\
        --report-dir projects/wsss_lab/results/doei_effect \\
        --budget-minutes 30

CONFIG is a baseline config with ``cam_dataloader`` and ``cam_eval`` (the demo
configs, or a VOC config with --data-root). Without --data-root the synthetic
sets of ``--dataset`` are written (if missing) under OUT (the demo's in
OUT/data, the held-out one in OUT/data-heldout). ``--pretrain-seeds`` pretrains
each backbone once, as ``tools/pretrain.py --seed N`` does. Every row is
paired with the baseline of the same model, data set, mode, backbone and seed.

Runs are kept under OUT (checkpoints, seed reports); a rerun skips every
finished run, so an interrupted or budgeted sweep continues, and several
configs may share one OUT (the CSV has a model column). OUT is a step
(:mod:`mmdoei.apis.steps`, kind ``doei_sweep``): its record
(OUT/.mmdoei-record.json, written before any run) holds what decides the
rows' numbers, per model (the config's values after --cfg-options, --epochs,
each backbone: the --pretrained file's sha256 or the pretraining stamp of
--pretrain-seeds N) and per data set (the synthetic style and --num-train,
or --data-root), and mmdoei's version. A rerun whose settings differ from the
record's for a model or data set it shares, into OUT holding rows, is refused
before anything runs, naming OUT and the differing fields; so is an OUT with
a sweep.csv but no record (an older sweep), and a row whose stored resolved
``doei`` is not what its run name resolves to today. --overwrite then deletes
the sweep's outputs (or redoes those rows) and starts again; --plan only
reads, and notes such a refusal. Writes OUT/sweep.csv
(one row per run: model, data set, both seeds, settings, mIoU / FP / FN,
per-class IoU), then, recomputed from the CSV alone, OUT/summary.md (per-seed
means and the paired table: mean difference, 95 % intervals, pairs won, the
share of the spread due to pretraining), OUT/sweep_<mode>.png (figure-4
style) and OUT/plots/ (paired forest plot, FP / FN against K, per-class IoU
change), each atomically, after every run.
"""
import argparse
import json
import os.path as osp
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Tuple

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

ROOT = Path(__file__).resolve().parents[2]

# Run as a script, the tool parses its arguments before it imports mmengine and mmdoei (--help
# answers at once); imported as a module (the tests), it imports them at once (import_mmdoei).
# Two values the parser shows, spelled here; main() checks them against the sweep's and mmdoei's.
GRID_NAMES = ('base', 'diagnostics', 'full', 'reduced')  # sorted(projects.wsss_lab.sweep.GRIDS)
PRETRAINED_CHECKPOINT = 'checkpoints/vit-6l128_procedural-64.pth'  # mmdoei.apis.pretrain's
OVERWRITE_HINT = ('rerun with --overwrite (it deletes sweep.csv, summary.md and the plots; the runs\' training '
                  'folders stay and are checked on their own), or pass another --out-dir')


class DictAction(argparse.Action):
    """mmengine's ``DictAction`` (``--cfg-options a.b=1``), imported only when the option is given."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction as MMEngineDictAction
        MMEngineDictAction(self.option_strings, self.dest)(parser, namespace, values, option_string)


def import_mmdoei() -> None:
    """Import mmengine, mmdoei and the names this tool uses into its globals (seconds; after --help)."""
    global Config, GRIDS, expand_grid, k_curve, paired_summary, plot_class_iou, plot_k, plot_paired, plot_sweep
    global read_rows, rows_to_csv, summary_markdown, cams_and_seeds, ensure_synthetic_voc, stage1_cfg
    global train_seconds, train_stage1, resolve_pretrained, use_pretrained, uses_pretrained, DOEIConfig, SCENES
    global cooccurring_classes, atomic_write, SWEEP, Step, input_sha256, config_values, folder_lock, pretrain_cfg
    global pretrain_stamp, PRETRAIN_CONFIG, MMDOEI_VERSION, RECORD_FILE, read_record, write_record, outputs_of
    global OutputRecord, KINDS, outputs_text, differences_text
    from mmengine.config import Config

    import mmdoei  # noqa: F401  registers the models
    from mmdoei.apis import pretrain
    from mmdoei.apis.pipeline import cams_and_seeds, stage1_cfg, train_seconds, train_stage1
    from mmdoei.apis.pretrain import (PRETRAIN_CONFIG, pretrain_cfg, pretrain_stamp, resolve_pretrained, use_pretrained,
                                      uses_pretrained)
    from mmdoei.apis.steps import Step, config_values, input_sha256, register_step_kind
    from mmdoei.doei import DOEIConfig
    from mmdoei.utils import atomic_write
    from mmdoei.utils.locks import folder_lock
    from mmdoei.utils.record import (KINDS, RECORD_FILE, OutputRecord, differences_text, outputs_of, outputs_text,
                                     read_record, write_record)
    from mmdoei.version import __version__ as MMDOEI_VERSION
    from projects.wsss_lab.data import ensure_synthetic_voc
    from projects.wsss_lab.sweep import (GRIDS, expand_grid, k_curve, paired_summary, plot_class_iou, plot_k,
                                         plot_paired, plot_sweep, read_rows, rows_to_csv, summary_markdown)
    from projects.wsss_lab.synthetic import SCENES, cooccurring_classes

    # The sweep folder as a step: these outputs are what --overwrite deletes (the data sets and the runs'
    # training and CAM folders under it are steps of their own and check themselves).
    SWEEP = register_step_kind('doei_sweep', 'DOEI sweep folder', files=('sweep.csv', 'summary.md', 'sweep_*.png'),
                               dirs=('plots', ), overwrite_hint=OVERWRITE_HINT)
    if tuple(sorted(GRIDS)) != GRID_NAMES or pretrain.PRETRAINED_CHECKPOINT != PRETRAINED_CHECKPOINT:
        raise RuntimeError(f'{__file__}: GRID_NAMES / PRETRAINED_CHECKPOINT differ from the sweep\'s and mmdoei\'s '
                           f'({sorted(GRIDS)}, {pretrain.PRETRAINED_CHECKPOINT}): update them')


if __name__ != '__main__':
    import_mmdoei()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='the baseline stage-1 config')
    parser.add_argument('--grid', choices=GRID_NAMES, default='reduced')
    parser.add_argument('--axis', action='append', metavar='PARAM=V1,V2,...',
                        help='a custom axis instead of --grid (repeatable), e.g. --axis sf=-0.1,0 --axis layers=2,all')
    parser.add_argument('--mode', choices=['cam', 'train'], nargs='+', default=['cam'],
                        help='cam: DOEI at CAM extraction on the baseline checkpoint; '
                        'train: DOEI in training and extraction (both may be given)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2], help='fine-tuning seeds')
    parser.add_argument('--pretrain-seeds', type=int, nargs='+',
                        help='pretrained backbones: each seed\'s is pretrained once as tools/pretrain.py --seed N '
                        'does (cached in checkpoints/) and every setting and fine-tuning seed runs on each '
                        '(default: the demo\'s backbone, seed 0, or --pretrained)')
    parser.add_argument('--dataset', nargs='+', default=['demo'],
                        help='demo: the demo\'s synthetic set; heldout: the held-out one (another style, '
                        'projects.wsss_lab.synthetic.HELDOUT_CHANGES), both written under OUT; with --data-root: '
                        'one name, the label of that folder\'s rows')
    parser.add_argument('--base', nargs='+', action=DictAction, default={},
                        help='the base DOEI setting every axis varies around (DOEIConfig keys; '
                        'default: the DOEIConfig defaults)')
    parser.add_argument('--out-dir', help='default: work_dirs/doei_sweep/<config name>')
    parser.add_argument('--data-root', help='a VOC-layout folder (default: the synthetic set(s) of --dataset)')
    parser.add_argument('--num-train', type=int, default=400, help='size of the synthetic set when it is written')
    parser.add_argument('--epochs', type=int, help="training epochs (default: the config's)")
    parser.add_argument('--pretrained', help='the pretrained backbone for configs that use the cached one '
                        f'({PRETRAINED_CHECKPOINT}; pretrained first if missing)')
    parser.add_argument('--overwrite', action='store_true',
                        help='start OUT afresh when its record holds other settings (deleting sweep.csv, summary.md '
                        'and the plots), redo rows whose DOEI setting changed meaning, and retrain a run whose '
                        'training folder holds a training of other settings (default: stop and name what differs)')
    parser.add_argument('--keep-cams', action='store_true', help='keep the CAM files of every run')
    parser.add_argument('--plan', action='store_true', help='print the runs still to do and their batches; run nothing')
    parser.add_argument('--budget-minutes', type=float,
                        help='start no run after this many minutes (a batch); the same command continues')
    parser.add_argument('--report-dir', help='also write sweep.csv, summary.md and the plots here '
                        '(e.g. projects/wsss_lab/results/...)')
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


def dataset_roots(args) -> dict:
    """``{name: data_root or None}``: None means the named synthetic style,
    written under OUT/data-<name> when first needed. Checked up front."""
    if args.data_root:
        if len(args.dataset) != 1:
            raise ValueError('--data-root takes one --dataset name (the label its rows get in the CSV)')
        if not osp.isdir(args.data_root):
            raise FileNotFoundError(f'--data-root {args.data_root}: no such folder')
        return {args.dataset[0]: args.data_root}
    unknown = [d for d in args.dataset if d not in SCENES]
    if unknown:
        raise ValueError(f'--dataset {unknown[0]!r}: without --data-root the data sets are {sorted(SCENES)}')
    return {d: None for d in args.dataset}


def plan_runs(args, runs: list, model: str, done: set) -> list:
    """Every (dataset, pretrain seed, seed, mode, run) not yet in the CSV, in
    the order they are run: per data set and backbone, per seed its baseline
    first (every 'cam' run and both modes' baseline rows reuse it)."""
    todo = []
    for dataset in args.dataset:
        for pseed in args.pretrain_seeds:
            for seed in args.seeds:
                for mode in args.mode:
                    for run in runs:
                        if (model, dataset, pseed, mode, run['run'], seed) not in done:
                            todo.append(dict(model=model, dataset=dataset, pretrain_seed=pseed, seed=seed,
                                             mode=mode, run=run))
    return todo


def estimate_seconds(spec: dict, rows: list) -> float:
    """A run's expected duration: the mean of finished runs of its model and
    mode in the CSV, else 2 minutes per fine-tuning and 20 s per CAM extraction
    (this machine, demo configs)."""
    same = [r['seconds'] for r in rows if r['model'] == spec['model'] and r['mode'] == spec['mode']
            and r['run'] != 'baseline' and r['seconds'] == r['seconds']]
    if same:
        return sum(same) / len(same)
    return 20.0 if spec['mode'] == 'cam' else 120.0


def print_plan(todo: list, rows: list, budget_minutes: float = None) -> None:
    """The runs still to do, their estimated time, and the batches a budget cuts them into."""
    total = sum(estimate_seconds(t, rows) for t in todo)
    print(f'[plan] {len(todo)} runs to do, about {total / 60:.0f} minutes')
    batch, acc = 1, 0.0
    for t in todo:
        sec = estimate_seconds(t, rows)
        if budget_minutes and acc and acc + sec > budget_minutes * 60:
            batch, acc = batch + 1, 0.0
        acc += sec
        print(f"[plan] batch {batch}: {t['model']} {t['dataset']} pretrain seed {t['pretrain_seed']} "
              f"seed {t['seed']} {t['mode']} {t['run']['run']} (~{sec:.0f} s)")


class RealRunner:
    """Trains and extracts for one planned run (the stage-1 unit of :mod:`mmdoei.apis.pipeline`).

    Backbones and data sets are made when a run first needs them, by the same
    functions as tools/pretrain.py and the demo, and cached.
    """

    def __init__(self, args, cfg, out: Path, roots: dict):
        self.args, self.cfg, self.out, self.roots = args, cfg, out, roots
        self.backbones, self.data = {}, {}

    def data_root(self, dataset: str) -> str:
        if self.roots[dataset]:
            return self.roots[dataset]
        if dataset not in self.data:
            # the demo set where the sweep always wrote it, so an older sweep folder keeps its data
            folder = self.out if dataset == 'demo' else self.out / f'data-{dataset}'
            self.data[dataset] = str(ensure_synthetic_voc(str(folder), self.args.num_train, style=dataset,
                                                          overwrite=self.args.overwrite))
        return self.data[dataset]

    def config(self, pseed: int):
        cfg = self.cfg
        if uses_pretrained(cfg):
            if pseed not in self.backbones:
                self.backbones[pseed] = resolve_pretrained(self.args.pretrained, str(ROOT), seed=max(pseed, 0))
            cfg = stage1_cfg(cfg, cfg.get('work_dir') or 'unused')
            use_pretrained(cfg, self.backbones[pseed])
        return cfg

    def __call__(self, spec: dict) -> dict:
        args, run, seed, mode = self.args, spec['run'], spec['seed'], spec['mode']
        cfg, data_root = self.config(spec['pretrain_seed']), self.data_root(spec['dataset'])
        work = self.out / spec['model'] / spec['dataset'] / f"pretrain{spec['pretrain_seed']}"
        t0 = time.time()
        if mode == 'cam' or run['doei'] is None:
            # The baseline checkpoint of a seed serves both modes' baseline rows and every 'cam' run.
            base_cfg = stage1_cfg(cfg, work / 'train' / f'seed{seed}' / 'baseline', seed=seed, epochs=args.epochs,
                                  data_root=data_root, doei=None)
            ckpt = train_stage1(base_cfg, f'seed{seed}_baseline', overwrite=args.overwrite)
            run_cfg = stage1_cfg(base_cfg, base_cfg.work_dir, seed=seed, doei=run['doei'])
        else:
            run_cfg = stage1_cfg(cfg, work / 'train' / f'seed{seed}' / run['run'], seed=seed, epochs=args.epochs,
                                 data_root=data_root, doei=run['doei'])
            ckpt = train_stage1(run_cfg, f'seed{seed}_{run["run"]}', overwrite=args.overwrite)
        cam_dir = work / mode / f'seed{seed}' / run['run'] / 'cams'
        report = cams_and_seeds(run_cfg, str(ckpt), str(cam_dir), keep_cams=args.keep_cams,
                                name=f'{mode}_seed{seed}_{run["run"]}')
        return dict(mIoU=report['mIoU'], FP=report['FP'], FN=report['FN'], best_threshold=report['best_threshold'],
                    class_iou={c: v['IoU'] for c, v in report.get('per_class', {}).items()},
                    seconds=round(time.time() - t0 + (train_seconds(ckpt) if mode == 'train' else 0), 1))


def sweep_lock(out: Path):
    """One sweep process per output folder: two would both rewrite sweep.csv (the folder's lock,
    :func:`mmdoei.utils.locks.folder_lock`: a killed sweep leaves none behind)."""
    return folder_lock(out, 'DOEI sweep folder')


def sweep_fields(args, cfg, model: str, roots: dict) -> Tuple[dict, dict]:
    """What decides every number of this invocation's rows: ``(fields, notes)`` of the sweep folder's record.

    Entries per model (``model NAME``: the config's values after --cfg-options and --epochs; ``backbones
    NAME``: each pretrain seed's backbone, the --pretrained file's sha256 or the pretraining config's stamp
    for seed N) and per data set (``data NAME``: the synthetic style and --num-train, or the --data-root
    folder), beside mmdoei's version: several configs, data sets and backbones may share one folder
    (doei_effect.sh), each adding its entries; an entry already there must be the same. The notes keep the
    --pretrained path beside its hash.
    """
    backbones, notes = {}, {}
    if uses_pretrained(cfg):
        for pseed in args.pretrain_seeds:
            if pseed < 0:
                backbones['--pretrained'] = input_sha256(args.pretrained)
                notes[f'backbones {model}'] = {'--pretrained': str(args.pretrained)}
            else:  # made (or remade) by resolve_pretrained from the pretraining config: its stamp names the weights
                stamp = pretrain_stamp(pretrain_cfg(str(ROOT / PRETRAIN_CONFIG), pseed))
                backbones[f'pretrain seed {pseed}'] = f'pretrain_stamp {stamp}'
    fields = {'code': MMDOEI_VERSION, f'model {model}': dict(config=config_values(cfg), epochs=args.epochs),
              f'backbones {model}': backbones}
    for name, root in roots.items():
        fields[f'data {name}'] = dict(data_root=osp.abspath(root)) if root else \
            dict(style=name, num_train=args.num_train)
    return fields, notes


def _shared(old: dict, new: dict) -> Tuple[dict, dict]:
    """``old`` and ``new`` fields restricted to the entries (and backbones) both hold: what must agree."""
    a, b = {}, {}
    for key in set(old) & set(new):
        o, n = old[key], new[key]
        if key.startswith('backbones ') and isinstance(o, dict):
            both = set(o) & set(n)
            o, n = {s: o[s] for s in both}, {s: n[s] for s in both}
        a[key], b[key] = o, n
    return a, b


def _extended(old: dict, new: dict) -> dict:
    """``old`` fields with ``new``'s models, data sets and backbones added."""
    out = dict(old)
    for key, n in new.items():
        out[key] = {**n, **out[key]} if key.startswith('backbones ') and key in out else out.get(key, n)
    return out


def _doei_of(row: dict):
    """A row's stored resolved DOEI setting (``'(not recorded)'`` for a CSV without one)."""
    try:
        return json.loads(row.get('doei') or '')
    except ValueError:
        return '(not recorded)'


def stale_rows(rows: list, specs: list) -> list:
    """``(row, today's setting)`` for every row of ``specs``' keys whose stored resolved ``doei`` is not what
    its run name resolves to today (the DOEI defaults changed): such a row is not done."""
    today = {(s['model'], s['dataset'], s['pretrain_seed'], s['mode'], s['run']['run'], s['seed']):
             json.loads(resolved(s['run']['doei'])) for s in specs}
    out = []
    for r in rows:
        key = (r['model'], r['dataset'], r['pretrain_seed'], r['mode'], r['run'], r['seed'])
        if key in today and _doei_of(r) != today[key]:
            out.append((r, today[key]))
    return out


def sweep_refusal(out: Path, fields: dict, notes: dict, stale: list) -> Optional[str]:
    """Why ``out`` may not be continued with these ``fields`` (None: it may): outputs without a sweep
    record, a record of other settings for an entry this run shares, or rows whose DOEI setting changed
    meaning. Reads only (``--plan`` shows it)."""
    what, hint = KINDS[SWEEP].what, f'Nothing was reused or changed: {OVERWRITE_HINT}.'
    old = read_record(out)
    outputs = outputs_of(out, SWEEP)
    if old is not None and old.kind != SWEEP:
        return (f'{what} {out} holds the record of a {KINDS[old.kind].what} ({out / RECORD_FILE}), '
                'not of a sweep: pass another --out-dir')
    if old is None:
        if not outputs:
            return None
        return (f'{what} {out} holds outputs ({outputs_text(out, outputs)}) but no record ({RECORD_FILE}) of the '
                'settings that made its rows (a sweep of an older mmdoei, or files put there by hand): they cannot '
                f'be trusted to match this run. {hint}')
    diffs = _differences(old, fields, notes)
    if diffs and outputs:
        return f'{what} {out} holds rows made with other settings (old -> new):{differences_text(diffs)}\n{hint}'
    if stale:
        lines = [f"run {r['run']!r} ({r['model']} {r['dataset']} pretrain seed {r['pretrain_seed']} {r['mode']} "
                 f"seed {r['seed']}): DOEI {r.get('doei')} in the CSV, {resolved_text(now)} today"
                 for r, now in stale]
        return (f'{what} {out} holds rows whose DOEI setting its run name no longer resolves to (the DOEI '
                'defaults changed), so they are not done:' + differences_text(lines) +
                '\nNothing was reused or changed: rerun with --overwrite to redo these rows, or pass another '
                '--out-dir.')
    return None


def claim_sweep(out: Path, fields: dict, notes: dict, specs: list, overwrite: bool = False) -> list:
    """Make ``out`` this sweep's folder before any run (the caller holds its lock); returns the CSV's rows
    that are done.

    A folder without outputs, or whose record agrees on every entry this run shares, is continued (its
    record extended by this run's new models, data sets and backbones); otherwise refused
    (:func:`sweep_refusal`) unless ``overwrite``: then the sweep's outputs are deleted (record first, as
    :func:`mmdoei.utils.record.claim` does), or only the rows whose DOEI setting changed meaning dropped.

    Raises:
        ValueError: the refusal, naming the folder, what differs and how to overwrite.
    """
    csv_path = out / 'sweep.csv'
    rows = read_rows(csv_path.read_text()) if csv_path.exists() else []
    stale = stale_rows(rows, specs)
    why = sweep_refusal(out, fields, notes, stale)
    step = Step(SWEEP, out, fields, notes)
    old = step.previous()
    if why and (not overwrite or (old is not None and old.kind != SWEEP)):
        raise ValueError(why)  # --overwrite never deletes the outputs of another kind of step
    if old is None or _differences(old, fields, notes):  # nothing of another record's may be kept
        if outputs_of(out, SWEEP):  # only with --overwrite: refused above otherwise
            print(f'[sweep] --overwrite: deleting the outputs of {out} and starting again', flush=True)
            step.reset()
        rows = []
    else:
        if stale:  # only with --overwrite
            print(f'[sweep] --overwrite: redoing {len(stale)} rows whose DOEI setting changed meaning', flush=True)
            gone = {id(r) for r, _ in stale}
            rows = [r for r in rows if id(r) not in gone]
        step.record.fields = _extended(old.fields, fields)
        step.record.notes = {**old.notes, **notes}
    write_record(out, step.record)  # before any run: a killed sweep's rows are known to be these settings'
    return rows


def _differences(old, fields: dict, notes: dict) -> list:
    """``field: old -> new`` of the entries an old record and this run's fields share."""
    a, b = _shared(old.fields, fields)
    return OutputRecord(SWEEP, a, old.notes).differences(OutputRecord(SWEEP, b, notes))


def resolved_text(doei) -> str:
    """A resolved DOEI setting as the CSV spells it."""
    return json.dumps(doei, sort_keys=True)


def main(argv=None, run_one: Optional[Callable[[dict], dict]] = None) -> Path:
    """Run (or plan) the sweep; ``run_one`` replaces the real runs (tests)."""
    args = parse_args(argv)
    import_mmdoei()  # cached modules when imported as a module already
    if args.pretrain_seeds is None:
        args.pretrain_seeds = [-1 if args.pretrained else 0]
    elif args.pretrained:
        raise ValueError('--pretrain-seeds pretrains its own backbones; it cannot be combined with --pretrained')
    elif min(args.pretrain_seeds) < 0:
        raise ValueError(f'--pretrain-seeds must be >= 0, got {args.pretrain_seeds}')
    name = osp.splitext(osp.basename(args.config))[0]
    out = Path(args.out_dir or osp.join('work_dirs', 'doei_sweep', name))
    # expand_grid validates every setting before any training starts
    runs = expand_grid(parse_axes(args.axis) if args.axis else GRIDS[args.grid], dict(args.base or {}))
    roots = dataset_roots(args)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.model.pop('doei', None)
    if not args.verbose:  # hundreds of runs: keep the sweep's own progress lines readable
        cfg.log_level = 'WARNING'

    if args.pretrained and not osp.isfile(args.pretrained):
        raise FileNotFoundError(f'--pretrained {args.pretrained}: no such checkpoint')
    fields, notes = sweep_fields(args, cfg, name, roots)
    specs = plan_runs(args, runs, name, set())  # every run of this invocation, done or not

    def plan_of(rows: list) -> Tuple[set, list]:
        done = {(r['model'], r['dataset'], r['pretrain_seed'], r['mode'], r['run'], r['seed']) for r in rows}
        return done, plan_runs(args, runs, name, done)

    if args.plan:  # reads only: says what a run would refuse, but refuses nothing
        csv_path = out / 'sweep.csv'
        rows = read_rows(csv_path.read_text()) if csv_path.exists() else []
        why = sweep_refusal(out, fields, notes, stale_rows(rows, specs)) if out.is_dir() else None
        print_plan(plan_of(rows)[1], rows, args.budget_minutes)
        if why:
            print('[plan] note: running this would be refused: ' + why.replace('\n', '\n[plan]   '))
        return out
    out.mkdir(parents=True, exist_ok=True)
    with sweep_lock(out):
        # the settings are checked against the folder's record before any run (or data set, or backbone)
        rows = claim_sweep(out, fields, notes, specs, overwrite=args.overwrite)
        done, todo = plan_of(rows)
        depths = known_depths(rows, name, cfg)
        run_one = run_one or RealRunner(args, cfg, out, roots)
        print(f'[sweep] {len(runs)} settings x {len(args.seeds)} seeds x {len(args.pretrain_seeds)} backbones x '
              f'{len(args.dataset)} data set(s) x {len(args.mode)} mode(s): {len(todo)} runs to do, '
              f'{len(done)} done; output in {out}')
        t_start = last_plots = time.time()
        for i, spec in enumerate(todo):
            elapsed = time.time() - t_start
            if i and args.budget_minutes and elapsed > args.budget_minutes * 60:  # a batch always runs one
                print(f'[sweep] budget of {args.budget_minutes:g} minutes reached: {len(todo) - i} runs left; '
                      'the same command continues', flush=True)
                write_outputs(out, rows, args.report_dir, depths)
                break
            run = spec['run']
            result = run_one(spec)
            rows.append(dict(model=spec['model'], dataset=spec['dataset'], pretrain_seed=spec['pretrain_seed'],
                             run=run['run'], mode=spec['mode'], param=run['param'], value=run['value'],
                             seed=spec['seed'], doei=resolved(run['doei']), **result))
            # CSV and summary after every run; the plots (seconds each) at most once a minute and at the end
            plots = time.time() - last_plots > 60 or i == len(todo) - 1
            write_outputs(out, rows, args.report_dir, depths, plots=plots)
            last_plots = time.time() if plots else last_plots
            elapsed = time.time() - t_start
            print(f"\n[sweep] {i + 1}/{len(todo)} {spec['dataset']} pretrain seed {spec['pretrain_seed']} "
                  f"{spec['mode']} seed {spec['seed']} {run['run']}: mIoU {result['mIoU']:.1f} "
                  f"FP {result['FP']:.1f} FN {result['FN']:.1f}  ({elapsed:.0f} s, "
                  f"~{elapsed / (i + 1) * (len(todo) - i - 1):.0f} s left)", flush=True)
        if rows and not todo:  # nothing ran: refresh the outputs (after a run they are current)
            write_outputs(out, rows, args.report_dir, depths)
    if rows:
        print(f'[sweep] done: {out / "sweep.csv"}, {out / "summary.md"}')
    return out


def resolved(doei) -> str:
    """Every DOEI setting of a run, resolved against today's DOEIConfig defaults
    (so a CSV row keeps its meaning when the defaults change); 'null' for the baseline."""
    return json.dumps(None if doei is None else DOEIConfig.from_dict(doei).to_dict(), sort_keys=True)


def model_depth(cfg) -> Optional[int]:
    """The number of transformer blocks of the config's backbone (K = all), if it says."""
    arch = cfg.model.get('backbone', {}).get('arch')
    if isinstance(arch, dict):
        return arch.get('num_layers') or arch.get('depths')
    return None


def known_depths(rows: list, name: str, cfg) -> dict:
    """``K = all`` of every model in the CSV, so that one model's run rewrites
    the other models' K plots whole: this model's from ``cfg``, the others'
    from the config named like them under ``configs/`` (the model column is a
    config's file stem); a model without one gets no ``K = all`` point."""
    depths = {}
    for model in sorted({r['model'] for r in rows if r['model'] and r['model'] != name}):
        found = sorted((ROOT / 'configs').rglob(f'{model}.py'))
        if found:
            depths[model] = model_depth(Config.fromfile(str(found[0])))
    depths[name] = model_depth(cfg)
    return depths


def write_outputs(out: Path, rows: list, report_dir: Optional[str] = None, depths: Optional[dict] = None,
                  plots: bool = True) -> None:
    """The CSV, then everything else recomputed from the CSV's text alone (the
    summary and, with ``plots``, the plots), each replaced atomically; copied
    to ``report_dir`` too."""
    text = rows_to_csv(rows)
    rows = read_rows(text)
    summary = summary_markdown(rows, title=f'DOEI sweep: {out.name}',
                               highlight={style: cooccurring_classes(style) for style in SCENES})
    pngs = report_plots(rows, depths) if plots else {}
    for folder in [out] + ([Path(report_dir)] if report_dir else []):
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / 'sweep.csv', 'w') as f:
            f.write(text)
        with atomic_write(folder / 'summary.md', 'w') as f:
            f.write(summary)
        for name, png in pngs.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(folder / name) as f:
                f.write(png)


def report_plots(rows: list, depths: Optional[dict] = None) -> dict:
    """``{file name: PNG bytes}`` of ``rows``: per (model, data set) and mode
    the figure-4-style sweep plot (sweep_<mode>.png when there is one model and
    data set), the paired forest plot, FP / FN against K, and the per-class
    IoU change of every DOEI run (plots/)."""
    pngs = {}
    groups = {}
    for r in rows:
        groups.setdefault((r['model'], r['dataset']), []).append(r)
    for (model, dataset), rs in groups.items():
        tag = f'{model}_{dataset}' if len(groups) > 1 else ''
        for mode in dict.fromkeys(r['mode'] for r in rs):
            pngs[f"sweep_{mode}{'_' + tag if tag else ''}.png"] = plot_sweep(rs, mode)
            curve = k_curve(rs, mode, depth=(depths or {}).get(model))
            if curve:
                pngs[f'plots/k_{tag or "sweep"}_{mode}.png'] = plot_k(curve, f'{model} {dataset} {mode}: against K')
        entries = paired_summary(rs)
        if entries:
            pngs[f'plots/paired_{tag or "sweep"}.png'] = plot_paired(entries, f'{model} {dataset}')
            highlight = cooccurring_classes(dataset) if dataset in SCENES else ()
            for e in entries:
                if e['class_iou']:
                    safe = ''.join(c if c.isalnum() or c in '-_.=' else '_' for c in e['run'])
                    pngs[f"plots/class_iou_{tag or 'sweep'}_{e['mode']}_{safe}.png"] = plot_class_iou(e, highlight)
    return pngs


if __name__ == '__main__':
    main()
