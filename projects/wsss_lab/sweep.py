"""DOEI parameter sweeps: the grid, the runs' table, the plots and the summary.

A sweep varies one DOEI parameter at a time around a base setting (the
DOEIConfig defaults unless told otherwise), as the paper's figure 4 and its
supplementary figures 1 and 3 do, and always includes the baseline (DOEI
off). Every point is run for several training seeds, in one of two modes:

* ``train``: DOEI in training and CAM extraction (the paper's setting): one
  training per point and seed;
* ``cam``: DOEI in CAM extraction only, on the baseline checkpoint of each
  seed: one training per seed, then one CAM extraction per point (cheap).

Every point and fine-tuning seed is also run on several pretrained backbones
(the pretraining-seed axis) and on named data sets (the demo's, a held-out
one). A DOEI run is compared with the baseline of the same model, data set,
mode, backbone and fine-tuning seed: :func:`paired_summary` gives the mean
paired difference with 95 % t-intervals, the pairs won, and how much of the
spread of the differences comes from pretraining and how much from
fine-tuning (:func:`nested_variance`). Everything is recomputed from the CSV's
rows alone.

The runs themselves are done by :mod:`mmdoei.apis.pipeline` (its stage-1 unit); this module
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
# The spec's provisional suppression factor (docs/method.md), used by the
# diagnostic presets so that they keep their meaning whatever the defaults are.
SPEC_SF = -0.1
SPEC_AF = 0.5
# 'preset' sets the amplify and suppress terms explicitly (the issue's
# diagnostics): each term alone, and eq. 11's suppress term in both readings.
PRESETS = {
    'amplify-only': dict(af_p2c=SPEC_AF, af_c2c=SPEC_AF, sf_p2c=0.0, sf_c2c=0.0),
    'suppress-only': dict(af_p2c=0.0, af_c2c=0.0, sf_p2c=SPEC_SF, sf_c2c=SPEC_SF),
    'suppress-self': dict(af_p2c=SPEC_AF, af_c2c=SPEC_AF, sf_p2c=SPEC_SF, sf_c2c=SPEC_SF, ppdo_suppress='self'),
    'suppress-class': dict(af_p2c=SPEC_AF, af_c2c=SPEC_AF, sf_p2c=SPEC_SF, sf_c2c=SPEC_SF,
                           ppdo_suppress='class'),
}

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
    # Why DOEI helps or not: FP and FN against K (the paper's figure 3), each
    # term alone, the suppress term in both readings, PPDO alone and CPDO alone.
    'diagnostics': OrderedDict([
        ('layers', [1, 2, 3, 4, 5, None]),
        ('preset', list(PRESETS)),
        ('modules', ['ppdo', 'cpdo']),
    ]),
}
METRICS = ('mIoU', 'FP', 'FN')
CSV_FIELDS = ('model', 'dataset', 'pretrain_seed', 'run', 'mode', 'param', 'value', 'seed', 'doei', 'mIoU', 'FP',
              'FN', 'best_threshold', 'seconds', 'class_iou')
# What a CSV written before these columns existed means by them.
LEGACY_DEFAULTS = dict(model='', dataset='demo', pretrain_seed='-1', class_iou='{}')


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
    elif param == 'preset':
        if value not in PRESETS:
            raise ValueError(f'preset must be one of {sorted(PRESETS)}, got {value!r}')
        out.update(PRESETS[value])
    elif param in {f.name for f in fields(DOEIConfig)}:
        out[param] = value
    else:
        raise KeyError(f'unknown sweep parameter {param!r}; known: DOEIConfig fields, {sorted(TIED)}, modules, '
                       'preset')
    DOEIConfig.from_dict(out)  # raises on an invalid value, before any run starts
    return out


def base_value(base: dict, param: str):
    """The value a parameter has in ``base`` (the point every axis shares)."""
    full = DOEIConfig.from_dict(base).to_dict()
    if param in TIED:
        values = {full[k] for k in TIED[param]}
        return values.pop() if len(values) == 1 else None
    if param in ('modules', 'preset'):
        for name, switch in (MODULES if param == 'modules' else PRESETS).items():
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
    """Rows of a sweep CSV (numbers as floats, seeds as int, ``class_iou`` as a
    dict). Columns an older CSV lacks get :data:`LEGACY_DEFAULTS` (its backbone
    is then unknown: ``pretrain_seed`` -1)."""
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        for k, v in LEGACY_DEFAULTS.items():
            if row.get(k) is None:
                row[k] = v
        for k in ('mIoU', 'FP', 'FN', 'best_threshold', 'seconds'):
            row[k] = float(row[k])
        row['seed'] = int(row['seed'])
        row['pretrain_seed'] = int(row['pretrain_seed'])
        row['class_iou'] = json.loads(row['class_iou'] or '{}')
        rows.append(row)
    return rows


def rows_to_csv(rows: Sequence[dict]) -> str:
    """The CSV text of ``rows`` (columns :data:`CSV_FIELDS`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator='\n')
    writer.writeheader()
    for row in rows:
        out = {k: row.get(k, LEGACY_DEFAULTS.get(k)) for k in CSV_FIELDS}
        for k in ('doei', 'class_iou'):
            if not isinstance(out[k], str):
                out[k] = json.dumps(out[k], sort_keys=True)
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


def t_quantile(df: int, level: float = .95) -> float:
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of
    freedom (scipy's, a direct dependency through mmsegmentation as well)."""
    from scipy.stats import t
    return float(t.ppf(.5 + level / 2, df))


def t_interval(values: Sequence[float], level: float = .95) -> Tuple[float, float, float]:
    """``(mean, low, high)``: the mean and its ``level`` t-interval (nan bounds below two values)."""
    v = np.asarray(values, float)
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float('nan'), float('nan')
    half = t_quantile(len(v) - 1, level) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return mean, mean - half, mean + half


def nested_variance(groups: Dict[object, Sequence[float]]) -> dict:
    """One-way random-effects ANOVA of values grouped by backbone.

    A value is ``mu + b_i + e_ij``: ``b_i`` the effect of backbone ``i``
    (pretraining), ``e_ij`` that of fine-tuning seed ``j`` on it. With ``a``
    groups, ``N`` values and ``n0 = (N - sum n_i^2 / N) / (a - 1)`` (the group
    size when all are equal): ``MSB = sum n_i (m_i - m)^2 / (a - 1)``,
    ``MSW = sum (x_ij - m_i)^2 / (N - a)``, ``var_within = MSW`` and
    ``var_between = max(0, (MSB - MSW) / n0)`` (the method-of-moments
    estimates, clipped at 0). ``share_pretrain`` is ``var_between`` over the
    sum. nan where the design cannot tell (fewer than 2 groups, or no group
    with 2 values).
    """
    gs = [np.asarray(v, float) for v in groups.values() if len(v)]
    a, N = len(gs), int(sum(len(g) for g in gs))
    out = dict(groups=a, n=N, ms_between=float('nan'), ms_within=float('nan'), var_between=float('nan'),
               var_within=float('nan'), share_pretrain=float('nan'))
    if a < 2 or N - a < 1:
        return out
    grand = float(np.concatenate(gs).mean())
    msb = sum(len(g) * (g.mean() - grand) ** 2 for g in gs) / (a - 1)
    msw = sum(((g - g.mean()) ** 2).sum() for g in gs) / (N - a)
    n0 = (N - sum(len(g) ** 2 for g in gs) / N) / (a - 1)
    vb = max(0.0, (msb - msw) / n0)
    total = vb + msw
    out.update(ms_between=float(msb), ms_within=float(msw), var_between=float(vb), var_within=float(msw),
               share_pretrain=float(vb / total) if total > 0 else float('nan'))
    return out


def paired_differences(rows: Sequence[dict]) -> 'OrderedDict[tuple, List[dict]]':
    """Each DOEI row minus the baseline row of the same model, data set, mode,
    backbone (``pretrain_seed``) and fine-tuning seed.

    Returns ``{(model, dataset, mode, run): [pair, ...]}``, a pair being
    ``{'pretrain_seed', 'seed', 'mIoU', 'FP', 'FN', 'class_iou'}`` (differences;
    ``class_iou`` per class present in both). A DOEI row without its baseline
    is left out (it is counted nowhere, and the summary says how many pairs
    it has).
    """
    def key(r):
        return (r.get('model', ''), r.get('dataset', 'demo'), r['mode'], r.get('pretrain_seed', -1), r['seed'])

    base = {key(r): r for r in rows if r['run'] == 'baseline'}
    out: 'OrderedDict[tuple, List[dict]]' = OrderedDict()
    for r in rows:
        if r['run'] == 'baseline' or key(r) not in base:
            continue
        b = base[key(r)]
        ci, cb = r.get('class_iou') or {}, b.get('class_iou') or {}
        pair = dict(pretrain_seed=r.get('pretrain_seed', -1), seed=r['seed'],
                    class_iou={c: ci[c] - cb[c] for c in ci if c in cb and ci[c] is not None and cb[c] is not None},
                    **{m: r[m] - b[m] for m in METRICS})
        out.setdefault((r.get('model', ''), r.get('dataset', 'demo'), r['mode'], r['run']), []).append(pair)
    return out


def paired_summary(rows: Sequence[dict], level: float = .95) -> List[dict]:
    """Per (model, data set, mode, run): the paired differences summarised.

    Each entry has ``n`` pairs, ``backbones`` (distinct pretraining seeds),
    ``wins`` (pairs where DOEI's mIoU is higher), and per metric ``{m}`` (mean
    difference), ``{m}_ci`` (t-interval over the pairs, as if independent),
    ``{m}_ci_backbone`` (t-interval over the backbones' mean differences with
    ``backbones - 1`` degrees of freedom: the honest one when backbones
    differ, since pairs on one backbone share it) and ``{m}_var`` (the
    :func:`nested_variance` of the differences).
    """
    out = []
    for (model, dataset, mode, run), pairs in paired_differences(rows).items():
        entry = dict(model=model, dataset=dataset, mode=mode, run=run, n=len(pairs),
                     backbones=len({p['pretrain_seed'] for p in pairs}),
                     wins=sum(p['mIoU'] > 0 for p in pairs), losses=sum(p['mIoU'] < 0 for p in pairs))
        for m in METRICS:
            groups: Dict[int, List[float]] = OrderedDict()
            for p in pairs:
                groups.setdefault(p['pretrain_seed'], []).append(p[m])
            mean, lo, hi = t_interval([p[m] for p in pairs], level)
            entry[m], entry[m + '_ci'] = mean, (lo, hi)
            entry[m + '_ci_backbone'] = t_interval([float(np.mean(g)) for g in groups.values()], level)[1:]
            entry[m + '_var'] = nested_variance(groups)
        classes = OrderedDict()
        for p in pairs:
            for c, d in p['class_iou'].items():
                classes.setdefault(c, []).append(d)
        entry['class_iou'] = OrderedDict((c, float(np.mean(v))) for c, v in classes.items())
        out.append(entry)
    return out


def _ci(ci: Tuple[float, float]) -> str:
    return '-' if math.isnan(ci[0]) else f'[{ci[0]:+.1f}, {ci[1]:+.1f}]'


def _share(var: dict) -> str:
    share = var['share_pretrain']
    if math.isnan(share):
        return '-'
    return f"{100 * share:.0f} % (sd {math.sqrt(var['var_between']):.1f} / {math.sqrt(var['var_within']):.1f})"


def paired_markdown(entries: Sequence[dict]) -> List[str]:
    """The lines of the paired table (one per mode) for :func:`summary_markdown`."""
    lines = []
    for mode in dict.fromkeys(e['mode'] for e in entries):
        lines += [f'## paired differences, mode `{mode}`: DOEI run minus the baseline of the same backbone '
                  'and seed', '',
                  '95 % intervals: over the pairs (as if independent) and over the backbones\' mean '
                  'differences (backbones - 1 degrees of freedom; the one to draw conclusions from when '
                  'backbones differ). "from pretraining": the share of the spread of the mIoU difference '
                  'between backbones (one-way random-effects ANOVA; sd between / within backbones).', '',
                  '| run | pairs (backbones) | Δ mIoU | 95 % CI pairs | 95 % CI backbones | won / lost | Δ FP '
                  '[95 % CI] | Δ FN [95 % CI] | from pretraining |',
                  '|---|---|---|---|---|---|---|---|---|']
        for e in entries:
            if e['mode'] != mode:
                continue
            lines.append(f"| {e['run']} | {e['n']} ({e['backbones']}) | {e['mIoU']:+.1f} | {_ci(e['mIoU_ci'])} | "
                         f"{_ci(e['mIoU_ci_backbone'])} | {e['wins']} / {e['losses']} | "
                         f"{e['FP']:+.1f} {_ci(e['FP_ci'])} | {e['FN']:+.1f} {_ci(e['FN_ci'])} | "
                         f"{_share(e['mIoU_var'])} |")
        lines.append('')
    return lines


def class_split(entry: dict, highlight: Sequence[str]) -> dict:
    """How a paired entry's per-class IoU change splits between the
    ``highlight`` classes (those drawn with a companion: where the paper says
    DOEI acts) and the other object classes (background left out).

    Returns ``{'co', 'other'}``, each ``{'n', 'mean', 'abs'}``: the number of
    classes, their mean IoU change and their mean absolute change (NaN when
    there are none).
    """
    changes = {c: d for c, d in (entry.get('class_iou') or {}).items() if c != 'background'}
    co = set(highlight)
    out = {}
    for key, values in (('co', [d for c, d in changes.items() if c in co]),
                        ('other', [d for c, d in changes.items() if c not in co])):
        out[key] = dict(n=len(values), mean=float(np.mean(values)) if values else math.nan,
                        abs=float(np.mean(np.abs(values))) if values else math.nan)
    return out


def _signed(x: float) -> str:
    return '-' if math.isnan(x) else f'{x:+.1f}'


def _plain(x: float) -> str:
    return '-' if math.isnan(x) else f'{x:.1f}'


def class_markdown(entries: Sequence[dict], highlight: Sequence[str]) -> List[str]:
    """The per-class table of :func:`summary_markdown`: is the change in the co-occurring classes?"""
    entries = [e for e in entries if e.get('class_iou')]
    if not entries or not highlight:
        return []
    lines = ['## per-class IoU change: classes drawn with a companion against the others', '',
             'Mean over the pairs of each class\'s IoU change, then over the classes (background left out); '
             '"size": the mean absolute change, whatever its sign. If DOEI acted where the paper says, the '
             'co-occurring classes would move more than the others.', '',
             '| mode | run | Δ IoU co-occurring (classes) | Δ IoU others (classes) | size co-occurring | size others |',
             '|---|---|---|---|---|---|']
    for e in entries:
        split = class_split(e, highlight)
        co, other = split['co'], split['other']
        lines.append(f"| {e['mode']} | {e['run']} | {_signed(co['mean'])} ({co['n']}) | {_signed(other['mean'])} "
                     f"({other['n']}) | {_plain(co['abs'])} | {_plain(other['abs'])} |")
    return lines + ['']


def _fmt(entry: dict, m: str) -> str:
    std = entry[m + '_std']
    return f"{entry[m]:.1f}" + ('' if math.isnan(std) else f" ± {std:.1f}")


def _mode_tables(rows: Sequence[dict], lines: List[str]) -> None:
    """Per mode, every run's mean ± std over seeds and the best setting by mean mIoU."""
    agg = aggregate(rows)
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


def summary_markdown(rows: Sequence[dict], title: str = 'DOEI sweep',
                     highlight: Optional[Dict[str, Sequence[str]]] = None) -> str:
    """The sweep as markdown, from its rows alone.

    Per model and data set: per mode, every run's mean ± std over all its
    (backbone, seed) pairs and the best setting by mean mIoU; then the paired
    table of :func:`paired_summary` (mean difference against the matching
    baseline with 95 % intervals, pairs won, the share of the spread due to
    pretraining); with ``highlight`` (``{data set: co-occurring classes}``)
    the per-class table of :func:`class_markdown`.
    """
    lines = [f'# {title}', '',
             'Mean ± sample standard deviation over training seeds (n). Seeds: CAMs of the '
             'train split, best background threshold; mIoU, FP, FN over 21 classes (docs/method.md).', '']
    groups = OrderedDict()
    for row in rows:
        groups.setdefault((row.get('model', ''), row.get('dataset', 'demo')), []).append(row)
    for (model, dataset), rs in groups.items():
        if len(groups) > 1 or model:
            lines += [f'# model `{model or "?"}`, data set `{dataset}`', '']
        _mode_tables(rs, lines)
        paired = paired_summary(rs)
        if paired:
            lines += paired_markdown(paired)
            lines += class_markdown(paired, (highlight or {}).get(dataset, ()))
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


def _figure_bytes(fig) -> bytes:
    import matplotlib.pyplot as plt
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_paired(entries: Sequence[dict], title: str = 'DOEI minus baseline') -> bytes:
    """PNG bytes: a forest plot, one panel per metric, one line per
    (data set, mode, run): the mean paired difference, its 95 % interval over
    the pairs (thick) and over the backbones (thin), and zero dashed."""
    if not entries:
        raise ValueError('no paired differences to plot')
    plt = _pyplot()
    labels = [f"{e['dataset']} {e['mode']} {e['run']}" for e in entries]
    y = np.arange(len(entries))[::-1]
    fig, axes = plt.subplots(1, 3, figsize=(12, .32 * len(entries) + 1.4), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], METRICS):
        for yi, e in zip(y, entries):
            lo, hi = e[m + '_ci_backbone']
            if not math.isnan(lo):
                ax.plot([lo, hi], [yi, yi], color='0.6', lw=1)
            lo, hi = e[m + '_ci']
            if not math.isnan(lo):
                ax.plot([lo, hi], [yi, yi], color='tab:blue', lw=3)
            ax.plot([e[m]], [yi], 'o', color='k', ms=4)
        ax.axvline(0, color='k', ls='--', lw=1)
        ax.set_title(f'Δ {m} (points)', fontsize=10)
        ax.grid(alpha=.3)
    axes[0][0].set_yticks(y)
    axes[0][0].set_yticklabels(labels, fontsize=7)
    fig.suptitle(f'{title}; thick: 95 % CI over pairs, thin: over backbones', fontsize=10)
    return _figure_bytes(fig)


def k_curve(rows: Sequence[dict], mode: str, depth: Optional[int] = None) -> List[dict]:
    """Mean paired difference of each metric against ``K`` (the ``layers``
    runs, and the base run at ``K = depth`` when its ``layers`` is all blocks),
    for one model, data set and ``mode``: ``[{'K', 'n', 'mIoU', 'FP', 'FN', '{m}_ci'}]``."""
    out = []
    for e in paired_summary(rows):
        if e['mode'] != mode:
            continue
        run_rows = [r for r in rows if r['run'] == e['run'] and r['mode'] == mode]
        doei = run_rows[0]['doei']
        doei = json.loads(doei) if isinstance(doei, str) else doei
        layers = (doei or {}).get('layers')
        is_k = run_rows[0]['param'] == 'layers' or (run_rows[0]['param'] == 'base' and depth is not None)
        if not is_k:
            continue
        k = depth if layers is None else int(layers)
        if k is None:
            continue
        out.append(dict(K=k, n=e['n'], **{m: e[m] for m in METRICS}, **{m + '_ci': e[m + '_ci'] for m in METRICS}))
    return sorted(out, key=lambda d: d['K'])


def plot_k(curve: Sequence[dict], title: str = 'DOEI against K') -> bytes:
    """PNG bytes: FP, FN and mIoU differences against ``K`` with 95 % intervals
    (the paper's figure 3, as differences from the paired baseline)."""
    if not curve:
        raise ValueError('no K runs to plot')
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    k = [c['K'] for c in curve]
    for m, colour in zip(METRICS, ('tab:blue', 'tab:red', 'tab:green')):
        y = np.array([c[m] for c in curve])
        lo = np.array([c[m + '_ci'][0] for c in curve])
        hi = np.array([c[m + '_ci'][1] for c in curve])
        ax.plot(k, y, marker='o', color=colour, label=f'Δ {m}')
        ok = ~np.isnan(lo)
        if ok.any():
            ax.fill_between(np.array(k)[ok], lo[ok], hi[ok], color=colour, alpha=.15)
    ax.axhline(0, color='k', ls='--', lw=1)
    ax.set_xlabel('K (DOEI after blocks 1..K)')
    ax.set_ylabel('points, DOEI minus baseline')
    ax.set_xticks(k)
    ax.legend(fontsize=8)
    ax.grid(alpha=.3)
    ax.set_title(title, fontsize=10)
    return _figure_bytes(fig)


def plot_class_iou(entry: dict, highlight: Sequence[str] = (), title: str = '') -> bytes:
    """PNG bytes: the mean per-class IoU change of one :func:`paired_summary`
    entry, classes in ``highlight`` (e.g. the data set's co-occurring ones) in red."""
    changes = entry.get('class_iou') or {}
    if not changes:
        raise ValueError(f"no per-class IoU in the rows of run {entry.get('run')!r}")
    plt = _pyplot()
    names = list(changes)
    fig, ax = plt.subplots(figsize=(max(6, .35 * len(names) + 1), 3.4))
    colours = ['tab:red' if n in set(highlight) else 'tab:blue' for n in names]
    ax.bar(np.arange(len(names)), [changes[n] for n in names], color=colours)
    ax.axhline(0, color='k', lw=1)
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, rotation=60, fontsize=7, ha='right')
    ax.set_ylabel('Δ IoU (points)')
    ax.grid(alpha=.3, axis='y')
    ax.set_title(title or f"{entry['dataset']} {entry['mode']} {entry['run']}: mean per-class IoU change, "
                 f"{entry['n']} pairs (red: co-occurring classes)", fontsize=9)
    return _figure_bytes(fig)
