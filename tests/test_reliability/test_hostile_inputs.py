"""Hostile inputs: each is refused with an error naming the file, and nothing
is written (no output file, no temporary file) or executed (no decode, no
unpickled code).

The read-only and full output folders are real mounts: a 64 kB tmpfs and a
read-only tmpfs, mounted by ``unshare --user --map-root-user --mount`` in a
private mount namespace (no root needed; as root, permission bits would not
stop a write, a read-only mount does). The mounts vanish with the child.
"""
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mmdoei  # noqa: F401
from mmdoei.datasets import VOCWSSSDataset
from mmdoei.datasets.pseudo_mask import VOCPseudoMaskDataset
from mmdoei.utils.files import read_split

ROOT = Path(__file__).resolve().parents[2]
CAM_CONFIG = ROOT / 'tests/data/configs/tiny_mct_voc.py'
TRAIN_CONFIG = ROOT / 'tests/data/configs/tiny_vit_doei.py'
SPLIT = 'ImageSets/Segmentation/train.txt'


def _write_split(root: Path, lines) -> str:
    (root / 'ImageSets/Segmentation/hostile.txt').write_text('\n'.join(lines) + '\n')
    return 'ImageSets/Segmentation/hostile.txt'


def _voc(root: Path, split: str) -> VOCWSSSDataset:
    return VOCWSSSDataset(data_root=str(root), split=split, pipeline=[dict(type='LoadImageFromFile')])


# --------------------------------------------------------------------------- split files

@pytest.mark.parametrize('line', ['../../outside/secret', '/tmp/outside/secret.jpg', 'JPEGImages/../../x.jpg',
                                  '..', 'a\\..\\..\\b', '/secret'])
def test_split_paths_are_refused(voc_copy, line):
    ids = read_split(str(voc_copy / SPLIT))
    split = _write_split(voc_copy, [ids[0], line])
    with pytest.raises(ValueError, match=r'hostile.txt:2: .* is not an image id.*refused'):
        _voc(voc_copy, split)


def test_symlink_out_of_the_tree_is_refused(voc_copy, tmp_path):
    img_id = read_split(str(voc_copy / SPLIT))[0]
    outside = tmp_path / 'outside.jpg'
    shutil.copy(voc_copy / 'JPEGImages' / f'{img_id}.jpg', outside)
    (voc_copy / 'JPEGImages' / f'{img_id}.jpg').unlink()
    (voc_copy / 'JPEGImages' / f'{img_id}.jpg').symlink_to(outside)
    with pytest.raises(ValueError, match='1 images listed by split file .* resolve outside .*JPEGImages') as err:
        _voc(voc_copy, SPLIT)
    assert str(outside) in str(err.value)
    # a symlinked data folder is fine: only files leaving their folder are refused
    link = tmp_path / 'linked_voc'
    link.symlink_to(voc_copy)
    (voc_copy / 'JPEGImages' / f'{img_id}.jpg').unlink()
    shutil.copy(outside, voc_copy / 'JPEGImages' / f'{img_id}.jpg')
    assert len(_voc(link, SPLIT)) == len(read_split(str(voc_copy / SPLIT)))


def test_mmseg_dataset_refuses_escaping_lines(voc_copy):
    """mmseg joins split lines to the folders as they are; our stage-3 datasets check the result."""
    ids = read_split(str(voc_copy / SPLIT))
    split = _write_split(voc_copy, [ids[0], '../../../etc/hostname'])
    with pytest.raises(ValueError, match=r'1 images listed by .*hostile.txt resolve outside'):
        VOCPseudoMaskDataset(data_root=str(voc_copy), ann_file=split, pipeline=[],
                             data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'))


@pytest.mark.slow
def test_cam_tool_refuses_a_symlinked_image_and_writes_nothing(voc_copy, tmp_path):
    img_id = read_split(str(voc_copy / 'ImageSets/Segmentation/train_aug.txt'))[0]
    secret = tmp_path / 'secret.jpg'
    shutil.move(voc_copy / 'JPEGImages' / f'{img_id}.jpg', secret)
    (voc_copy / 'JPEGImages' / f'{img_id}.jpg').symlink_to(secret)
    ckpt = tmp_path / 'model.pth'
    from mmdoei.apis import init_model
    torch.save({'state_dict': init_model(str(CAM_CONFIG)).state_dict(), 'meta': {}}, ckpt)  # fits the model
    out = tmp_path / 'cams'
    res = subprocess.run([sys.executable, str(ROOT / 'tools/test.py'), str(CAM_CONFIG), str(ckpt), '--data-root',
                          str(voc_copy), '--work-dir', str(tmp_path / 'work'), '--cam-out', str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode != 0
    assert f'{voc_copy}/JPEGImages/{img_id}.jpg -> {secret}' in res.stderr
    assert not out.exists() or not list(out.iterdir())


# --------------------------------------------------------------------------- decompression bombs

def test_decompression_bomb_is_refused_before_decoding(voc_copy, monkeypatch):
    import mmcv
    img_id = read_split(str(voc_copy / SPLIT))[0]
    side = int((1.5 * Image.MAX_IMAGE_PIXELS) ** 0.5)  # above PIL's limit, far below OpenCV's
    path = voc_copy / 'JPEGImages' / f'{img_id}.jpg'
    Image.new('1', (side, side)).save(path, 'PNG')  # about 30 kB on disk, 128 MB decoded
    assert path.stat().st_size < 1 << 20
    decoded = []
    real = mmcv.imfrombytes
    monkeypatch.setattr(mmcv, 'imfrombytes', lambda *a, **k: decoded.append(1) or real(*a, **k))
    dataset = _voc(voc_copy, SPLIT)
    index = read_split(str(voc_copy / SPLIT)).index(img_id)
    with pytest.raises(RuntimeError, match=f'{path}: image declares {side} x {side}.*decompression bomb'):
        dataset[index]
    assert decoded == []
    dataset[index + 1]  # the others still load, through the same decoder
    assert decoded == [1]


@pytest.mark.slow  # a fresh interpreter imports torch and mmengine
def test_pixel_limit_is_not_lifted_by_the_tools():
    """Importing the tools' modules leaves PIL's limit on (a tool that set it to None would pass bombs)."""
    code = ('import runpy, sys; from PIL import Image; sys.argv = ["x", "--help"]\n'
            'for t in ["tools/train.py", "tools/test.py", "tools/psa_infer.py"]:\n'
            '    try: runpy.run_path(t, run_name="__main__")\n'
            '    except SystemExit: pass\n'
            'print(Image.MAX_IMAGE_PIXELS)')
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == str(Image.MAX_IMAGE_PIXELS) == '89478485'


# --------------------------------------------------------------------------- read-only and full output folders

def _in_mount_namespace(mount_opts: str, script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``script`` with ``sys.argv[1]`` a fresh tmpfs mounted with ``mount_opts``."""
    target = Path(args[0])
    target.mkdir(parents=True, exist_ok=True)
    cmd = ['unshare', '--user', '--map-root-user', '--mount', 'sh', '-c',
           f'mount -t tmpfs -o {mount_opts} tmpfs "$1" && shift && exec "$@"', 'sh', str(target),
           sys.executable, '-c', script, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)


WRITE_CAMS = textwrap.dedent('''
    import os, sys
    import numpy as np
    from mmdoei.cam.io import save_cam
    out = sys.argv[1]
    try:
        for i in range(100):  # 100 x 19 kB: more than 64 kB
            save_cam(os.path.join(out, f'img{i}.npz'), [0, 1], np.full((2, 60, 80), 0.5))
    except OSError as e:
        print('ERROR', e)
    names = sorted(os.listdir(out))
    print('FILES', len(names), 'TMP', [n for n in names if n.endswith('.tmp')])
    for n in names:  # every file left is whole
        with np.load(os.path.join(out, n)) as z:
            assert z['cams'].shape == (2, 60, 80)
''')


@pytest.mark.slow  # a fresh interpreter imports torch and mmengine
def test_full_output_folder(tmp_path):
    res = _in_mount_namespace('size=64k', WRITE_CAMS, str(tmp_path / 'full'))
    assert res.returncode == 0, res.stderr[-3000:]
    error = next(line for line in res.stdout.splitlines() if line.startswith('ERROR'))
    assert 'No space left on device; nothing was written there' in error
    files = next(line for line in res.stdout.splitlines() if line.startswith('FILES'))
    n = int(files.split()[1])
    assert 0 < n < 100 and f"cannot write {tmp_path / 'full'}/img{n}.npz" in error
    assert files.endswith('TMP []')


@pytest.mark.slow  # a fresh interpreter imports torch and mmengine
def test_read_only_output_folder(tmp_path):
    res = _in_mount_namespace('size=1M,ro', WRITE_CAMS, str(tmp_path / 'ro'))
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"cannot write {tmp_path / 'ro'}/img0.npz: Read-only file system; nothing was written there" in res.stdout
    assert 'FILES 0 TMP []' in res.stdout


@pytest.mark.slow
def test_cam_tool_on_a_full_disk(voc_copy, tmp_path):
    ckpt = tmp_path / 'model.pth'
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    torch.save({'state_dict': MODELS.build(Config.fromfile(str(CAM_CONFIG)).model).state_dict()}, ckpt)
    out = tmp_path / 'cams'
    script = ('import runpy, sys; sys.argv = ["tools/test.py"] + sys.argv[2:]; '
              'runpy.run_path("tools/test.py", run_name="__main__")')
    res = _in_mount_namespace('size=64k', script, str(out), str(CAM_CONFIG), str(ckpt), '--data-root',
                              str(voc_copy), '--work-dir', str(tmp_path / 'work'), '--cam-out', str(out))
    assert res.returncode != 0
    assert 'No space left on device; nothing was written there' in res.stderr
    assert f'OSError: [Errno 28] cannot write {out}/' in res.stderr


# --------------------------------------------------------------------------- checkpoints that are not checkpoints

class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def _bad_checkpoints(tmp_path):
    marker = tmp_path / 'code_ran'
    files = {'random.pth': np.random.default_rng(0).bytes(2000), 'empty.pth': b'', 'text.pth': b'epoch 1\n'}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with open(tmp_path / 'evil.pth', 'wb') as f:
        pickle.dump({'state_dict': _RunsCode(marker)}, f)
    torch.save({'state_dict': {}}, tmp_path / 'cut.pth')
    (tmp_path / 'cut.pth').write_bytes((tmp_path / 'cut.pth').read_bytes()[:200])
    return [tmp_path / n for n in [*files, 'evil.pth', 'cut.pth']], marker


def test_init_model_names_a_bad_checkpoint(tmp_path):
    from mmdoei.apis import init_model
    paths, marker = _bad_checkpoints(tmp_path)
    for path in paths:
        with pytest.raises(ValueError, match=f'{path}: cannot load as a checkpoint .*weights_only=True'):
            init_model(str(CAM_CONFIG), str(path))
    assert not marker.exists()


@pytest.mark.slow
def test_tools_name_a_bad_checkpoint_and_write_nothing(voc_copy, tmp_path):
    paths, marker = _bad_checkpoints(tmp_path)
    evil = paths[3]
    out = tmp_path / 'cams'
    images = tmp_path / 'images'
    for c in range(2):
        (images / f'class{c}').mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((32, 32, 3), 60 * c + i, np.uint8)).save(images / f'class{c}' / f'{i}.png')
    work = tmp_path / 'w2'
    # the two tools side by side (separate folders; each process is single-threaded while it imports)
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for cmd in (
        [sys.executable, str(ROOT / 'tools/test.py'), str(CAM_CONFIG), str(evil), '--data-root', str(voc_copy),
         '--work-dir', str(tmp_path / 'w1'), '--cam-out', str(out)],
        # load_from in training: refused before the first iteration, no checkpoint written
        [sys.executable, str(ROOT / 'tools/train.py'), str(TRAIN_CONFIG), '--work-dir', str(work),
         '--cfg-options', f'load_from={paths[0]}', f'train_dataloader.dataset.data_root={images}'])]
    try:
        (_, test_err), (_, train_err) = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    test_rc, train_rc = [p.returncode for p in procs]
    assert test_rc != 0 and f'ValueError: {evil}: cannot load as a checkpoint' in test_err
    assert not out.exists() or not list(out.iterdir())
    assert train_rc != 0 and f'ValueError: {paths[0]}: cannot load as a checkpoint' in train_err
    assert not list(work.rglob('*.pth'))
    assert not marker.exists()


REPORT_ON_A_FULL_DISK = textwrap.dedent('''
    import os, sys
    from pathlib import Path
    from mmdoei.evaluation import write_report
    disk = Path(sys.argv[1])
    out = disk / 'seed_eval'

    def report(miou):
        names = ['background', 'aeroplane', 'bicycle']
        return dict(mode='cam', num_images=2, num_classes=3, mIoU=miou, FP=10.0, FN=20.0, best_threshold=0.3,
                    curve=dict(threshold=[0.1, 0.3], mIoU=[miou - 5, miou], FP=[12.0, 10.0], FN=[18.0, 20.0]),
                    per_class={n: dict(IoU=miou, FP=10.0, FN=20.0) for n in names})

    write_report(report(40.0), str(out))
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    # fill the disk, then free room for the new seed_eval.json but not for the plots
    fd = os.open(disk / 'filler', os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b'x' * 4096)
    except OSError:
        pass
    os.ftruncate(fd, os.fstat(fd).st_size - 8192)
    os.close(fd)
    try:
        write_report(report(55.0), str(out))
        print('ERROR none')
    except OSError as e:
        print('ERROR', e)
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    print('NAMES', sorted(now), 'UNCHANGED', now == old, 'TMP', [p.name for p in disk.rglob('*.tmp')])
''')


@pytest.mark.slow  # a fresh interpreter imports torch and mmengine
def test_report_on_a_full_disk_keeps_the_previous_report(tmp_path):
    """write_report (eval_seeds, tools/test.py --eval-seeds): all report files or none."""
    disk = tmp_path / 'disk'
    res = _in_mount_namespace('size=1M', REPORT_ON_A_FULL_DISK, str(disk))
    assert res.returncode == 0, res.stderr[-3000:]
    out = disk / 'seed_eval'
    error = next(line for line in res.stdout.splitlines() if line.startswith('ERROR'))
    assert error == (f'ERROR [Errno 28] cannot write {out}/seed_curve.png: No space left on device; none of the '
                     f'report files (seed_eval.json, seed_curve.png, seed_classes.png) in {out} was replaced')
    assert ("NAMES ['seed_classes.png', 'seed_curve.png', 'seed_eval.json'] UNCHANGED True TMP []"
            in res.stdout), res.stdout
