"""compare_cams.py: the report of two CAM folders, run as a user runs it and opened in headless Chromium.

The tests marked slow share one report made by the tool in a fresh interpreter; the others call
:func:`compare_runs` or the tool's ``main`` in-process on a six-image set (bad input, escaping, links,
stale thumbnails, the lock).
"""
import ast
import html
import json
import os
import os.path as osp
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

#: Ids that are a fragment, a query and a percent escape in a URL.
ODD_IDS = ('a#b', 'c?d', 'e%41f')


def make_runs(tmp: Path, n: int = N_IMAGES):
    """A small synthetic VOC and two CAM folders: A blurred and shifted off the objects, B on them."""
    from mmdoei.cam.io import save_cam
    from mmdoei.utils.files import read_label_png
    from projects.wsss_lab.synthetic import make_synthetic_voc
    voc = make_synthetic_voc(tmp / 'data', num_train=n, num_val=0, img_size=(40, 48), num_train_voc=n)
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


@pytest.mark.slow
def test_mechanism_view_reaches_the_report(report):
    mech = json.loads((report['mech'] / 'mechanism.json').read_text())
    png = cv2.imread(str(report['mech'] / 'mechanism.png'))
    assert png is not None and png.std() > 0
    # the tiny config has 2 blocks: DOEI acts after each (layers: all)
    assert len(mech['blocks']) == 2
    assert (report['out'] / 'mechanism.png').read_bytes() == (report['mech'] / 'mechanism.png').read_bytes()
    assert 'mechanism.png' in report['doms']['']


@pytest.mark.slow
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


@pytest.mark.slow
def test_summary_says_doei_run_is_better(report):
    assert re.search(r'baseline: seed mIoU [\d.]+', report['stdout'])
    assert '12 images; thumbnails: ' in report['stdout'] and ' 0 reused' in report['stdout']
    dom = report['doms']['']
    row = re.search(r'<tr><th>seed mIoU \(%\)</th>(.*?)</tr>', dom).group(1)
    a, b, delta = (float(v) for v in re.findall(r'<td>([+-]?[\d.]+)</td>', row))
    assert b > a and delta == pytest.approx(b - a, abs=0.011)
    assert 'background threshold' in dom and '<table id="class-table">' in dom


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_help_does_not_import_torch():
    code = ('import runpy, sys\nsys.argv = ["compare_cams.py", "--help"]\n'
            f'try:\n    runpy.run_path({str(TOOL)!r}, run_name="__main__")\nexcept SystemExit:\n    pass\n'
            'print("TORCH", "torch" in sys.modules)')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, env=os.environ)
    assert 'TORCH False' in res.stdout and '--data-root' in res.stdout, res.stderr


# ---- in-process: bad input, escaping, links, stale thumbnails, the lock (issue 27) ----


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    """Three synthetic images plus copies of the first under the ids of :data:`ODD_IDS`; two CAM folders."""
    tmp = tmp_path_factory.mktemp('compare_small')
    voc = make_runs(tmp, n=3)
    first = sorted(p.stem for p in (tmp / 'doei').glob('*.npz'))[0]
    for new in ODD_IDS:
        shutil.copy(voc / 'JPEGImages' / f'{first}.jpg', voc / 'JPEGImages' / f'{new}.jpg')
        shutil.copy(voc / 'SegmentationClassAug' / f'{first}.png', voc / 'SegmentationClassAug' / f'{new}.png')
        for run in ('baseline', 'doei'):
            shutil.copy(tmp / run / f'{first}.npz', tmp / run / f'{new}.npz')
    return dict(voc=voc, runs=[str(tmp / 'baseline'), str(tmp / 'doei')], first=first)


def good_mechanism():
    return dict(class_name='cat', blocks=[dict(block=0, grid=[2, 2], k_p=1, k_c=1, ppdo=True, cpdo=True,
                                               amplified=[0], suppressed=[1, 2, 3], cpdo_amplified=[4],
                                               cpdo_suppressed=[])])


def png_bytes():
    from mmdoei.cam.render import encode_png
    return encode_png(np.full((8, 8, 3), 200, np.uint8))


def test_render_html_escapes_every_value():
    """A value from a file (mechanism.json's block, an id, a run name) never becomes markup; links are encoded."""
    from mmdoei.analysis.compare import render_html
    bad = '<img src=x onerror=alert(1)>'
    rep = dict(mIoU=50.0, FP=10.0, FN=20.0, per_class={bad: dict(IoU=40.0)})
    summary = dict(names=[bad, 'doei'], thresholds=[0.3, 0.4], reports=[rep, rep])
    rows = [dict(id=bad, delta=None, image='thumbs/a#b.image.png', gt='thumbs/e%41f.gt.png', classes=[bad],
                 runs=[dict(name=bad, miou=None, seed='thumbs/s.png', classes=[bad],
                            cams=[dict(cls=bad, src='thumbs/c?d.cam.png')])])]
    mech = dict(class_name=bad, blocks=[dict(block=bad, amplified=[], suppressed=[], cpdo_amplified=[bad],
                                             cpdo_suppressed=[bad])])
    page = render_html(summary, rows, [bad], mech)
    assert '<img src=x' not in page
    assert '<td>&lt;img src=x onerror=alert(1)&gt;</td>' in page  # the mechanism table's block cell
    for src in ('thumbs/a%23b.image.png', 'thumbs/e%2541f.gt.png', 'thumbs/c%3Fd.cam.png'):
        assert f'src="{src}"' in page


def _bad_mechanisms():
    """name: (mechanism.json text or None, mechanism.png (True: a good one, 'cut': truncated, bytes, None: none),
    exception, (the file named, the message after it))."""
    good = good_mechanism()
    html_block = good_mechanism()
    html_block['blocks'][0]['block'] = '<script>alert(1)</script>'
    str_tokens = good_mechanism()
    str_tokens['blocks'][0]['cpdo_amplified'] = ['<b>x</b>']
    return {
        'block_is_markup': (json.dumps(html_block), True, ValueError,
                            ('mechanism.json', r': blocks\[0\]\["block"\] must be an integer, got '
                             r"'<script>alert\(1\)</script>'")),
        'blocks_not_a_list': (json.dumps(dict(class_name='cat', blocks={'0': 1})), True, ValueError,
                              ('mechanism.json', r': "blocks" must be a list of objects, got dict')),
        'block_not_a_dict': (json.dumps(dict(class_name='cat', blocks=[3])), True, ValueError,
                             ('mechanism.json', r': blocks\[0\] must be an object, got int')),
        'token_not_an_int': (json.dumps(str_tokens), True, ValueError,
                             ('mechanism.json', r': blocks\[0\]\["cpdo_amplified"\] must be a list of integer '
                              r"token indices, got \['<b>x</b>'\]")),
        'not_json': ('{"class_name": "cat", ', True, ValueError, ('mechanism.json', r': not valid JSON \(')),
        'json_missing': (None, True, FileNotFoundError, ('', r': no mechanism.json \(make it with ')),
        'png_missing': (json.dumps(good), None, FileNotFoundError, ('', r': no mechanism.png \(make it with ')),
        'png_not_png': (json.dumps(good), b'GIF89a not a png', ValueError, ('mechanism.png', r': not a PNG file')),
        'png_truncated': (json.dumps(good), 'cut', ValueError,
                          ('mechanism.png', r': a damaged PNG \(it does not decode\)')),
    }


@pytest.mark.parametrize('case', sorted(_bad_mechanisms()))
def test_bad_mechanism_folder_stops_before_anything_is_written(small, tmp_path, case):
    from mmdoei.analysis.compare import compare_runs
    text, png, exc, (name, msg) = _bad_mechanisms()[case]
    mech = tmp_path / 'mechanism'
    mech.mkdir()
    if text is not None:
        (mech / 'mechanism.json').write_text(text)
    if png is not None:
        data = png_bytes()
        (mech / 'mechanism.png').write_bytes(data if png is True else data[:60] if png == 'cut' else png)
    out = tmp_path / 'report'
    where = mech / name if name else mech
    with pytest.raises(exc, match='^' + re.escape(str(where)) + msg):
        compare_runs(small['runs'], str(small['voc']), str(out), mechanism_dir=str(mech))
    assert not out.exists()  # checked before the report folder is made or a thumbnail drawn


def resolve(index: Path, src: str) -> Path:
    """The file a browser opens for ``src`` in ``index``: a URL relative to the page (``#``, ``?``, ``%`` count)."""
    url = urllib.parse.urljoin(index.as_uri(), html.unescape(src))
    return Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))


def test_odd_id_links_resolve_and_a_changed_image_redraws_its_overlays(small, tmp_path):
    """Ids with #, ? and % get working links; an image rewritten between runs gets new CAM and seed overlays
    (not the old ones drawn over the old image), and the thumbnails no longer shown are deleted. The mechanism
    view is copied under a temporary name of the run's own, not one planted in the report folder."""
    from mmdoei.analysis.compare import compare_runs
    voc = tmp_path / 'voc'
    shutil.copytree(small['voc'], voc)
    mech, out, precious = tmp_path / 'mechanism', tmp_path / 'report', tmp_path / 'precious.txt'
    mech.mkdir()
    (mech / 'mechanism.json').write_text(json.dumps(good_mechanism()))
    (mech / 'mechanism.png').write_bytes(png_bytes())
    precious.write_text('keep me')
    out.mkdir()
    (out / '.mechanism.png.tmp').symlink_to(precious)  # the fixed temporary name the copy used to write through
    res = compare_runs(small['runs'], str(voc), str(out), mechanism_dir=str(mech))
    assert precious.read_text() == 'keep me'
    assert (out / 'mechanism.png').read_bytes() == png_bytes() and not (out / 'mechanism.png').is_symlink()
    index = out / 'index.html'
    srcs = re.findall(r'src="([^"]+)"', index.read_text())
    files = [resolve(index, s) for s in srcs]
    assert [s for s, f in zip(srcs, files) if not f.is_file()] == []
    for odd in ODD_IDS:  # each odd id's own thumbnails are what its links open
        assert {f.name.split('.')[1] for f in files if f.name.startswith(odd + '.')} == {'image', 'gt', 'run0', 'run1'}
    assert res['thumbs_removed'] == 0
    row = next(r for r in res['images'] if r['id'] == small['first'])
    # the image changes (content and stamp); the CAMs and the ground truth do not
    img = voc / 'JPEGImages' / f'{small["first"]}.jpg'
    cv2.imwrite(str(img), 255 - cv2.imread(str(img)))
    st = img.stat()
    os.utime(img, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    thumbs = out / 'thumbs'
    (thumbs / 'gone.0123456789.png').write_bytes(png_bytes())  # a thumbnail of an image no longer compared
    (thumbs / 'notes.txt').write_text('not a thumbnail: kept')
    res2 = compare_runs(small['runs'], str(voc), str(out))
    n_overlays = sum(1 + len(run['cams']) for run in row['runs'])  # per run: seeds and each class's CAM
    assert res2['thumbs_written'] == 1 + n_overlays  # the image and every overlay on it; not the ground truth
    row2 = next(r for r in res2['images'] if r['id'] == small['first'])
    assert row2['gt'] == row['gt'] and row2['image'] != row['image']
    for a, b in zip(row['runs'], row2['runs']):
        assert a['seed'] != b['seed'] and not {c['src'] for c in a['cams']} & {c['src'] for c in b['cams']}
    assert res2['thumbs_removed'] == 1 + n_overlays + 1  # the old image, its old overlays and gone.*.png
    shown = {resolve(index, s).name for s in re.findall(r'src="([^"]+)"', index.read_text())}
    assert set(os.listdir(thumbs)) == shown | {'notes.txt'}


def test_report_folder_in_use_or_inside_a_cam_folder_is_refused(small, tmp_path):
    from mmdoei.analysis.compare import compare_runs
    from mmdoei.utils.locks import LockedError, folder_lock
    out = tmp_path / 'report'
    with folder_lock(out, 'report folder'):
        with pytest.raises(LockedError, match=rf'^report folder {re.escape(str(out))} is in use by another run '
                           rf'\(host \S+ pid {os.getpid()}, lock file '):
            compare_runs(small['runs'], str(small['voc']), str(out))
    assert os.listdir(out) == ['.mmdoei.lock']
    cams = small['runs'][1]
    before = sorted(os.listdir(cams))
    for bad in (cams, osp.join(cams, 'report'), cams + '/./'):
        with pytest.raises(ValueError, match=rf'^report folder {re.escape(bad)} is the CAM folder '
                           rf'{re.escape(cams)} or inside it; refused'):
            compare_runs(small['runs'], str(small['voc']), bad)
    assert sorted(os.listdir(cams)) == before


def test_split_errors_are_one_line_and_name_the_file_and_line(small, tmp_path):
    """The tool's --split: missing file, ids that are paths or hidden names; the API's split too."""
    import runpy

    from mmdoei.analysis.compare import compare_runs
    main = runpy.run_path(str(TOOL))['main']
    voc, out = small['voc'], tmp_path / 'report'
    cases = {'missing': (None, f'split file {voc}/missing.txt does not exist')}
    for name, lines, lineno, msg in (
            ('hidden', [small['first'], '', '.hidden'], 3, "image id '.hidden' refused: ids must not contain"),
            ('dotdot', ['x..y.jpg'], 1, "image id 'x..y.jpg' refused: ids must not contain"),
            ('folder', [small['first'], 'sub/x'], 2, "image id 'sub/x' refused: ids must not contain")):
        split = tmp_path / f'{name}.txt'
        split.write_text('\n'.join(lines) + '\n')
        cases[name] = (split, f'split file {split}, line {lineno}: {msg}')
    backslash = tmp_path / 'backslash.txt'
    backslash.write_text('..\\x\n')
    cases['backslash'] = (backslash, f"{backslash}:1: '..\\\\x' is not an image id")
    for name, (split, msg) in cases.items():
        arg = str(split) if split is not None else 'missing.txt'
        with pytest.raises(SystemExit) as e:
            main([*small['runs'], '--data-root', str(voc), '--out', str(out), '--split', arg])
        assert isinstance(e.value.code, str) and e.value.code.startswith(f'compare_cams: {msg}'), (name, e.value)
    assert not out.exists()
    with pytest.raises(ValueError, match=r"^split id 2: image id '\.\./x' refused"):
        compare_runs(small['runs'], str(voc), str(out), split=[small['first'], '../x'])


def test_doei_mechanism_help_example_image_exists():
    doc = ast.get_docstring(ast.parse(MECH_TOOL.read_text()))
    images = re.findall(r'--image (\S+)', doc)
    assert images and all((ROOT / i).is_file() for i in images), images


def test_cam_links_out_of_the_folder_and_a_report_inside_the_data_are_refused(small, tmp_path):
    """Second outside attack: a CAM file that is a link to another folder's CAM was scored as this image's;
    a link to a device or a directory of that name was reported as "missing"; --out inside the data root wrote
    the report among the images."""
    import shutil

    from mmdoei.analysis.compare import compare_runs
    voc = str(small['voc'])
    with pytest.raises(ValueError, match=rf'^report folder {re.escape(voc)}/JPEGImages is the data root '
                       rf'{re.escape(voc)} or inside it; refused'):
        compare_runs(small['runs'], voc, voc + '/JPEGImages')
    assert not osp.exists(osp.join(voc, 'JPEGImages', 'index.html'))
    src = small['runs'][0]
    ids = sorted(p[:-4] for p in os.listdir(src) if p.endswith('.npz'))
    for kind in ('outside', 'devnull', 'dir'):
        run = tmp_path / kind
        shutil.copytree(src, run)
        target = run / f'{ids[0]}.npz'
        target.unlink()
        if kind == 'outside':
            target.symlink_to(osp.join(small['runs'][1], f'{ids[1]}.npz'))
        elif kind == 'devnull':
            target.symlink_to('/dev/null')
        else:
            target.mkdir()
        out = tmp_path / f'report_{kind}'
        with pytest.raises(ValueError, match=rf'^{re.escape(str(run))}: 1 CAM file\(s\) are not regular files inside '
                           rf'the folder \(a link out of it, a device, a FIFO or a directory\), e\.g\. {ids[0]}\.npz'):
            compare_runs([str(run), small['runs'][1]], voc, str(out))
        assert not out.exists()
