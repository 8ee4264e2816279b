"""compare_cams.py: the report of two CAM folders, run as a user runs it and opened in headless Chromium."""
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'analysis_tools' / 'compare_cams.py'
CHROMIUM = shutil.which('chromium')
N_IMAGES = 12
PAGE_SIZE = 5  # --page-size: three pages
MECH_TOOL = ROOT / 'tools' / 'analysis_tools' / 'doei_mechanism.py'
MECH_CONFIG = ROOT / 'tests' / 'data' / 'configs' / 'tiny_mct_voc.py'

pytestmark = pytest.mark.slow


def make_runs(tmp: Path):
    """A small synthetic VOC and two CAM folders: A blurred and shifted off the objects, B on them."""
    from mmdoei.cam.io import save_cam
    from mmdoei.generators.synthetic import make_synthetic_voc
    from mmdoei.utils.files import read_label_png
    voc = make_synthetic_voc(tmp / 'data', num_train=N_IMAGES, num_val=0, img_size=(40, 48), num_train_voc=N_IMAGES)
    rng = np.random.default_rng(0)
    for run in ('baseline', 'doei'):
        (tmp / run).mkdir()
    for png in sorted((voc / 'SegmentationClassAug').glob('*.png')):
        gt = read_label_png(str(png))
        labels = sorted(int(c) - 1 for c in np.unique(gt) if 0 < c < 21)
        good = np.stack([cv2.GaussianBlur((gt == c + 1).astype(np.float32), (7, 7), 2) for c in labels])
        noise = rng.random(good.shape).astype(np.float32)
        shift = rng.integers(-8, 9)
        bad = np.roll(good, shift, axis=2) * 0.6 + 0.4 * noise
        save_cam(tmp / 'baseline' / f'{png.stem}.npz', labels, bad / bad.max(axis=(1, 2), keepdims=True))
        save_cam(tmp / 'doei' / f'{png.stem}.npz', labels, good / good.max(axis=(1, 2), keepdims=True))
    return voc


def chromium(*args, timeout=60):
    return subprocess.run([CHROMIUM, '--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
                           '--user-data-dir=' + str(Path(os.environ.get('TMPDIR', '/tmp')) / f'chr{os.getpid()}'),
                           *args], capture_output=True, text=True, timeout=timeout)


def rows_of(dom: str):
    """``(id, hidden)`` of every image row, in document order."""
    return [(re.search(r'data-id="([^"]+)"', m.group(1)).group(1), ' hidden' in m.group(1))
            for m in re.finditer(r'<tr class="img-row"([^>]*)>', dom)]


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip('chromium is not installed (tools/install.sh installs it in CI)')
    tmp = tmp_path_factory.mktemp('compare')
    voc = make_runs(tmp)
    out = tmp / 'report'
    # the mechanism view of a tiny MCTformer (its own checkpoint) on the shipped photo, then into the report
    ckpt, mech = tmp / 'tiny.pth', tmp / 'mechanism'
    make = ('import torch; from mmdoei.apis import init_model; torch.manual_seed(0)\n'
            f'm = init_model({str(MECH_CONFIG)!r})\n'
            f'torch.save(dict(state_dict=m.state_dict(), meta={{}}), {str(ckpt)!r})')
    res = subprocess.run([sys.executable, '-c', make], capture_output=True, text=True, cwd=ROOT, env=os.environ,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    res = subprocess.run([sys.executable, str(MECH_TOOL), str(MECH_CONFIG), '--checkpoint', str(ckpt), '--doei',
                          '--image', str(ROOT / 'demo/chelsea.jpg'), '--class', 'cat', '--out', str(mech)],
                         capture_output=True, text=True, cwd=ROOT, env=os.environ, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    cmd = [sys.executable, str(TOOL), str(tmp / 'baseline'), str(tmp / 'doei'), '--data-root', str(voc),
           '--out', str(out), '--page-size', str(PAGE_SIZE), '--mechanism', str(mech)]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    url = (out / 'index.html').as_uri()
    page = (out / 'index.html').read_text()
    counts = {}
    for classes in re.findall(r'data-classes="([^"]*)"', page):
        for c in classes.split():
            counts[c] = counts.get(c, 0) + 1
    # a class on some images but not all, the commonest such
    cls = max((c for c, n in counts.items() if n < N_IMAGES), key=lambda c: (counts[c], c))
    doms = {}
    for state in ('', 'sort=delta', 'sort=-delta', f'class={cls}', 'sort=delta&page=2'):
        res = chromium('--dump-dom', url + ('#' + state if state else ''))
        assert res.returncode == 0, res.stderr[-2000:]
        doms[state.replace(cls, 'CLS')] = res.stdout
    shot = tmp / 'shot.png'
    res = chromium(f'--screenshot={shot}', '--window-size=1280,2000', '--hide-scrollbars', url)
    assert shot.is_file(), res.stderr[-2000:]
    return dict(out=out, stdout=run.stdout, doms=doms, shot=shot, voc=voc, tmp=tmp, cls=cls, mech=mech)


def test_mechanism_view_reaches_the_report(report):
    import json
    mech = json.loads((report['mech'] / 'mechanism.json').read_text())
    png = cv2.imread(str(report['mech'] / 'mechanism.png'))
    assert png is not None and png.std() > 0
    # the tiny config has 2 blocks: DOEI acts after each (layers: all)
    assert len(mech['blocks']) == 2
    assert (report['out'] / 'mechanism.png').read_bytes() == (report['mech'] / 'mechanism.png').read_bytes()
    assert 'mechanism.png' in report['doms']['']


def test_page_loads_without_errors_and_every_image_exists(report):
    dom = report['doms']['']
    errors = re.search(r'<pre id="errors" hidden="">(.*?)</pre>', dom, re.S)
    assert errors is not None and errors.group(1) == '', errors
    srcs = set(re.findall(r'src="([^"]+)"', dom))
    # per image: image, ground truth, per run a seed and one CAM per class
    assert len(srcs) > 4 * N_IMAGES
    missing = [s for s in srcs if not (report['out'] / urllib.parse.unquote(s)).is_file()]
    assert not missing
    assert not any(s.startswith(('http:', 'https:', '//')) for s in srcs)  # no network
    assert '<script src=' not in dom and '<link ' not in dom
    rows = rows_of(dom)
    assert len(rows) == N_IMAGES
    assert sum(not hidden for _, hidden in rows) == PAGE_SIZE  # the first page
    assert 'page 1 of 3, 12 images' in dom


def test_summary_says_doei_run_is_better(report):
    assert re.search(r'baseline: seed mIoU [\d.]+', report['stdout'])
    assert '12 images; thumbnails: ' in report['stdout'] and ' 0 reused' in report['stdout']
    dom = report['doms']['']
    row = re.search(r'<tr><th>seed mIoU \(%\)</th>(.*?)</tr>', dom).group(1)
    a, b, delta = (float(v) for v in re.findall(r'<td>([+-]?[\d.]+)</td>', row))
    assert b > a and delta == pytest.approx(b - a, abs=0.011)
    assert 'background threshold' in dom and '<table id="class-table">' in dom


def test_sorting_and_filtering_change_order_and_visible_rows(report):
    doms = report['doms']
    deltas = {m.group(1): float(m.group(2)) for m in
              re.finditer(r'data-id="([^"]+)" data-order="\d+" data-delta="([^"]+)"', doms[''])}
    by_id = [i for i, _ in rows_of(doms[''])]
    assert by_id == sorted(by_id)
    asc = [i for i, _ in rows_of(doms['sort=delta'])]
    desc = [i for i, _ in rows_of(doms['sort=-delta'])]
    assert [deltas[i] for i in asc] == sorted(deltas.values())
    assert [deltas[i] for i in desc] == sorted(deltas.values(), reverse=True)
    assert asc != by_id
    # page 2 of the ascending order: rows 6 to 10 visible
    assert [i for i, hidden in rows_of(doms['sort=delta&page=2']) if not hidden] == asc[5:10]
    shown = [i for i, hidden in rows_of(doms['class=CLS']) if not hidden]
    with_cls = [m.group(1) for m in re.finditer(r'data-id="([^"]+)"[^>]*data-classes="([^"]*)"', doms[''])
                if report['cls'] in m.group(2).split()]
    assert shown and shown == with_cls[:PAGE_SIZE] and len(with_cls) < N_IMAGES
    assert f'{len(with_cls)} images' in doms['class=CLS']


def test_screenshot_shows_tables_and_thumbnails(report):
    shot = cv2.imread(str(report['shot']))
    assert shot.shape[:2] == (2000, 1280)
    # structural: the top band (title, tables) has dark text; the image rows below carry colour
    grey = cv2.cvtColor(shot, cv2.COLOR_BGR2GRAY)
    assert (grey[:300] < 100).mean() > 0.002
    sat = cv2.cvtColor(shot, cv2.COLOR_BGR2HSV)[..., 1]
    rows_band = sat[1000:2000]
    coloured = (rows_band > 80).mean(axis=1)
    assert (coloured > 0.05).sum() > 200  # hundreds of screen lines cross coloured thumbnails


def test_rerun_reuses_thumbnails_and_bad_input_is_named(report, tmp_path):
    from mmdoei.analysis.compare import compare_runs
    tmp = report['tmp']
    before = {p.name: p.stat().st_mtime_ns for p in (report['out'] / 'thumbs').iterdir()}
    res = compare_runs([str(tmp / 'baseline'), str(tmp / 'doei')], str(report['voc']), str(report['out']))
    assert res['thumbs_written'] == 0 and res['thumbs_reused'] == len(before)
    assert {p.name: p.stat().st_mtime_ns for p in (report['out'] / 'thumbs').iterdir()} == before
    partial = tmp_path / 'partial'
    partial.mkdir()
    shutil.copy(next((tmp / 'doei').glob('*.npz')), partial)
    with pytest.raises(FileNotFoundError, match=rf'{re.escape(str(partial))}: {N_IMAGES - 1} of {N_IMAGES} CAM '
                       r'files missing, e\.g\. '):
        compare_runs([str(tmp / 'baseline'), str(partial)], str(report['voc']), str(tmp_path / 'r'))


def test_help_does_not_import_torch():
    code = ('import runpy, sys\nsys.argv = ["compare_cams.py", "--help"]\n'
            f'try:\n    runpy.run_path({str(TOOL)!r}, run_name="__main__")\nexcept SystemExit:\n    pass\n'
            'print("TORCH", "torch" in sys.modules)')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, env=os.environ)
    assert 'TORCH False' in res.stdout and '--data-root' in res.stdout, res.stderr
