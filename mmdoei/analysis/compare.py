"""A static HTML report comparing two or more CAM folders on the same images.

Used by ``tools/analysis_tools/compare_cams.py``. The report (``index.html``
with a ``thumbs/`` folder beside it) is self-contained: no server, no network,
opens from the file system. It holds

- a summary: each run's seed mIoU, FP and FN at the background threshold its
  seed evaluation chose (:func:`mmdoei.evaluation.evaluate_cam_dir`: the best
  of the sweep), the difference to the first run, and a per-class IoU table;
- every image: image | ground truth | each run's seeds and per-class CAMs, its
  per-image IoU under each run (seeds at that run's threshold) and the change
  (last run minus first), sortable by the change and filterable by class, in
  pages of :data:`PAGE_SIZE` rows with lazily loaded thumbnails;
- optionally the mechanism view of ``tools/analysis_tools/doei_mechanism.py``.

The page's state is in the URL hash (``#sort=delta&class=cat&page=2``),
applied on load by the same code the controls call. Thumbnails are drawn by
:mod:`mmdoei.cam.render`, written once (atomically) under a name that carries
a digest of their source file and settings, and reused by a rerun.
"""
import hashlib
import html
import json
import os.path as osp
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np

from mmdoei.cam.io import load_cam
from mmdoei.cam.render import label_image, overlay, save_png, scale_cams, seed_overlay
from mmdoei.cam.seeds import cams_to_seed, confusion_matrix, iou_fp_fn
from mmdoei.datasets.categories import seg_class_names
from mmdoei.evaluation.seed_eval import build_report, evaluate_cam_dir
from mmdoei.utils.files import read_label_png
from mmdoei.utils.io import atomic_write

#: Rows per page of the report.
PAGE_SIZE = 50
#: Longest side of a thumbnail, in pixels.
THUMB_SIDE = 160
#: Bumped when thumbnails are drawn differently, so a rerun redraws them.
THUMB_VERSION = 1


def list_ids(runs: Sequence[str], split: Optional[Sequence[str]] = None) -> List[str]:
    """The image ids to compare: ``split`` or the CAM files of the first run; every run must have all.

    Raises:
        FileNotFoundError: a run folder that does not exist, or CAM files missing in a run (listed).
    """
    for run in runs:
        if not osp.isdir(run):
            raise FileNotFoundError(f'CAM folder {run} does not exist')
    ids = list(split) if split is not None else sorted(p.stem for p in Path(runs[0]).glob('*.npz'))
    if not ids:
        raise FileNotFoundError(f'{runs[0]}: no CAM files (*.npz) to compare')
    for run in runs:
        missing = [i for i in ids if not osp.isfile(osp.join(run, i + '.npz'))]
        if missing:
            raise FileNotFoundError(f'{run}: {len(missing)} of {len(ids)} CAM files missing, e.g. '
                                    f'{", ".join(m + ".npz" for m in missing[:5])}; all runs must cover the '
                                    'same images')
    return ids


def _digest(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()[:10]


def _stamp(path: str) -> list:
    st = Path(path).stat()
    return [osp.abspath(path), st.st_size, st.st_mtime_ns]


def _thumb_size(hw) -> tuple:
    s = THUMB_SIDE / max(hw)
    return max(1, round(hw[1] * s)), max(1, round(hw[0] * s))


class Thumbs:
    """Thumbnails under ``out/thumbs``: drawn only when the file for that digest is absent."""

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir / 'thumbs'
        self.dir.mkdir(parents=True, exist_ok=True)
        self.written = self.reused = 0

    def get(self, name: str, key: list, draw) -> str:
        """The thumbnail's path relative to the report; ``draw()`` gives the RGB picture if it is new."""
        path = self.dir / f'{name}.{_digest(THUMB_VERSION, THUMB_SIDE, *key)}.png'
        if path.is_file():
            self.reused += 1
        else:
            rgb = draw()
            save_png(path, cv2.resize(rgb, _thumb_size(rgb.shape[:2]), interpolation=cv2.INTER_AREA))
            self.written += 1
        return f'thumbs/{path.name}'


def compare_runs(runs: Sequence[str], data_root: str, out_dir: str, names: Optional[Sequence[str]] = None,
                 split: Optional[Sequence[str]] = None, gt_dir: str = 'SegmentationClassAug',
                 img_dir: str = 'JPEGImages', img_suffix: str = '.jpg', num_classes: int = 21,
                 mechanism_dir: Optional[str] = None, page_size: int = PAGE_SIZE) -> Dict:
    """Evaluate the runs, draw the thumbnails and write ``out_dir/index.html`` (atomically).

    Returns:
        ``dict(html, summary, images, thumbs_written, thumbs_reused)``.

    Raises:
        FileNotFoundError / ValueError: naming the folder or file, before any thumbnail is drawn.
    """
    if page_size < 1:
        raise ValueError(f'page_size must be at least 1, got {page_size}')
    if len(runs) < 2:
        raise ValueError(f'compare at least two CAM folders, got {len(runs)}')
    names = list(names or [Path(r).name or str(r) for r in runs])
    if len(set(names)) != len(names):
        names = [f'{i + 1}:{n}' for i, n in enumerate(names)]
    ids = list_ids(runs, split)
    gt_root, img_root = osp.join(data_root, gt_dir), osp.join(data_root, img_dir)
    missing_img = [i for i in ids if not osp.isfile(osp.join(img_root, i + img_suffix))]
    if missing_img:
        raise FileNotFoundError(f'{img_root}: {len(missing_img)} image(s) missing, e.g. '
                                f'{", ".join(m + img_suffix for m in missing_img[:5])}')
    if mechanism_dir is not None and not osp.isfile(osp.join(mechanism_dir, 'mechanism.json')):
        raise FileNotFoundError(f'{mechanism_dir}: no mechanism.json (make it with '
                                'tools/analysis_tools/doei_mechanism.py)')
    class_names = list(seg_class_names(num_classes))  # background first
    results = [evaluate_cam_dir(r, gt_root, ids, num_classes, progress=False) for r in runs]
    reports = [build_report(res, class_names) for res in results]
    thresholds = [res['best_threshold'] for res in results]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    thumbs = Thumbs(out)
    rows = []
    for img_id in ids:
        img_path, gt_path = osp.join(img_root, img_id + img_suffix), osp.join(gt_root, img_id + '.png')
        gt = read_label_png(gt_path)
        rgb = None

        def image():
            nonlocal rgb
            if rgb is None:
                bgr = cv2.imread(img_path)
                if bgr is None:
                    raise ValueError(f'{img_path}: not a readable image')
                rgb = np.ascontiguousarray(bgr[..., ::-1])
            return rgb

        row = dict(id=img_id, image=thumbs.get(f'{img_id}.image', _stamp(img_path), image),
                   gt=thumbs.get(f'{img_id}.gt', _stamp(gt_path), lambda: label_image(gt)), runs=[])
        gt_classes = sorted(int(c) - 1 for c in np.unique(gt) if 0 < c < num_classes)
        for j, (run, name, thr) in enumerate(zip(runs, names, thresholds)):
            cam_path = osp.join(run, img_id + '.npz')
            keys, cams = load_cam(cam_path, num_classes, gt.shape)
            seed = cams_to_seed(cams, keys, thr)
            iou = iou_fp_fn(confusion_matrix(seed, gt, num_classes))['miou']
            shown = scale_cams(cams, 'per_class')
            stamp = _stamp(cam_path)
            cam_thumbs = [dict(cls=class_names[int(c) + 1],
                               src=thumbs.get(f'{img_id}.run{j}.cam{int(c)}', stamp + [k],
                                              lambda k=k: overlay(image(), shown[k])))
                          for k, c in enumerate(keys)]
            row['runs'].append(dict(
                name=name, miou=None if np.isnan(iou) else round(float(iou) * 100, 2),
                seed=thumbs.get(f'{img_id}.run{j}.seed', stamp + [thr], lambda: seed_overlay(image(), seed)),
                cams=cam_thumbs, classes=[class_names[int(c) + 1] for c in keys]))
        first, last = row['runs'][0]['miou'], row['runs'][-1]['miou']
        row['delta'] = None if first is None or last is None else round(last - first, 2)
        row['classes'] = sorted({class_names[c + 1] for c in gt_classes} | set(row['runs'][0]['classes']))
        rows.append(row)

    mechanism = None
    if mechanism_dir is not None:
        shutil.copyfile(osp.join(mechanism_dir, 'mechanism.png'), out / '.mechanism.png.tmp')
        (out / '.mechanism.png.tmp').replace(out / 'mechanism.png')
        mechanism = json.loads(Path(mechanism_dir, 'mechanism.json').read_text())
    summary = dict(names=names, thresholds=thresholds, reports=reports)
    page = render_html(summary, rows, class_names[1:], mechanism, page_size)
    with atomic_write(out / 'index.html', 'w') as f:
        f.write(page)
    return dict(html=out / 'index.html', summary=summary, images=rows, thumbs_written=thumbs.written,
                thumbs_reused=thumbs.reused)


def _fmt(v, signed: bool = False) -> str:
    if v is None:
        return 'n/a'
    return f'{v:+.2f}' if signed else f'{v:.2f}'


def _delta(a, b):
    return None if a is None or b is None else round(b - a, 4)


def render_html(summary: Dict, rows: List[Dict], fg_names: Sequence[str], mechanism: Optional[Dict],
                page_size: int = PAGE_SIZE) -> str:
    """The report page (see the module docstring)."""
    e = html.escape
    names, reports = summary['names'], summary['reports']
    head = ''.join(f'<th>{e(n)}</th>' for n in names) + ''.join(f'<th>&Delta; {e(n)}</th>' for n in names[1:])
    srows = []
    for key, label in (('mIoU', 'seed mIoU (%)'), ('FP', 'FP (%)'), ('FN', 'FN (%)')):
        vals = [r[key] for r in reports]
        srows.append(f'<tr><th>{label}</th>' + ''.join(f'<td>{_fmt(v)}</td>' for v in vals) + ''.join(
            f'<td>{_fmt(_delta(vals[0], v), True)}</td>' for v in vals[1:]) + '</tr>')
    srows.append('<tr><th>background threshold</th>' + ''.join(
        f'<td>{t:.2f}</td>' for t in summary['thresholds']) + '<td></td>' * (len(names) - 1) + '</tr>')
    crows = []
    for cls in reports[0]['per_class']:
        vals = [r['per_class'][cls]['IoU'] for r in reports]
        crows.append(f'<tr><th>{e(cls)}</th>' + ''.join(f'<td>{_fmt(v)}</td>' for v in vals) + ''.join(
            f'<td>{_fmt(_delta(vals[0], v), True)}</td>' for v in vals[1:]) + '</tr>')
    irows = []
    for i, r in enumerate(rows):
        cells = [f'<td class="id">{e(r["id"])}<br>&Delta; <b>{_fmt(r["delta"], True)}</b></td>',
                 f'<td><img loading="lazy" src="{e(r["image"])}" alt="image {e(r["id"])}"></td>',
                 f'<td><img loading="lazy" src="{e(r["gt"])}" alt="ground truth {e(r["id"])}"></td>']
        for run in r['runs']:
            cams = ''.join(f'<figure><img loading="lazy" src="{e(c["src"])}" alt="{e(run["name"])} {e(c["cls"])}">'
                           f'<figcaption>{e(c["cls"])}</figcaption></figure>' for c in run['cams'])
            cells.append(f'<td><div class="run">{e(run["name"])}: IoU {_fmt(run["miou"])}</div><figure>'
                         f'<img loading="lazy" src="{e(run["seed"])}" alt="{e(run["name"])} seeds">'
                         f'<figcaption>seeds</figcaption></figure>{cams}</td>')
        delta = '' if r['delta'] is None else r['delta']
        irows.append(f'<tr class="img-row" data-id="{e(r["id"])}" data-order="{i}" data-delta="{delta}" '
                     f'data-classes="{e(" ".join(c.replace(" ", "_") for c in r["classes"]))}">'
                     + ''.join(cells) + '</tr>')
    options = ''.join(f'<option value="{e(n.replace(" ", "_"))}">{e(n)}</option>' for n in fg_names)
    mech = ''
    if mechanism is not None:
        mrows = ''.join(f'<tr><td>{b["block"]}</td><td>{len(b["amplified"])}</td><td>{len(b["suppressed"])}</td>'
                        f'<td>{e(str(b["cpdo_amplified"]))}</td><td>{e(str(b["cpdo_suppressed"]))}</td></tr>'
                        for b in mechanism['blocks'])
        mech = (f'<section id="mechanism"><h2>Mechanism: DOEI on &ldquo;{e(mechanism["class_name"])}&rdquo;</h2>'
                '<p>Per optimised block: patch tokens PPDO amplified (green) and suppressed (red), the HFA-blended '
                'scores and the block\'s attention CAM; class tokens CPDO amplified/suppressed.</p>'
                '<table><tr><th>block</th><th>amplified patches</th><th>suppressed patches</th>'
                f'<th>CPDO amplified tokens</th><th>CPDO suppressed tokens</th></tr>{mrows}</table>'
                '<img id="mechanism-png" src="mechanism.png" alt="mechanism view"></section>')
    run_heads = ''.join(f'<th>{e(n)}: seeds, CAMs</th>' for n in names)
    return PAGE.format(
        title=e(' vs '.join(names)), summary_head=head, summary_rows=''.join(srows), class_rows=''.join(crows),
        options=options, run_heads=run_heads, image_rows=''.join(irows), mechanism=mech, page_size=page_size,
        n_images=len(rows), first=e(names[0]), last=e(names[-1]))


PAGE = '''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CAM comparison: {title}</title>
<script>
// Errors of this page, kept in the page itself (a headless browser's --dump-dom shows them).
(function () {{
  function note(msg) {{
    var el = document.getElementById('errors');
    if (el) {{ el.textContent += msg + '\\n'; }} else {{ (window.__early = window.__early || []).push(msg); }}
  }}
  window.onerror = function (msg, src, line) {{ note('error: ' + msg + ' at ' + src + ':' + line); }};
  var orig = console.error;
  console.error = function () {{
    note('console.error: ' + Array.prototype.join.call(arguments, ' '));
    orig.apply(console, arguments);
  }};
  window.__note = note;
}})();
</script>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; text-align: right; }}
#images td {{ text-align: left; }}
figure {{ display: inline-block; margin: 2px; text-align: center; }}
figcaption {{ font-size: 13px; }}
.run {{ font-weight: bold; }}
img {{ max-width: 160px; max-height: 160px; }}
#mechanism-png {{ max-width: 100%; max-height: none; }}
#controls button, #controls select {{ font-size: 14px; margin-right: 6px; }}
</style></head>
<body>
<h1>CAM comparison: {title}</h1>
<pre id="errors" hidden></pre>
<section id="summary"><h2>Summary ({n_images} images)</h2>
<p>Seeds at each run's background threshold, chosen by its seed evaluation (the best of the sweep); &Delta; is
the difference to {first}.</p>
<table id="summary-table"><tr><th></th>{summary_head}</tr>{summary_rows}</table>
<h3>Per-class IoU (%)</h3>
<table id="class-table"><tr><th>class</th>{summary_head}</tr>{class_rows}</table></section>
{mechanism}
<section id="per-image"><h2>Images</h2>
<p>Change = per-image IoU of {last} minus {first} (percentage points).</p>
<div id="controls">
<button id="sort-delta" onclick="setState({{sort: 'delta', page: 1}})">most hurt first</button>
<button id="sort-delta-desc" onclick="setState({{sort: '-delta', page: 1}})">most helped first</button>
<button id="sort-id" onclick="setState({{sort: 'id', page: 1}})">by id</button>
<label>class <select id="class-filter" onchange="setState({{class: this.value, page: 1}})">
<option value="">all</option>{options}</select></label>
<button id="prev" onclick="setState({{page: state.page - 1}})">&lt;</button>
<span id="page-info"></span>
<button id="next" onclick="setState({{page: state.page + 1}})">&gt;</button>
</div>
<table id="images"><thead><tr><th>id / change</th><th>image</th><th>ground truth</th>{run_heads}</tr></thead>
<tbody id="image-rows">{image_rows}</tbody></table></section>
<script>
var PAGE_SIZE = {page_size};
var state = {{sort: 'id', class: '', page: 1}};
function readHash() {{
  var s = {{sort: 'id', class: '', page: 1}};
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) {{
    if (!kv) return;
    var p = kv.split('='), k = decodeURIComponent(p[0]), v = decodeURIComponent(p[1] || '');
    if (k === 'page') {{ s.page = parseInt(v, 10) || 1; }} else if (k in s) {{ s[k] = v; }}
  }});
  return s;
}}
function key(row, sort) {{
  var d = row.dataset.delta === '' ? NaN : parseFloat(row.dataset.delta);
  if (sort === 'delta') return isNaN(d) ? Infinity : d;
  if (sort === '-delta') return isNaN(d) ? Infinity : -d;
  return parseInt(row.dataset.order, 10);
}}
function apply(s) {{
  var body = document.getElementById('image-rows');
  var rows = Array.prototype.slice.call(body.querySelectorAll('tr.img-row'));
  rows.sort(function (a, b) {{ return key(a, s.sort) - key(b, s.sort) || a.dataset.order - b.dataset.order; }});
  rows.forEach(function (r) {{ body.appendChild(r); }});
  var match = rows.filter(function (r) {{ return !s.class || r.dataset.classes.split(' ').indexOf(s.class) >= 0; }});
  var pages = Math.max(1, Math.ceil(match.length / PAGE_SIZE));
  s.page = Math.min(Math.max(1, s.page), pages);
  var shown = match.slice((s.page - 1) * PAGE_SIZE, s.page * PAGE_SIZE);
  rows.forEach(function (r) {{ r.hidden = shown.indexOf(r) < 0; }});
  document.getElementById('class-filter').value = s.class;
  document.getElementById('page-info').textContent =
    'page ' + s.page + ' of ' + pages + ', ' + match.length + ' images';
  document.body.dataset.visible = shown.length;
  state = s;
}}
function setState(change) {{
  var s = Object.assign({{}}, state, change);
  var h = 'sort=' + encodeURIComponent(s.sort) + '&class=' + encodeURIComponent(s.class) + '&page=' + s.page;
  if (location.hash !== '#' + h) {{ location.hash = h; }} else {{ apply(s); }}
}}
window.addEventListener('hashchange', function () {{ apply(readHash()); }});
(window.__early || []).forEach(window.__note);
apply(readHash());
</script>
</body></html>
'''
