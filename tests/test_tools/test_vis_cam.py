"""tools/visualization/vis_cam.py: CAM PNGs of images from the command line, as a user runs it."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools/visualization/vis_cam.py'
CONFIG = ROOT / 'tests/data/configs/tiny_mct_voc.py'


def test_help_does_not_import_torch():
    """--help answers without building anything: torch is not even imported."""
    code = ('import runpy, sys\n'
            f'sys.argv = [{str(TOOL)!r}, "--help"]\n'
            'try:\n'
            f'    runpy.run_path({str(TOOL)!r}, run_name="__main__")\n'
            'except SystemExit:\n'
            '    pass\n'
            'print("TORCH", "torch" in sys.modules)\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=os.environ, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'IMG_OR_FOLDER' in proc.stdout and '--no-doei' in proc.stdout and '--classes' in proc.stdout
    assert proc.stdout.strip().endswith('TORCH False')


@pytest.mark.slow
def test_cli_writes_one_png_per_image(tmp_path):
    """One run (one fresh interpreter): a file and a folder with a README, classes by name
    and index, DOEI switched on; a PNG per image (image + 2 overlays + seeds wide), the
    skipped file named, where each PNG went printed."""
    code = ('import sys, torch\n'
            'from mmdoei.apis import init_model\n'
            'from mmdoei.generators.synthetic import make_synthetic_voc\n'
            f'root = make_synthetic_voc({str(tmp_path / "voc")!r}, num_train=3, num_val=1, img_size=(40, 56))\n'
            'torch.manual_seed(0)\n'
            f'm = init_model({str(CONFIG)!r})\n'
            f'torch.save(dict(state_dict=m.state_dict(), meta=dict()), {str(tmp_path / "m.pth")!r})\n'
            'print("ROOT", root)\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=os.environ, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    root = Path(proc.stdout.split('ROOT ')[-1].strip())
    images = sorted((root / 'JPEGImages').glob('*.jpg'))
    folder = tmp_path / 'photos'
    folder.mkdir()
    (folder / images[1].name).write_bytes(images[1].read_bytes())
    (folder / 'README.txt').write_text('not an image')
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, str(TOOL), str(images[0]), str(folder), '--model', str(CONFIG),
                           '--checkpoint', str(tmp_path / 'm.pth'), '--classes', 'bird', '7', '--doei',
                           '--out-dir', str(out)], cwd=ROOT, env=os.environ, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(f'{p.stem}.png' for p in images[:2])
    for given, img in ((images[0], images[0]), (folder / images[1].name, images[1])):
        assert f'{given} -> {out / (img.stem + ".png")}' in proc.stdout
        png = cv2.imread(str(out / f'{img.stem}.png'))
        assert png.shape == (40, 56 * 4, 3)  # image, bird, cat, seeds
    assert "skipped 1 file(s) that are not images (by extension): ['README.txt']" in proc.stderr
    assert 'DOEI on for extraction' in proc.stdout or 'DOEI attached to' in proc.stdout

    # --compare-doei on the shipped photo: two rows (off, on) of the same weights
    photo = ROOT / 'demo/chelsea.jpg'
    proc = subprocess.run([sys.executable, str(TOOL), str(photo), '--model', str(CONFIG), '--checkpoint',
                           str(tmp_path / 'm.pth'), '--classes', 'cat', '--compare-doei', '--out-dir', str(out)],
                          cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'{photo} -> {out / "chelsea_doei.png"}' in proc.stdout
    both = cv2.imread(str(out / 'chelsea_doei.png')).astype(int)
    assert both.shape == (2 * 300, 451 * 3, 3)  # rows off / on; image, cat, seeds
    off, on = both[:300], both[300:]
    # the photo tiles are the same (the row names are drawn in their bottom-left corner) ...
    assert (off[:280, :451] == on[:280, :451]).all()
    # ... and DOEI changes the CAM overlay (a little, on this untrained 2-block model: 0.0008 on [0, 1] maps)
    assert abs(off[:, 451:902] - on[:, 451:902]).max() > 0


def test_config_without_checkpoint_is_refused_before_loading(tmp_path):
    proc = subprocess.run([sys.executable, str(TOOL), 'x.jpg', '--model', str(CONFIG), '--out-dir',
                           str(tmp_path)], cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert f'vis_cam: {CONFIG} is a config file: give its weights with --checkpoint' in proc.stderr
