"""Planted files that used to exhaust the machine (issue 21, findings 5 and 9):
a CAM or split file linked to ``/dev/zero``, a FIFO among the CAM files, a
few hundred kB of deflated zeros declaring gigabytes of CAMs, a 9000 x 9000
image. Each is refused quickly, with an error that names the file.

The tool-level cases run as a user runs them: one fresh interpreter
(``import mmdoei`` and ``tools/analysis_tools/eval_seeds.py``, no conftest
setup) executes every scenario with its address space capped, so a
regression fails fast (``MemoryError``) instead of eating the machine, and
each scenario has an alarm, so one that blocks (a FIFO) is reported as hung
instead of hanging the suite. The cap is relative: torch alone reserves
about 3 GB of address space at import (``import mmdoei`` 4 GB, of which
under 1 GB is resident), so a fixed 3 GB cap could not even import; the
interpreter starts under an 8 GB cap and, once imported, lowers it to what
it holds plus :data:`HEADROOM`, far below what any of these files took (6
to 23 GB). The unit tests below check each reader in-process.
"""
import io
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mmdoei  # noqa: F401
from mmdoei.cam.io import check_cam_folder, load_cam, read_cam, read_cam_header, save_cam
from mmdoei.utils.files import check_files_exist, image_size, read_label_png, read_split

ROOT = Path(__file__).resolve().parents[2]
EVAL_SEEDS = ROOT / 'tools/analysis_tools/eval_seeds.py'
SPLIT = 'ImageSets/Segmentation/train.txt'
IMPORT_CAP = 8 << 30  # address space for importing torch and mmdoei
HEADROOM = 1536 << 20  # what the scenarios may add to it: a real 81 Mpx CAM file needs more
BIG = 9000  # side of the planted image, GT mask and CAMs: 81 Mpx, under PIL's 89 Mpx limit
ENV_BUDGET = 'MMDOEI_MAX_IMAGE_PIXELS'


def _npy_header(shape, dtype='<f2') -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, dict(descr=dtype, fortran_order=False, shape=shape))
    return buf.getvalue()


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def deflated_zero_cams(path: Path, shape, keys) -> None:
    """An honest CAM file of zeros, deflated: headers and sizes all true, so only
    the declared shape can tell it apart. Written in chunks (never the whole array)."""
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr('keys.npy', _npy(np.asarray(keys, np.int64)))
        with z.open('cams.npy', 'w', force_zip64=True) as f:
            f.write(_npy_header(tuple(shape)))
            left, chunk = int(np.prod(shape)) * 2, bytes(16 << 20)
            while left > 0:
                f.write(chunk[:min(left, len(chunk))])
                left -= len(chunk)


def declared_zero_cams(path: Path, shape, dtype: str, keys) -> int:
    """A CAM file of ``shape`` zeros of ``dtype`` whose deflated stream is built without ever holding or
    compressing the maps: one 4 MB block of zeros compressed once after a full flush (so it depends on
    nothing before it) and repeated. 20 x 7000 x 7000 float64 (7.8 GB) takes 7.6 MB on disk and a second to
    write. Headers and sizes are true; only the CRC is not (computing it means reading 7.8 GB of zeros), so a
    reader that went past the header would fail it: these files test refusals from the header. Returns the
    declared bytes of the maps."""
    head = _npy_header(tuple(shape), dtype)
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    chunk = 4_000_000
    assert nbytes % chunk == 0
    first = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = block.compress(bytes(chunk)) + block.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('keys.npy', _npy(np.asarray(keys, np.int64)))
    keys_zip = path.read_bytes()
    cd_at = keys_zip.rindex(b'PK\x01\x02')  # the keys member's central directory entry: reused below
    keys_local, keys_cd = keys_zip[:cd_at], keys_zip[cd_at:keys_zip.rindex(b'PK\x05\x06')]
    name, size = b'cams.npy', len(head) + nbytes
    stream = first.compress(head) + first.flush(zlib.Z_FULL_FLUSH)
    comp = len(stream) + len(body) * (nbytes // chunk) + len(end)
    zip64 = struct.pack('<HHQQ', 1, 16, size, comp)
    local = struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, 8, 0, 0x21, 0, 0xFFFFFFFF, 0xFFFFFFFF, len(name),
                        len(zip64)) + name + zip64
    offset = len(keys_local)
    with open(path, 'wb') as f:
        f.write(keys_local + local + stream)
        for _ in range(nbytes // chunk):
            f.write(body)
        f.write(end)
        cd_start = f.tell()
        cd = keys_cd + struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, 8, 0, 0x21, 0, 0xFFFFFFFF,
                                   0xFFFFFFFF, len(name), len(zip64), 0, 0, 0, 0, offset) + name + zip64
        f.write(cd)
        f.write(struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 2, 2, len(cd), cd_start, 0))
    return nbytes


# --------------------------------------------------------------------------- fresh-interpreter scenarios

SCRIPT = textwrap.dedent('''
    import json, resource, runpy, signal, sys, time
    cfg = json.loads(sys.argv[1])

    def hung(signum, frame):
        raise TimeoutError('still running after 30 s: blocked or far too slow')

    signal.signal(signal.SIGALRM, hung)
    import mmdoei  # noqa: F401  what a user imports
    import mmdoei.evaluation  # noqa: F401  what eval_seeds imports, before the cap
    from mmdoei.datasets import VOCWSSSDataset
    from mmdoei.datasets.transforms import LoadCAMFromFile

    size = next(int(line.split()[1]) << 10 for line in open('/proc/self/status') if line.startswith('VmSize:'))
    resource.setrlimit(resource.RLIMIT_AS, (size + cfg['headroom'], size + cfg['headroom']))

    def eval_seeds(cam_dir, split='ImageSets/Segmentation/two.txt', gt_dir='SegmentationClassAug'):
        sys.argv = ['eval_seeds.py', '--cam-dir', cam_dir, '--data-root', cfg['root'], '--split', split,
                    '--gt-dir', gt_dir, '--out-dir', cfg['out'], '--no-progress']
        runpy.run_path(cfg['eval_seeds'], run_name='__main__')

    def dataset(split, index=None):
        ds = VOCWSSSDataset(data_root=cfg['root'], split=split, pipeline=[dict(type='LoadImageFromFile')])
        return ds if index is None else ds[index]

    def transform():
        t = LoadCAMFromFile(cfg['cams_big'])
        t(dict(img_id=cfg['ids'][0], ori_shape=tuple(cfg['hw']), gt_label=[0, 1, 2, 3]))

    scenarios = dict(
        baseline=lambda: None,
        cam_dev_zero=lambda: eval_seeds(cfg['cams_zero']),
        split_dev_zero_tool=lambda: eval_seeds(cfg['cams_ok'], split='ImageSets/Segmentation/zero.txt'),
        split_dev_zero_dataset=lambda: dataset('ImageSets/Segmentation/zero.txt'),
        cam_deflated_transform=transform,
        cam_deflated_eval=lambda: eval_seeds(cfg['cams_big'], gt_dir='BigGT'),
        image_9000=lambda: dataset('ImageSets/Segmentation/two.txt', 0),
        cam_fifo=lambda: eval_seeds(cfg['cams_fifo']),
    )
    for name, run in scenarios.items():
        start = time.time()
        signal.alarm(30)
        try:
            run()
            out = dict(ok=True)
        except BaseException as e:  # MemoryError, TimeoutError, SystemExit: each is this scenario's outcome
            out = dict(ok=False, type=type(e).__name__, error=str(e))
        finally:
            signal.alarm(0)
        out.update(seconds=round(time.time() - start, 1),
                   maxrss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10)
        print(json.dumps({name: out}), flush=True)
''')


def _cap_memory():
    resource.setrlimit(resource.RLIMIT_AS, (IMPORT_CAP, IMPORT_CAP))


@pytest.fixture(scope='module')
def planted(synthetic_voc, tmp_path_factory):
    """A VOC copy with every planted file, and the outcome of each scenario in one fresh interpreter."""
    tmp = tmp_path_factory.mktemp('planted')
    root = Path(shutil.copytree(synthetic_voc, tmp / 'VOC2012'))
    ids = read_split(str(root / SPLIT))[:2]
    (root / 'ImageSets/Segmentation/two.txt').write_text('\n'.join(ids) + '\n')
    (root / 'ImageSets/Segmentation/zero.txt').symlink_to('/dev/zero')
    h, w = read_label_png(str(root / 'SegmentationClassAug' / f'{ids[0]}.png')).shape
    folders = {}
    for name in ('cams_ok', 'cams_zero', 'cams_fifo', 'cams_big'):
        folders[name] = tmp / name
        for img_id in ids:
            save_cam(folders[name] / f'{img_id}.npz', [0], np.zeros((1, h, w)))
    (folders['cams_zero'] / f'{ids[0]}.npz').unlink()
    (folders['cams_zero'] / f'{ids[0]}.npz').symlink_to('/dev/zero')
    (folders['cams_fifo'] / f'{ids[0]}.npz').unlink()
    os.mkfifo(folders['cams_fifo'] / f'{ids[0]}.npz')
    deflated_zero_cams(folders['cams_big'] / f'{ids[0]}.npz', (4, BIG, BIG), [0, 1, 2, 3])
    # an honest GT mask of the same size, so only the pixel budget stops the evaluation
    (root / 'BigGT').mkdir()
    shutil.copy(root / 'SegmentationClassAug' / f'{ids[1]}.png', root / 'BigGT' / f'{ids[1]}.png')
    Image.new('P', (BIG, BIG)).save(root / 'BigGT' / f'{ids[0]}.png')
    # the image: PNG bytes under the .jpg name (both PIL and OpenCV go by content)
    Image.new('1', (BIG, BIG)).save(root / 'JPEGImages' / f'{ids[0]}.jpg', 'PNG')
    cfg = dict(root=str(root), ids=ids, hw=[h, w], headroom=HEADROOM, out=str(tmp / 'out'), eval_seeds=str(EVAL_SEEDS),
               **{k: str(v) for k, v in folders.items()})
    env = {k: v for k, v in os.environ.items() if k != ENV_BUDGET}
    try:
        res = subprocess.run([sys.executable, '-c', SCRIPT, json.dumps(cfg)], capture_output=True, text=True,
                             timeout=400, cwd=ROOT, env=env, preexec_fn=_cap_memory)
        stdout, stderr = res.stdout, res.stderr
    except subprocess.TimeoutExpired as e:  # the scenarios that finished have printed their outcome
        stdout, stderr = e.stdout or '', e.stderr or ''
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    outcomes = {}
    for line in stdout.splitlines():
        if line.startswith('{'):
            outcomes.update(json.loads(line))
    assert 'baseline' in outcomes, f'the interpreter did not start under the cap:\n{stderr[-3000:]}'
    return dict(cfg=cfg, tmp=tmp, outcomes=outcomes, stderr=stderr)


def _outcome(planted, name) -> dict:
    out = planted['outcomes'].get(name)
    assert out is not None, f'scenario {name} did not finish:\n{planted["stderr"][-3000:]}'
    assert not out['ok'], f'scenario {name} was accepted'
    assert out['seconds'] < 20, out
    return out


@pytest.mark.slow  # a fresh interpreter imports torch and mmengine
def test_cam_file_linked_to_dev_zero(planted):
    out = _outcome(planted, 'cam_dev_zero')
    path = f'{planted["cfg"]["cams_zero"]}/{planted["cfg"]["ids"][0]}.npz'
    assert out['type'] == 'ValueError'
    assert out['error'] == (f'1 of 2 CAM files listed by split file {planted["cfg"]["root"]}/ImageSets/'
                            f'Segmentation/two.txt are not regular files:\n  {path}: file is a character device '
                            '(a symlink to /dev/zero), not a regular file; refused, since reading it could block '
                            'forever or never end')


@pytest.mark.slow
def test_split_file_linked_to_dev_zero(planted):
    split = f'{planted["cfg"]["root"]}/ImageSets/Segmentation/zero.txt'
    expected = (f'{split}: split file is a character device (a symlink to /dev/zero), not a regular file; '
                'refused, since reading it could block forever or never end')
    tool = _outcome(planted, 'split_dev_zero_tool')
    assert (tool['type'], tool['error']) == ('ValueError', expected)
    ds = _outcome(planted, 'split_dev_zero_dataset')
    assert (ds['type'], ds['error']) == ('ValueError', expected)


@pytest.mark.slow
def test_deflated_cams_refused_before_allocating(planted):
    """630 kB of deflated zeros that honestly declare 4 x 9000 x 9000 float16 (648 MB, 6 GB to evaluate)."""
    outcomes = planted['outcomes']
    path = f'{planted["cfg"]["cams_big"]}/{planted["cfg"]["ids"][0]}.npz'
    assert os.path.getsize(path) < 1 << 20
    out = _outcome(planted, 'cam_deflated_transform')
    h, w = planted['cfg']['hw']
    assert (out['type'], out['error']) == (
        'ValueError', f'{path}: CAM size {BIG}x{BIG} differs from the image size {h}x{w} (CAMs must be stored at '
        f'the original image size); "cams" declares shape (4, {BIG}, {BIG}), refused before reading it')
    out = _outcome(planted, 'cam_deflated_eval')
    assert out['type'] == 'ValueError'
    assert out['error'].startswith(f'{path}: "cams" declares shape (4, {BIG}, {BIG}): {BIG * BIG} pixels a map, '
                                   'more than the limit of 50000000 ($MMDOEI_MAX_IMAGE_PIXELS')
    assert out['error'].endswith('refused before reading it')
    # nothing the size of the maps was allocated in either
    assert out['maxrss_mb'] - outcomes['baseline']['maxrss_mb'] < 200, outcomes


@pytest.mark.slow
def test_fifo_among_the_cam_files(planted):
    out = _outcome(planted, 'cam_fifo')
    path = f'{planted["cfg"]["cams_fifo"]}/{planted["cfg"]["ids"][0]}.npz'
    assert out['type'] == 'ValueError'
    assert f'are not regular files:\n  {path}: file is a FIFO (named pipe), not a regular file' in out['error']


@pytest.mark.slow
def test_9000_pixel_image_named_under_the_memory_cap(planted):
    out = _outcome(planted, 'image_9000')
    path = f'{planted["cfg"]["root"]}/JPEGImages/{planted["cfg"]["ids"][0]}.jpg'
    assert out['type'] == 'RuntimeError'
    assert out['error'].startswith(f'cannot load sample 0 (image {path}): ValueError: {path}: image declares '
                                   f'{BIG} x {BIG} = {BIG * BIG} pixels, more than the limit of 50000000 '
                                   '($MMDOEI_MAX_IMAGE_PIXELS, default 50000000, and at most '
                                   'PIL.Image.MAX_IMAGE_PIXELS 89478485); refused before decoding')
    assert out['maxrss_mb'] - planted['outcomes']['baseline']['maxrss_mb'] < 200, planted['outcomes']


# --------------------------------------------------------------------------- readers, in-process

def _vm_size() -> int:
    return next(int(line.split()[1]) << 10 for line in open('/proc/self/status') if line.startswith('VmSize:'))


def _hung(signum, frame):
    raise TimeoutError('still running after 20 s: blocked on a FIFO or reading without end')


@pytest.fixture
def guarded():
    """A regression fails this process's test instead of hanging it on a FIFO or filling memory from
    /dev/zero: an alarm, and a soft address-space cap of what it holds plus HEADROOM (both undone after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_size() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def specials(tmp_path, guarded):
    """A FIFO, a link to /dev/zero, a folder, and a link to a regular file (tests run guarded)."""
    fifo, zero, folder, link = (tmp_path / n for n in ('fifo', 'zero', 'folder', 'link'))
    os.mkfifo(fifo)
    zero.symlink_to('/dev/zero')
    folder.mkdir()
    return dict(fifo=(fifo, 'a FIFO (named pipe)'), zero=(zero, 'a character device (a symlink to /dev/zero)'),
                folder=(folder, 'a directory')), link


def test_split_refuses_special_files_and_reads_a_link(specials, tmp_path):
    cases, link = specials
    for path, kind in cases.values():
        with pytest.raises(ValueError) as err:
            read_split(str(path))
        assert str(err.value) == (f'{path}: split file is {kind}, not a regular file; refused, since reading it '
                                  'could block forever or never end')
    (tmp_path / 'real.txt').write_text('a\nb\n')
    link.symlink_to(tmp_path / 'real.txt')
    assert read_split(str(link)) == ['a', 'b']


def test_split_larger_than_the_cap_is_refused_unread(tmp_path, guarded):
    path = tmp_path / 'huge.txt'
    with open(path, 'wb') as f:
        f.truncate((64 << 20) + 1)  # sparse: nothing is written or read
    with pytest.raises(ValueError) as err:
        read_split(str(path))
    assert str(err.value) == f'{path}: split file holds 67108865 bytes, more than the limit of 67108864; refused'


def test_label_and_annotation_files_refuse_special_files(specials):
    from mmdoei.datasets.voc import labels_from_xml, read_cls_labels
    cases, _ = specials
    for path, kind in cases.values():
        for what, read in (('label file', lambda p: read_cls_labels(p, 20)),
                           ('annotation file', lambda p: labels_from_xml(p, ['cat'])),
                           ('label PNG', read_label_png), ('image', image_size)):
            with pytest.raises(ValueError, match='^' + re.escape(f'{path}: {what} is {kind}, not a regular file')):
                read(str(path))


def test_cam_readers_refuse_special_files(specials, tmp_path):
    cases, _ = specials
    for path, kind in cases.values():
        message = f'{path}: CAM file is {kind}, not a regular file; refused'
        for read in (load_cam, read_cam, read_cam_header):
            with pytest.raises(ValueError, match='^' + re.escape(message)):
                read(str(path))
    # check_cam_folder lists them with the others, without opening any
    cam_dir = tmp_path / 'cams'
    cam_dir.mkdir()
    os.mkfifo(cam_dir / 'a.npz')
    (cam_dir / 'b.npz').symlink_to('/dev/zero')
    save_cam(cam_dir / 'c.npz', [0], np.zeros((1, 2, 3)))
    samples = [dict(img_id=i, ori_shape=(2, 3), gt_label=[0]) for i in 'abc']
    with pytest.raises(ValueError) as err:
        check_cam_folder(str(cam_dir), samples)
    assert str(err.value) == (
        f'2 of 3 CAM files in {cam_dir} are unusable:\n'
        f'  {cam_dir}/a.npz: CAM file is a FIFO (named pipe), not a regular file; refused, since reading it could '
        'block forever or never end\n'
        f'  {cam_dir}/b.npz: CAM file is a character device (a symlink to /dev/zero), not a regular file; refused, '
        'since reading it could block forever or never end')


def test_check_files_exist_lists_special_files(specials, tmp_path):
    cases, link = specials
    (tmp_path / 'ok.jpg').write_bytes(b'x')
    link.symlink_to(tmp_path / 'ok.jpg')
    paths = [str(p) for p, _ in cases.values()] + [str(link), str(tmp_path / 'ok.jpg')]
    with pytest.raises(ValueError) as err:
        check_files_exist({'images': paths}, 'split file s.txt')
    lines = str(err.value).splitlines()
    assert lines[0] == '3 of 5 images listed by split file s.txt are not regular files:'
    assert [line.split(': file is ')[0].strip() for line in lines[1:]] == paths[:3]
    # a missing file is still reported as missing, first
    with pytest.raises(FileNotFoundError, match='1 of 6 images listed by split file s.txt are missing'):
        check_files_exist({'images': paths + [str(tmp_path / 'gone.jpg')]}, 'split file s.txt')


def test_pseudo_mask_fifo_is_named(specials):
    from mmdoei.datasets.transforms import LoadPseudoMask
    (fifo, _), *_ = specials[0].values()
    with pytest.raises(ValueError, match=f'^{fifo}: label PNG is a FIFO'):
        LoadPseudoMask()(dict(seg_map_path=str(fifo), ori_shape=(2, 2), img_id='x'))


def _peak(fn):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            fn()
        return err, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_cam_declared_shape_bounded_before_reading(tmp_path, monkeypatch):
    """Deflated zeros with true headers: bounded by the image size where known, else by the pixel
    budget and the number of classes; refused with allocations of kB, not the declared MB."""
    path = tmp_path / 'big.npz'
    deflated_zero_cams(path, (4, 1000, 1500), [0, 1, 2, 3])  # 12 MB of float16 declared, kBs on disk
    assert path.stat().st_size < 100_000
    err, peak = _peak(lambda: read_cam(str(path), labels=[0, 1, 2, 3], img_shape=(20, 30)))
    assert str(err.value) == (f'{path}: CAM size 1000x1500 differs from the image size 20x30 (CAMs must be stored '
                              'at the original image size); "cams" declares shape (4, 1000, 1500), refused before '
                              'reading it')
    assert peak < 1 << 20
    monkeypatch.setenv(ENV_BUDGET, '1000000')
    for read in (load_cam, read_cam_header, read_cam):
        err, peak = _peak(lambda: read(str(path)))
        assert str(err.value).startswith(f'{path}: "cams" declares shape (4, 1000, 1500): 1500000 pixels a map, '
                                         'more than the limit of 1000000 ($MMDOEI_MAX_IMAGE_PIXELS')
        assert peak < 1 << 20
    monkeypatch.setenv(ENV_BUDGET, '1500000')
    keys, cams = load_cam(str(path))  # within the budget: a real (if large) CAM file loads
    assert keys.tolist() == [0, 1, 2, 3] and cams.shape == (4, 1000, 1500) and not cams.any()
    many = tmp_path / 'many.npz'
    deflated_zero_cams(many, (21, 2, 3), list(range(21)))
    with pytest.raises(ValueError) as err:
        load_cam(str(many), num_classes=21)
    assert str(err.value) == (f'{many}: "cams" declares 21 maps (21, 2, 3), more than the 20 foreground classes; '
                              'refused before reading it')


def test_7000_pixel_float64_cams_refused_from_the_header(tmp_path, guarded):
    """7.6 MB on disk declaring 20 x 7000 x 7000 float64 (7.3 GiB): each map is within the pixel budget and
    20 maps is VOC's class count, so only the dtype and the total size can stop it. Refused from the header
    by every reader (the CRC is never reached), under a cap of what this process holds plus 1.5 GB."""
    shape, path = (20, 7000, 7000), tmp_path / 'f8.npz'
    assert declared_zero_cams(path, shape, '<f8', range(20)) == 7_840_000_000
    assert path.stat().st_size < 8 << 20
    assert read_cam_header.__module__ == 'mmdoei.cam.io'
    message = (f'{path}: "cams" has dtype float64; a CAM file holds float16 (as mmdoei writes) or float32 maps; '
               'refused before reading it')
    for read in (lambda: load_cam(str(path), 21, (7000, 7000)), lambda: read_cam_header(str(path), 21),
                 lambda: read_cam(str(path), 21, list(range(20)), (7000, 7000))):
        err, peak = _peak(read)
        assert str(err.value) == message and 'truncated' not in str(err.value)
        assert peak < 1 << 20
    samples = [dict(img_id='f8', ori_shape=(7000, 7000), gt_label=list(range(20)))]
    with pytest.raises(ValueError) as err:
        check_cam_folder(str(tmp_path), samples)
    assert str(err.value) == f'1 of 1 CAM files in {tmp_path} are unusable:\n  {message}'
    # the same maps in float32: a CAM dtype, but 3.9 GB of maps, over the 800 MB budget
    f4 = tmp_path / 'f4.npz'
    declared_zero_cams(f4, shape, '<f4', range(20))
    err, peak = _peak(lambda: load_cam(str(f4), 21, (7000, 7000)))
    assert str(err.value) == (f'{f4}: "cams" declares (20, 7000, 7000) float32: 3920000000 bytes of maps, more '
                              'than the limit of 800000000 (4 float32 maps of 50000000 pixels, '
                              '($MMDOEI_MAX_IMAGE_PIXELS, default 50000000, and at most PIL.Image.MAX_IMAGE_PIXELS '
                              '89478485)); refused before reading it')
    assert peak < 1 << 20


def test_cams_beyond_the_image_labels_refused_from_the_header(tmp_path):
    path = tmp_path / 'three.npz'
    deflated_zero_cams(path, (3, 2, 3), [0, 1, 2])
    message = (f'{path}: "cams" declares 3 maps (3, 2, 3), more than the image\'s 1 labels [4]; '
               'refused before reading it')
    for read in (lambda: read_cam(str(path), 21, [4], (2, 3)), lambda: read_cam_header(str(path), 21, None, [4]),
                 lambda: load_cam(str(path), 21, None, [4])):
        with pytest.raises(ValueError) as err:
            read()
        assert str(err.value) == message


def test_cams_too_large_for_memory_named_not_truncated(tmp_path, guarded):
    """Within every limit (500 MB of float32 maps) but over this process's address-space cap: a MemoryError
    naming the file and its declared size, not a 'truncated or corrupt' file."""
    path = tmp_path / 'big.npz'
    declared_zero_cams(path, (5, 5000, 5000), '<f4', range(5))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + (200 << 20), hard))  # guarded restores it
    with pytest.raises(MemoryError) as err:
        load_cam(str(path), 21, (5000, 5000))
    assert str(err.value) == (f'{path}: not enough memory to load this CAM file: its arrays (cams (5, 5000, 5000) '
                              'float32, keys (5,) int64) declare 500000040 bytes')


def test_zip_members_must_be_plain_arrays(tmp_path):
    keys, cams = _npy(np.array([0], np.int64)), _npy(np.zeros((1, 2, 3), np.float16))
    bz = tmp_path / 'bzip2.npz'
    with zipfile.ZipFile(bz, 'w', zipfile.ZIP_BZIP2) as z:  # zipfile does not cap bzip2 output
        z.writestr('keys.npy', keys)
        z.writestr('cams.npy', cams)
    twice = tmp_path / 'twice.npz'
    with zipfile.ZipFile(twice, 'w') as z, pytest.warns(UserWarning, match='Duplicate name'):
        z.writestr('keys.npy', keys)
        z.writestr('cams.npy', cams)
        z.writestr('cams.npy', _npy(np.zeros((1, 200, 300), np.float16)))
    for path, problem in ((bz, "member 'keys.npy' is not a regular stored or deflated array (folder False, "
                               'encrypted False, zip method 12); refused'),
                          (twice, "member(s) ['cams.npy'] appear more than once; refused")):
        with pytest.raises(ValueError) as err:
            load_cam(str(path))
        assert str(err.value) == f'{path}: {problem}'


def test_lying_zip_directory_is_bounded_by_zipfile(tmp_path):
    """The zip directory's uncompressed size is the file's word: a member that says 1 x 20 x 30 but inflates
    to 16 MB is cut at the declared size by zipfile and fails its CRC; nothing near 16 MB is allocated."""
    path = tmp_path / 'lie.npz'
    head = _npy_header((1, 20, 30))
    true_size = len(head) + 1200
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('keys.npy', _npy(np.array([0], np.int64)))
        z.writestr('cams.npy', head + bytes(16 << 20))
    data = bytearray(path.read_bytes())
    real = (len(head) + (16 << 20)).to_bytes(4, 'little')
    assert data.count(real) == 2  # the local header and the central directory
    data = data.replace(real, true_size.to_bytes(4, 'little'))
    path.write_bytes(bytes(data))
    for read in (read_cam_header, load_cam):  # even the header read decompresses past the declared end
        err, peak = _peak(lambda: read(str(path)))
        assert str(err.value).startswith(f"{path}: cannot read as .npz (BadZipFile: Bad CRC-32 for file 'cams.npy')")
        assert peak < 1 << 20


def test_pixel_budget_for_images_and_label_pngs(tmp_path, monkeypatch):
    path = tmp_path / 'img.png'
    Image.new('P', (40, 30)).save(path)
    assert image_size(str(path)) == (30, 40) and read_label_png(str(path)).shape == (30, 40)
    monkeypatch.setenv(ENV_BUDGET, '1000')
    expected = ('declares 40 x 30 = 1200 pixels, more than the limit of 1000 ($MMDOEI_MAX_IMAGE_PIXELS, default '
                '50000000, and at most PIL.Image.MAX_IMAGE_PIXELS 89478485); refused before decoding as a possible '
                'decompression bomb (0 MB as 8-bit RGB)')
    with pytest.raises(ValueError) as err:
        image_size(str(path))
    assert str(err.value) == f'{path}: image {expected}'
    with pytest.raises(ValueError) as err:
        read_label_png(str(path))
    assert str(err.value) == f'{path}: cannot read as a label PNG (ValueError: {expected})'
    monkeypatch.setenv(ENV_BUDGET, 'lots')
    with pytest.raises(ValueError, match=r"^\$MMDOEI_MAX_IMAGE_PIXELS='lots': expected a positive number"):
        image_size(str(path))
    # never above PIL's own limit, whatever the variable says
    from mmdoei.utils.files import max_image_pixels
    monkeypatch.setenv(ENV_BUDGET, str(10 ** 12))
    assert max_image_pixels() == Image.MAX_IMAGE_PIXELS == 89478485


def test_cam_round_trip_still_loads(tmp_path):
    path = tmp_path / 'ok.npz'
    cams = np.random.default_rng(0).random((2, 5, 7))
    save_cam(path, [3, 1], cams)
    keys, out = read_cam(str(path), labels=[1, 3], img_shape=(5, 7))
    assert keys.tolist() == [1, 3]
    np.testing.assert_allclose(out, cams[::-1].astype(np.float16), atol=0)
    assert read_cam_header(str(path))[1] == (2, 5, 7)
