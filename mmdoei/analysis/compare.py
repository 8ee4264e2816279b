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
a digest of their source files (the image under an overlay included) and
settings, and reused by a rerun; the ones a rerun no longer shows are deleted.
The report folder is locked while it is written (one run at a time).
"""
import hashlib
import html
import io
import json
import os.path as osp
import urllib.parse
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

from mmdoei.cam.io import cam_files, cam_path, load_cam
from mmdoei.cam.render import label_image, overlay, save_png, scale_cams, seed_overlay
from mmdoei.cam.seeds import cams_to_seed
from mmdoei.datasets.categories import seg_class_names
from mmdoei.evaluation.scores import confusion_matrix, iou_fp_fn
from mmdoei.evaluation.seed_eval import build_report, evaluate_cam_dir
from mmdoei.utils.files import pixel_problem, read_label_png, read_split, read_text_file
from mmdoei.utils.io import atomic_write, read_bytes_bounded
from mmdoei.utils.locks import folder_lock

#: Rows per page of the report.
PAGE_SIZE = 50
#: Longest side of a thumbnail, in pixels.
THUMB_SIDE = 160
#: Bumped when thumbnails are drawn differently, so a rerun redraws them.
THUMB_VERSION = 1
#: Largest mechanism.json / mechanism.png read (bytes): a real one is well under a megabyte.
MAX_MECHANISM_BYTES = 64 * 2**20
#: The token lists of a mechanism.json block (lists of token indices).
MECHANISM_TOKEN_LISTS = ('amplified', 'suppressed', 'cpdo_amplified', 'cpdo_suppressed')


def check_id(img_id: str, where: str) -> str:
    """``img_id`` if it names a file inside its folder, else a ValueError naming ``where``.

    An id is joined to the image, ground truth and CAM folders and to the
    thumbnail names: a separator, ``..`` or a leading dot (a hidden file, or
    ``.`` / ``..`` themselves) could reach outside them or hide the output.
    """
    if (not img_id or '/' in img_id or '\\' in img_id or '\x00' in img_id or '..' in img_id
            or img_id.startswith('.')):
        raise ValueError(f'{where}: image id {img_id!r} refused: ids must not contain "/", "\\" or ".." nor '
                         'start with "."')
    return img_id


def read_compare_split(path: str) -> List[str]:
    """The ids of a split file, each checked by :func:`check_id` (errors name the file and line).

    :func:`mmdoei.utils.files.read_split` reads and checks the file first (it
    also takes PSA's ``/JPEGImages/x.jpg`` form, whose stem is the id). Any
    other token is checked as written, not only its stem: ``sub/x`` and
    ``x..y.jpg`` are refused rather than silently cut to ``x`` / ``x..y``.
    """
    ids = read_split(path)
    tokens = [(n, line.split()[0]) for n, line in enumerate(read_text_file(path, 'split file').splitlines(), 1)
              if line.split()]
    # read_split yields one id per non-blank line, in order
    for (lineno, token), img_id in zip(tokens, ids):
        where = f'split file {path}, line {lineno}'
        if not token.startswith('/'):
            check_id(token, where)
        check_id(img_id, where)
    return ids


def load_mechanism(mechanism_dir: str) -> Tuple[Dict, bytes]:
    """``mechanism.json`` (checked) and the bytes of ``mechanism.png`` (a decodable PNG) of ``mechanism_dir``.

    Both are checked before the report draws anything, so a bad folder stops
    the run at once and leaves the report folder untouched.

    Raises:
        FileNotFoundError: naming the missing file.
        ValueError: naming the file and what is wrong in it.
    """
    folder = Path(mechanism_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f'mechanism folder {folder} does not exist (make it with '
                                'tools/analysis_tools/doei_mechanism.py)')
    jpath, ppath = folder / 'mechanism.json', folder / 'mechanism.png'
    for p in (jpath, ppath):
        if not p.exists():
            raise FileNotFoundError(f'{folder}: no {p.name} (make it with tools/analysis_tools/doei_mechanism.py)')
    raw = read_bytes_bounded(jpath, MAX_MECHANISM_BYTES, 'mechanism.json')
    try:
        mech = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f'{jpath}: not valid JSON ({e})') from None
    if not isinstance(mech, dict) or not isinstance(mech.get('class_name'), str):
        raise ValueError(f'{jpath}: expected an object with a "class_name" string and a "blocks" list')
    blocks = mech.get('blocks')
    if not isinstance(blocks, list):
        raise ValueError(f'{jpath}: "blocks" must be a list of objects, got {type(blocks).__name__}')
    for i, b in enumerate(blocks):
        if not isinstance(b, dict):
            raise ValueError(f'{jpath}: blocks[{i}] must be an object, got {type(b).__name__}')
        # bool is an int subclass; true/false is no block index
        if not isinstance(b.get('block'), int) or isinstance(b['block'], bool):
            raise ValueError(f'{jpath}: blocks[{i}]["block"] must be an integer, got {b.get("block")!r:.60}')
        for key in MECHANISM_TOKEN_LISTS:
            v = b.get(key)
            if not isinstance(v, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in v):
                raise ValueError(f'{jpath}: blocks[{i}]["{key}"] must be a list of integer token indices, '
                                 f'got {v!r:.60}')
    png = read_bytes_bounded(ppath, MAX_MECHANISM_BYTES, 'mechanism.png')
    try:  # Pillow reads only the header here: the size is checked before anything is decoded
        with Image.open(io.BytesIO(png)) as img:
            fmt, size = img.format, img.size
    except (OSError, SyntaxError):  # PIL.UnidentifiedImageError is an OSError
        fmt, size = None, (0, 0)
    if fmt != 'PNG':
        raise ValueError(f'{ppath}: not a PNG file (make it with tools/analysis_tools/doei_mechanism.py)')
    problem = pixel_problem(*size)  # the project's one pixel limit (decompression bombs)
    if problem:
        raise ValueError(f'{ppath}: {problem}')
    if cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED) is None:
        raise ValueError(f'{ppath}: a damaged PNG (it does not decode)')
    return mech, png


def _inside(path: str, folder: str) -> bool:
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(osp.sep) + osp.sep)


def list_ids(runs: Sequence[str], split: Optional[Sequence[str]] = None) -> List[str]:
    """The image ids to compare: ``split`` or the CAM files of the first run; every run must have all.

    Raises:
        FileNotFoundError: a run folder that does not exist, or CAM files missing in a run (listed).
    """
    for run in runs:
        if not osp.isdir(run):
            raise FileNotFoundError(f'CAM folder {run} does not exist')
    if split is not None:
        ids = [check_id(i, f'split id {n + 1}') for n, i in enumerate(split)]
    else:
        ids = list(cam_files(runs[0]))
    if not ids:
        raise FileNotFoundError(f'{runs[0]}: no CAM files (*.npz) to compare')
    for run in runs:
        missing, odd = [], []
        for i in ids:
            path = cam_path(run, i)
            if not osp.lexists(path):
                missing.append(i)
            elif not osp.isfile(path) or not _inside(path, run):
                # a link to another folder's CAM would be scored as this image's (or a device, FIFO, directory)
                odd.append(osp.basename(path))
        if odd:
            raise ValueError(f'{run}: {len(odd)} CAM file(s) are not regular files inside the folder (a link out '
                             f'of it, a device, a FIFO or a directory), e.g. {", ".join(odd[:5])}; refused')
        if missing:
            raise FileNotFoundError(f'{run}: {len(missing)} of {len(ids)} CAM files missing, e.g. '
                                    f'{", ".join(osp.basename(cam_path(run, m)) for m in missing[:5])}; all runs must '
                                    'cover the same images')
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
    """Thumbnails under ``out/thumbs``: drawn only when the file for that digest is absent.

    ``key`` must hold the stamp of every file the picture is drawn from (a
    CAM's overlay: the CAM, the image under it and the ground truth whose
    size the CAM is resized to), so a changed input gets a new name.
    """

    def __init__(self, out_dir: Path) -> None:
        self.dir = out_dir / 'thumbs'
        self.dir.mkdir(parents=True, exist_ok=True)
        self.written = self.reused = 0
        self.used = set()

    def prune(self) -> List[Path]:
        """Delete the thumbnails (``*.png``) this run did not use; returns them."""
        stale = [p for p in self.dir.glob('*.png') if p.name not in self.used]
        for p in stale:
            p.unlink()
        return stale

    def get(self, name: str, key: list, draw) -> str:
        """The thumbnail's path relative to the report; ``draw()`` gives the RGB picture if it is new."""
        path = self.dir / f'{name}.{_digest(THUMB_VERSION, THUMB_SIDE, *key)}.png'
        if path.is_file():
            self.reused += 1
        else:
            rgb = draw()
            save_png(path, cv2.resize(rgb, _thumb_size(rgb.shape[:2]), interpolation=cv2.INTER_AREA))
            self.written += 1
        self.used.add(path.name)
        return f'thumbs/{path.name}'


def compare_runs(runs: Sequence[str], data_root: str, out_dir: str, names: Optional[Sequence[str]] = None,
                 split: Optional[Sequence[str]] = None, gt_dir: str = 'SegmentationClassAug',
                 img_dir: str = 'JPEGImages', img_suffix: str = '.jpg', num_classes: int = 21,
                 mechanism_dir: Optional[str] = None, page_size: int = PAGE_SIZE) -> Dict:
    """Evaluate the runs, draw the thumbnails and write ``out_dir/index.html`` (atomically).

    The inputs are checked before anything is written; then ``out_dir`` is
    locked (:func:`mmdoei.utils.locks.folder_lock`) for the rest of the run,
    and after ``index.html`` is written the thumbnails it no longer shows are
    deleted.

    Returns:
        ``dict(html, summary, images, thumbs_written, thumbs_reused, thumbs_removed)``.

    Raises:
        FileNotFoundError / ValueError: naming the folder or file, before anything is written into ``out_dir``.
        mmdoei.utils.locks.LockedError: another run writes into ``out_dir`` (named in the message).
    """
    if page_size < 1:
        raise ValueError(f'page_size must be at least 1, got {page_size}')
    if len(runs) < 2:
        raise ValueError(f'compare at least two CAM folders, got {len(runs)}')
    names = list(names or [Path(r).name or str(r) for r in runs])
    if len(set(names)) != len(names):
        names = [f'{i + 1}:{n}' for i, n in enumerate(names)]
    for run in runs:
        if _inside(out_dir, run):
            raise ValueError(f'report folder {out_dir} is the CAM folder {run} or inside it; refused: give an '
                             '--out outside the CAM folders')
    if _inside(out_dir, data_root):
        raise ValueError(f'report folder {out_dir} is the data root {data_root} or inside it; refused: give an '
                         '--out outside the dataset')
    ids = list_ids(runs, split)
    gt_root, img_root = osp.join(data_root, gt_dir), osp.join(data_root, img_dir)
    missing_img = [i for i in ids if not osp.isfile(osp.join(img_root, i + img_suffix))]
    if missing_img:
        raise FileNotFoundError(f'{img_root}: {len(missing_img)} image(s) missing, e.g. '
                                f'{", ".join(m + img_suffix for m in missing_img[:5])}')
    mechanism, mechanism_png = load_mechanism(mechanism_dir) if mechanism_dir is not None else (None, None)
    class_names = list(seg_class_names(num_classes))  # background first
    out = Path(out_dir)
    with folder_lock(out, 'report folder'):
        return _write_report(runs, names, ids, gt_root, img_root, img_suffix, num_classes, class_names, out,
                             mechanism, mechanism_png, page_size)


def _write_report(runs, names, ids, gt_root, img_root, img_suffix, num_classes, class_names, out, mechanism,
                  mechanism_png, page_size) -> Dict:
    """:func:`compare_runs` after its checks, holding the lock of ``out``."""
    results = [evaluate_cam_dir(r, gt_root, ids, num_classes, progress=False) for r in runs]
    reports = [build_report(res, class_names) for res in results]
    thresholds = [res['best_threshold'] for res in results]
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

        img_stamp, gt_stamp = _stamp(img_path), _stamp(gt_path)
        row = dict(id=img_id, image=thumbs.get(f'{img_id}.image', img_stamp, image),
                   gt=thumbs.get(f'{img_id}.gt', gt_stamp, lambda: label_image(gt)), runs=[])
        gt_classes = sorted(int(c) - 1 for c in np.unique(gt) if 0 < c < num_classes)
        for j, (run, name, thr) in enumerate(zip(runs, names, thresholds)):
            cam_file = cam_path(run, img_id)
            keys, cams = load_cam(cam_file, num_classes, gt.shape)
            seed = cams_to_seed(cams, keys, thr)
            iou = iou_fp_fn(confusion_matrix(seed, gt, num_classes))['miou']
            shown = scale_cams(cams, 'per_class')
            # drawn over the image, from the CAM resized to the ground truth's size
            stamp = _stamp(cam_file) + img_stamp + gt_stamp
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

    if mechanism_png is not None:
        # the bytes checked before the run, not a second read of a file that may have changed since
        with atomic_write(out / 'mechanism.png') as f:
            f.write(mechanism_png)
    summary = dict(names=names, thresholds=thresholds, reports=reports)
    page = render_html(summary, rows, class_names[1:], mechanism, page_size)
    with atomic_write(out / 'index.html', 'w') as f:
        f.write(page)
    removed = thumbs.prune()
    return dict(html=out / 'index.html', summary=summary, images=rows, thumbs_written=thumbs.written,
                thumbs_reused=thumbs.reused, thumbs_removed=len(removed))


def _fmt(v, signed: bool = False) -> str:
    if v is None:
        return 'n/a'
    return f'{v:+.2f}' if signed else f'{v:.2f}'


def _delta(a, b):
    return None if a is None or b is None else round(b - a, 4)


def render_html(summary: Dict, rows: List[Dict], fg_names: Sequence[str], mechanism: Optional[Dict],
                page_size: int = PAGE_SIZE) -> str:
    """The report page (see the module docstring).

    Every value is HTML-escaped (ids, names and mechanism.json come from
    files), and every thumbnail link is percent-encoded: an id with ``#``,
    ``?`` or ``%`` is a fragment, a query or an escape in a URL.
    """
    def e(v) -> str:
        return html.escape(str(v))

    def u(src: str) -> str:
        return html.escape(urllib.parse.quote(src))
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
                 f'<td><img loading="lazy" src="{u(r["image"])}" alt="image {e(r["id"])}"></td>',
                 f'<td><img loading="lazy" src="{u(r["gt"])}" alt="ground truth {e(r["id"])}"></td>']
        for run in r['runs']:
            cams = ''.join(f'<figure><img loading="lazy" src="{u(c["src"])}" alt="{e(run["name"])} {e(c["cls"])}">'
                           f'<figcaption>{e(c["cls"])}</figcaption></figure>' for c in run['cams'])
            cells.append(f'<td><div class="run">{e(run["name"])}: IoU {_fmt(run["miou"])}</div><figure>'
                         f'<img loading="lazy" src="{u(run["seed"])}" alt="{e(run["name"])} seeds">'
                         f'<figcaption>seeds</figcaption></figure>{cams}</td>')
        delta = '' if r['delta'] is None else r['delta']
        irows.append(f'<tr class="img-row" data-id="{e(r["id"])}" data-order="{i}" data-delta="{e(delta)}" '
                     f'data-classes="{e(" ".join(c.replace(" ", "_") for c in r["classes"]))}">'
                     + ''.join(cells) + '</tr>')
    options = ''.join(f'<option value="{e(n.replace(" ", "_"))}">{e(n)}</option>' for n in fg_names)
    mech = ''
    if mechanism is not None:
        mrows = ''.join(f'<tr><td>{e(b["block"])}</td><td>{len(b["amplified"])}</td>'
                        f'<td>{len(b["suppressed"])}</td><td>{e(b["cpdo_amplified"])}</td>'
                        f'<td>{e(b["cpdo_suppressed"])}</td></tr>' for b in mechanism['blocks'])
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
