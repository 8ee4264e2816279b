"""DOEI parameter sweeps: the grid, the runs' table, the plots and the summary.

A sweep varies one DOEI parameter at a time around a base setting (the
DOEIConfig defaults unless told otherwise), as the paper's figure 4 and its
supplementary figures 1 and 3 do, and always includes the baseline (DOEI
off). Every point is run for several training seeds, in one of two modes:

* ``train``: DOEI in training and CAM extraction (the paper's setting): one
  training per point and seed;
* ``cam``: DOEI in CAM extraction only, on the baseline checkpoint of each
  seed: one training per seed, then one CAM extraction per point (cheap).

The runs themselves are done by :mod:`mmdoei.apis.experiment`; this module
knows nothing of models. ``tools/analysis_tools/doei_sweep.py`` ties the two.
"""
import csv
import io
import json
import math
from collections import OrderedDict
from dataclasses import fields
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmdoei.doei import DOEIConfig

# Pseudo-parameters that set several DOEIConfig fields at once.
TIED = {
    'sf': ('sf_p2c', 'sf_c2c'),
    'af': ('af_p2c', 'af_c2c'),
    'st': ('st_p2c', 'st_c2c'),
}
# 'modules' switches PPDO and CPDO.
MODULES = {'both': dict(ppdo=True, cpdo=True), 'ppdo': dict(ppdo=True, cpdo=False),
           'cpdo': dict(ppdo=False, cpdo=True)}

# One value list per parameter; the base value is always included (and run once).
GRIDS: Dict[str, Dict[str, list]] = {
    # A few minutes per seed in 'cam' mode on the demo data.
    'reduced': OrderedDict([
        ('ppdo_suppress', ['self', 'class']),
        ('sf', [-0.3, -0.1, 0.0, 0.1]),
        ('af', [0.25, 0.5, 1.0]),
        ('st', [0.01, 0.05]),
        ('alpha', [0.0, 0.35, 0.7]),
        ('layers', [2, 4, None]),
        ('modules', ['both', 'ppdo', 'cpdo']),
    ]),
    # Every parameter the issue names, p2c and c2c apart as well as tied.
    'full': OrderedDict([
        ('ppdo_suppress', ['self', 'class']),
        ('sf', [-0.5, -0.3, -0.2, -0.1, 0.0, 0.1, 0.3]),
        ('sf_p2c', [-0.5, -0.1, 0.0, 0.1]),
        ('sf_c2c', [-0.5, -0.1, 0.0, 0.1]),
        ('af', [0.0, 0.25, 0.5, 1.0, 2.0]),
        ('af_p2c', [0.0, 0.5, 1.0]),
        ('af_c2c', [0.0, 0.5, 1.0]),
        ('st', [0.005, 0.01, 0.03, 0.05, 0.1]),
        ('st_p2c', [0.01, 0.05]),
        ('st_c2c', [0.01, 0.05]),
        ('alpha', [0.0, 0.2, 0.35, 0.5, 0.7, 1.0]),
        ('layers', [1, 2, 3, 4, 5, None]),
        ('modules', ['both', 'ppdo', 'cpdo']),
    ]),
    # The base setting only (e.g. to compare one chosen setting over many seeds).
    'base': OrderedDict(),
}
METRICS = ('mIoU', 'FP', 'FN')
CSV_FIELDS = ('run', 'mode', 'param', 'value', 'seed', 'doei', 'mIoU', 'FP', 'FN', 'best_threshold',
              'seconds')


def apply_param(base: dict, param: str, value) -> dict:
    """``base`` (DOEIConfig keys) with one parameter set; checks the result is valid."""
    out = dict(base)
    if param in TIED:
        for key in TIED[param]:
            out[key] = value
    elif param == 'modules':
        if value not in MODULES:
            raise ValueError(f'modules must be one of {sorted(MODULES)}, got {value!r}')
        out.update(MODULES[value])
    elif param in {f.name for f in fields(DOEIConfig)}:
        out[param] = value
    else:
        raise KeyError(f'unknown sweep parameter {param!r}; known: DOEIConfig fields, {sorted(TIED)}, modules')
    DOEIConfig.from_dict(out)  # raises on an invalid value, before any run starts
    return out


def base_value(base: dict, param: str):
    """The value a parameter has in ``base`` (the point every axis shares)."""
    full = DOEIConfig.from_dict(base).to_dict()
    if param in TIED:
        values = {full[k] for k in TIED[param]}
        return values.pop() if len(values) == 1 else None
    if param == 'modules':
        for name, switch in MODULES.items():
            if all(full[k] == v for k, v in switch.items()):
                return name
        return None
    return full[param]


def value_label(value) -> str:
    """How a value is written in the CSV and on a plot axis (None -> 'all')."""
    return 'all' if value is None else str(value)


def expand_grid(grid: Dict[str, list], base: Optional[dict] = None) -> List[dict]:
    """The runs of a sweep: the baseline, the base setting, then one axis at a time.

    Returns dicts ``{'run', 'param', 'value', 'doei'}``, ``doei`` being None for
    the baseline. A point equal to the base setting is not repeated: every axis
    shares the ``'base'`` run. Around a base other than the defaults, run names
    start with it (``'{sf_c2c=0.0,sf_p2c=0.0} base'``), so sweeps around several
    bases can share one output folder and its baselines.
    """
    base = dict(base or {})
    DOEIConfig.from_dict(base)
    prefix = ('{' + ','.join(f'{k}={value_label(v)}' for k, v in sorted(base.items())) + '} ') if base else ''
    runs = [dict(run='baseline', param='baseline', value='off', doei=None),
            dict(run=prefix + 'base', param='base', value='base', doei=base)]
    for param, values in grid.items():
        b = base_value(base, param)
        for value in values:
            if value == b:
                continue
            runs.append(dict(run=f'{prefix}{param}={value_label(value)}', param=param, value=value_label(value),
                             doei=apply_param(base, param, value)))
    return runs


def read_rows(text: str) -> List[dict]:
    """Rows of a sweep CSV (numbers as floats, seed as int)."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        for k in ('mIoU', 'FP', 'FN', 'best_threshold', 'seconds'):
            row[k] = float(row[k])
        row['seed'] = int(row['seed'])
        rows.append(row)
    return rows


def rows_to_csv(rows: Sequence[dict]) -> str:
    """The CSV text of ``rows`` (columns :data:`CSV_FIELDS`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator='\n')
    writer.writeheader()
    for row in rows:
        out = {k: row[k] for k in CSV_FIELDS}
        if not isinstance(out['doei'], str):
            out['doei'] = json.dumps(out['doei'], sort_keys=True)
        writer.writerow(out)
    return buf.getvalue()


def aggregate(rows: Sequence[dict]) -> 'OrderedDict[Tuple[str, str], dict]':
    """Mean, sample standard deviation, min and max of each metric per (mode, run), over seeds."""
    groups: 'OrderedDict[Tuple[str, str], List[dict]]' = OrderedDict()
    for row in rows:
        groups.setdefault((row['mode'], row['run']), []).append(row)
    out = OrderedDict()
    for key, rs in groups.items():
        entry = dict(param=rs[0]['param'], value=rs[0]['value'], doei=rs[0]['doei'], n=len(rs),
                     seeds=sorted(r['seed'] for r in rs))
        for m in METRICS:
            v = np.array([r[m] for r in rs], float)
            entry[m] = float(v.mean())
            entry[m + '_std'] = float(v.std(ddof=1)) if len(v) > 1 else float('nan')
            entry[m + '_min'], entry[m + '_max'] = float(v.min()), float(v.max())
        out[key] = entry
    return out


def _fmt(entry: dict, m: str) -> str:
    std = entry[m + '_std']
    return f"{entry[m]:.1f}" + ('' if math.isnan(std) else f" ± {std:.1f}")


def summary_markdown(rows: Sequence[dict], title: str = 'DOEI sweep') -> str:
    """The sweep as markdown: per mode, every run's mean ± std over seeds, sorted by
    parameter, and the best setting by mean mIoU with its margin over the baseline."""
    agg = aggregate(rows)
    lines = [f'# {title}', '',
             'Mean ± sample standard deviation over training seeds (n). Seeds: CAMs of the '
             'train split, best background threshold; mIoU, FP, FN over 21 classes (DOEI-SPEC.md).', '']
    for mode in dict.fromkeys(m for m, _ in agg):
        entries = [(run, e) for (m, run), e in agg.items() if m == mode]
        where = 'in training and CAM extraction' if mode == 'train' else \
            'in CAM extraction only, on the baseline checkpoints'
        lines += [f'## mode `{mode}`: DOEI {where}', '',
                  '| run | n | mIoU | FP | FN | Δ mIoU vs baseline |', '|---|---|---|---|---|---|']
        base = dict(entries).get('baseline')
        for run, e in entries:
            delta = '' if base is None or run == 'baseline' else f"{e['mIoU'] - base['mIoU']:+.1f}"
            lines.append(f"| {run} | {e['n']} | {_fmt(e, 'mIoU')} | {_fmt(e, 'FP')} | {_fmt(e, 'FN')} | {delta} |")
        doei_runs = [(run, e) for run, e in entries if run != 'baseline']
        if doei_runs and base is not None:
            run, best = max(doei_runs, key=lambda x: x[1]['mIoU'])
            margin = best['mIoU'] - base['mIoU']
            spread = max(best['mIoU_std'], base['mIoU_std'])
            verdict = ('above the baseline by more than the larger seed spread' if margin > spread else
                       'within the seed spread of the baseline' if margin >= -spread else
                       'below the baseline by more than the seed spread')
            lines += ['', f"Best DOEI setting by mean mIoU: `{run}` ({_fmt(best, 'mIoU')}, n={best['n']}), "
                      f"{margin:+.1f} mIoU against the baseline ({_fmt(base, 'mIoU')}): {verdict}. "
                      f"FP {best['FP'] - base['FP']:+.1f}, FN {best['FN'] - base['FN']:+.1f}.",
                      f"Its DOEI settings: `{best['doei']}`"]
        lines.append('')
    return '\n'.join(lines)


def plot_sweep(rows: Sequence[dict], mode: str) -> bytes:
    """PNG bytes: one panel per parameter, mIoU / FP / FN against its values with
    error bars (standard deviation over seeds), the baseline's mean and spread as
    dashed lines and bands (the style of the paper's figure 4)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    agg = {run: e for (m, run), e in aggregate(rows).items() if m == mode}
    if not agg:
        raise ValueError(f'no rows of mode {mode!r} to plot')
    base = agg.get('baseline')
    bases = [e for e in agg.values() if e['param'] == 'base']
    shared = bases[0] if len(bases) == 1 else agg.get('base')  # the point every axis passes through
    params = list(dict.fromkeys(e['param'] for e in agg.values() if e['param'] not in ('baseline', 'base')))
    panels = params or ['base']
    ncols = min(4, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(3.4 * ncols, 6.4), 3.2 * nrows + .4), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis('off')
    colours = dict(mIoU='tab:blue', FP='tab:red', FN='tab:green')
    for ax, param in zip(axes.flat, panels):
        points = [e for e in agg.values() if e['param'] == param]
        if shared is not None:
            points.append(dict(shared, value=value_label(_shared_value(shared, param))))
        points.sort(key=lambda e: _sort_key(e['value']))
        x = np.arange(len(points))
        for m in METRICS:
            y = [p[m] for p in points]
            err = [0 if math.isnan(p[m + '_std']) else p[m + '_std'] for p in points]
            ax.errorbar(x, y, yerr=err, marker='o', ms=4, capsize=3, color=colours[m], label=m)
            if base is not None:
                ax.axhline(base[m], color=colours[m], ls='--', lw=1)
                if not math.isnan(base[m + '_std']):
                    ax.axhspan(base[m] - base[m + '_std'], base[m] + base[m + '_std'], color=colours[m],
                               alpha=.08)
        ax.set_xticks(x)
        ax.set_xticklabels([p['value'] for p in points], rotation=45, fontsize=8)
        ax.set_title(param, fontsize=10)
        ax.grid(alpha=.3)
    axes[0][0].set_ylabel('%')
    axes[0][0].legend(fontsize=7, loc='best')
    fig.suptitle(f'DOEI sweep ({mode} mode); dashed: baseline (band: ± std over seeds)', fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _shared_value(shared: dict, param: str):
    doei = shared['doei']
    return base_value(json.loads(doei) if isinstance(doei, str) else doei, param) if param != 'base' else 'base'


def _sort_key(label: str):
    try:
        return (0, float(label), '')
    except ValueError:
        return (1, 0.0, label)
