"""tools/visualization/vis_cam.py: CAM PNGs of images from the command line, as a user runs it."""
import json
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
    skipped file named, where each PNG went printed. Beside it (a second fresh interpreter,
    its own output folder) --compare-doei on the shipped photo. The images and the
    untrained checkpoint they use are made here, in the test's process."""
    import torch

    from mmdoei.apis import init_model
    from projects.wsss_lab.synthetic import make_synthetic_voc
    root = Path(make_synthetic_voc(tmp_path / 'voc', num_train=3, num_val=1, img_size=(40, 56)))
    torch.manual_seed(0)
    torch.save(dict(state_dict=init_model(str(CONFIG)).state_dict(), meta=dict()), tmp_path / 'm.pth')
    images = sorted((root / 'JPEGImages').glob('*.jpg'))
    folder = tmp_path / 'photos'
    folder.mkdir()
    (folder / images[1].name).write_bytes(images[1].read_bytes())
    (folder / 'README.txt').write_text('not an image')
    out, compared = tmp_path / 'out', tmp_path / 'compared'
    photo = ROOT / 'demo/chelsea.jpg'
    # the two runs side by side: each is single-threaded while it imports
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for cmd in ([sys.executable, str(TOOL), str(images[0]), str(folder), '--model', str(CONFIG),
                          '--checkpoint', str(tmp_path / 'm.pth'), '--classes', 'bird', '7', '--doei',
                          '--out-dir', str(out)],
                         # --compare-doei on the shipped photo: two rows (off, on) of the same weights
                         [sys.executable, str(TOOL), str(photo), '--model', str(CONFIG), '--checkpoint',
                          str(tmp_path / 'm.pth'), '--classes', 'cat', '--compare-doei', '--out-dir', str(compared)])]
    try:
        (stdout, stderr), (compare_stdout, compare_stderr) = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    proc = procs[0]
    assert proc.returncode == 0, stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(f'{p.stem}.png' for p in images[:2])
    for given, img in ((images[0], images[0]), (folder / images[1].name, images[1])):
        assert f'{given} -> {out / (img.stem + ".png")}' in stdout
        png = cv2.imread(str(out / f'{img.stem}.png'))
        # image, bird, cat, seeds (tiles enlarged and captioned by the renderer): wider than 4 images
        assert png.shape[0] >= 40 and png.shape[1] >= 4 * 56, png.shape
    assert ("skipped 1 entry that is not an image file (by extension; sub-folders are not searched): "
            "['README.txt']") in stderr
    assert 'DOEI on for extraction' in stdout or 'DOEI attached to' in stdout

    assert procs[1].returncode == 0, compare_stderr[-3000:]
    assert f'{photo} -> {compared / "chelsea_doei.png"}' in compare_stdout
    both = cv2.imread(str(compared / 'chelsea_doei.png')).astype(int)
    half = both.shape[0] // 2
    off, on = both[:half], both[half:]  # rows off / on of one width; image, cat, seeds
    assert both.shape[0] == 2 * half and half >= 300 and both.shape[1] >= 3 * 451
    # the photo tiles are the same (the row names are drawn in their top-left corner) ...
    assert (off[40:300, :451] == on[40:300, :451]).all() and (off[:40, 200:451] == on[:40, 200:451]).all()
    # ... and DOEI changes the rest (a little, on this untrained 2-block model: 0.0008 on [0, 1] maps)
    assert abs(off[:, 451:] - on[:, 451:]).max() > 0


def test_config_without_checkpoint_is_refused_before_loading(tmp_path):
    proc = subprocess.run([sys.executable, str(TOOL), 'x.jpg', '--model', str(CONFIG), '--out-dir',
                           str(tmp_path)], cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert f'vis_cam: {CONFIG} is a config file: give its weights with --checkpoint' in proc.stderr


ERRORS_SCRIPT = r'''
import contextlib, io, json, os, runpy, sys
tool, config, tmp, photo = sys.argv[1:5]
out = {}


def run(argv):
    """runpy the tool as __main__ with argv: (exit code, stdout + stderr)."""
    sys.argv = [tool] + argv
    buf = io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            runpy.run_path(tool, run_name='__main__')
    except SystemExit as e:
        code = e.code
    except Exception as e:  # recorded: a traceback where one clean line was due
        code = f'raised {type(e).__name__}: {e}'
    return dict(code=code, text=buf.getvalue())


a_file = os.path.join(tmp, 'a_file')
open(a_file, 'w').close()
out['out_dir_is_file'] = dict(run([photo, '--model', config, '--checkpoint', 'x.pth', '--out-dir', a_file]),
                              torch='torch' in sys.modules)

import torch
from mmdoei.apis import init_model
torch.manual_seed(0)
sd = init_model(config).state_dict()
good, bad = os.path.join(tmp, 'good.pth'), os.path.join(tmp, 'bad.pth')
torch.save(dict(state_dict=sd, meta=dict()), good)
torch.save(dict(state_dict={k: v for k, v in sd.items() if not k.startswith('head.')}, meta=dict()), bad)
for name in ('x', 'y'):
    os.makedirs(os.path.join(tmp, name))
    with open(photo, 'rb') as src, open(os.path.join(tmp, name, 'a.jpg'), 'wb') as dst:
        dst.write(src.read())
with open(os.path.join(tmp, 'fake.jpg'), 'w') as f:
    f.write('not an image')
cases = {
    'wrong_checkpoint': [photo, '--checkpoint', bad],
    'partial_load': [photo, '--checkpoint', bad, '--partial-load', '--classes', 'cat'],
    'negative_class': [photo, '--checkpoint', good, '--classes', '-1'],
    'clash': [os.path.join(tmp, 'x', 'a.jpg'), os.path.join(tmp, 'y', 'a.jpg'), '--checkpoint', good],
    'clash_compare': [os.path.join(tmp, 'x', 'a.jpg'), os.path.join(tmp, 'y'), '--checkpoint', good,
                      '--compare-doei'],
    'not_an_image': [photo, os.path.join(tmp, 'fake.jpg'), '--checkpoint', good],
}
for name, argv in cases.items():
    out_dir = os.path.join(tmp, 'out_' + name)
    res = run(argv + ['--model', config, '--out-dir', out_dir])
    res['written'] = sorted(os.listdir(out_dir)) if os.path.isdir(out_dir) else None
    out[name] = res
print('RESULT ' + json.dumps(out))
'''


@pytest.fixture(scope='module')
def errors(tmp_path_factory):
    """One fresh interpreter runs the tool (runpy, as `python tools/...`) on every error scenario."""
    tmp = tmp_path_factory.mktemp('vis_cam_errors')
    proc = subprocess.run([sys.executable, '-c', ERRORS_SCRIPT, str(TOOL), str(CONFIG), str(tmp),
                           str(ROOT / 'demo/chelsea.jpg')], cwd=ROOT, env=os.environ, capture_output=True,
                          text=True, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('RESULT ')]
    assert proc.returncode == 0 and lines, (proc.stdout[-3000:], proc.stderr[-3000:])
    return json.loads(lines[-1][len('RESULT '):]), tmp


@pytest.mark.slow
def test_out_dir_that_is_a_file_is_refused_before_the_model(errors):
    res, tmp = errors
    assert res['out_dir_is_file'] == dict(
        code=f'vis_cam: --out-dir {tmp}/a_file is a file; give a folder for the PNGs', text='', torch=False)


@pytest.mark.slow
def test_wrong_checkpoint_names_partial_load_and_partial_load_loads_it(errors):
    res, tmp = errors
    code = res['wrong_checkpoint']['code']
    assert isinstance(code, str) and code.startswith(f'vis_cam: {tmp}/bad.pth'), code
    assert 'Pass --partial-load to load' in code and 'partial=True' not in code, code
    assert 'Traceback' not in res['wrong_checkpoint']['text']
    assert res['partial_load']['code'] in (0, None), res['partial_load']
    assert res['partial_load']['written'] == ['chelsea.png']


@pytest.mark.slow
@pytest.mark.parametrize('case, message', [
    ('negative_class', 'vis_cam: class index -1: negative indices are not classes (classes are 0-based indices '
                       '0..19 or names)'),
    ('clash', 'vis_cam: 2 inputs would write the same output file (named after the image file, without its folder '
              'or extension), refused before any CAM is computed:\n  a.png <- {tmp}/x/a.jpg, {tmp}/y/a.jpg'),
    ('clash_compare', 'vis_cam: 2 inputs would write the same output file (named after the image file, without its '
                      'folder or extension), refused before any CAM is computed:\n  a_doei.png <- {tmp}/x/a.jpg, '
                      '{tmp}/y/a.jpg'),
    ('not_an_image', "vis_cam: {tmp}/fake.jpg: cannot read the image header (UnidentifiedImageError: cannot "
                     "identify image file '{tmp}/fake.jpg')"),
])
def test_expected_errors_are_one_clean_line(errors, case, message):
    """ValueError/FileNotFoundError of the API: one `vis_cam: ...` line (exit status 1), no traceback,
    and nothing written."""
    res, tmp = errors
    code = res[case]['code']
    assert isinstance(code, str) and code.startswith(message.format(tmp=tmp)), code
    assert 'Traceback' not in res[case]['text'] and res[case]['written'] in (None, [])
