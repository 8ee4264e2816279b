"""benchmarks/scaling.py: the power-law fit, and a --quick run as a user starts it.

No timing is asserted: the numbers depend on the machine and its load; what is
checked is that the fit is exact on exact data, refuses what has no logarithm,
and that a run prints every table with its exponents and writes the PNG.
"""
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'benchmarks' / 'scaling.py'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def scaling():
    path = list(sys.path)
    spec = importlib.util.spec_from_file_location('scaling_benchmark', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)  # puts the repository and benchmarks/ first on sys.path
    finally:
        sys.path[:] = path
    return module


@pytest.mark.parametrize('xs', [[1, 2, 4, 8, 16], [196, 400, 784], [0.5, 3.7, 12.25, 1e4]])
def test_fit_recovers_a_power_law_exactly(scaling, xs):
    a, b = scaling.fit_power_law(xs, [3 * x ** 2 for x in xs])
    assert a == pytest.approx(3, abs=1e-9, rel=0)
    assert b == pytest.approx(2, abs=1e-9, rel=0)


def test_fit_of_two_points_is_their_slope(scaling):
    a, b = scaling.fit_power_law([10, 1000], [0.5, 5.0])  # 100x the size, 10x the time
    assert b == pytest.approx(0.5, abs=1e-12)
    assert a == pytest.approx(0.5 / 10 ** 0.5, abs=1e-12)
    assert scaling.local_exponent(10, 0.5, 1000, 5.0) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize('xs, ts, message', [
    ([1, 2, 0], [1, 2, 3], 'every x must be positive and finite, got [1.0, 2.0, 0.0]'),
    ([1, 2, 3], [1, -2, 3], 'every t must be positive and finite, got [1.0, -2.0, 3.0]'),
    ([1, 2], [1, float('nan')], 'every t must be positive and finite'),
    ([5, 5, 5], [1, 2, 3], 'needs at least two different x, got [5.0, 5.0, 5.0]'),
    ([4], [1], 'the same length >= 2, got x (1,) and t (1,)'),
    ([1, 2, 3], [1, 2], 'the same length >= 2, got x (3,) and t (2,)'),
])
def test_fit_refuses_what_has_no_power_law(scaling, xs, ts, message):
    with pytest.raises(ValueError) as e:
        scaling.fit_power_law(xs, ts)
    assert message in str(e.value)


def test_fewer_than_three_repeats_are_refused(scaling, capsys):
    with pytest.raises(SystemExit) as e:
        scaling.main(['--repeats', '2'])
    assert e.value.code == 2
    assert '--repeats must be at least 3 (a median of fewer says little), got 2' in capsys.readouterr().err


def test_a_plot_path_that_cannot_be_written_is_refused_before_measuring(scaling, tmp_path):
    with pytest.raises(SystemExit) as e:
        scaling.main(['--plot', str(tmp_path)])  # a folder, not a file: seconds, not minutes, to find out
    assert str(e.value) == f'--plot {tmp_path}: is a folder; --plot needs a file path ' \
        f'(e.g. {tmp_path / "results.json"})'
    (tmp_path / 'file').write_text('')
    with pytest.raises(SystemExit) as e:
        scaling.main(['--plot', str(tmp_path / 'file' / 'scaling.png')])
    assert str(e.value) == f'--plot {tmp_path / "file" / "scaling.png"}: cannot be created, ' \
        f'{tmp_path / "file"} is a file, not a folder'


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    """``python benchmarks/scaling.py --quick --plot PNG`` in a fresh interpreter, as a user runs it."""
    png = tmp_path_factory.mktemp('scaling') / 'plots' / 'scaling.png'
    res = subprocess.run([sys.executable, 'benchmarks/scaling.py', '--quick', '--plot', str(png)], cwd=ROOT,
                         env=os.environ, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout, png


@pytest.mark.slow
def test_quick_run_prints_every_table_with_its_exponent(quick_run):
    out, _ = quick_run
    sections = re.split(r'^### ', out, flags=re.M)[1:]
    titles = [s.splitlines()[0] for s in sections]
    assert [t.split(' (')[0] for t in titles] == [
        '1. CAM generation against the image count', '2. CAM generation against the image side',
        "3. DOEI's overhead: CAM generation with the DOEI config against without",
        '4. PSA random walk against the image side', '5. seed evaluation against the image count']
    for section in sections:
        rows = [line for line in section.splitlines() if line.startswith('|')]
        header = [h.strip() for h in rows[0].strip('|').split('|')]
        assert 'median s' in ' '.join(header) and header[-1].startswith('local exponent'), header
        body = rows[2:]
        assert len(body) >= 2
        # the first size has no neighbour below it; every other row its local exponent
        assert body[0].rstrip().endswith('|  |')
        assert all(re.search(r'\| -?\d+\.\d\d \|$', r.rstrip()) for r in body[1:]), body
        assert re.search(r'^fitted exponent b = -?\d+\.\d\d', section, re.M), section
    assert 'linear fit: t = ' in sections[0] and 'linear fit: t = ' in sections[4]
    assert re.search(r'\| 9 \| 48 px \| \d+\.\d{3} \| \d+\.\d{3} \| \d+\.\d\dx \|', sections[2])
    assert re.search(r'^total time: \d+ s', out, re.M)


@pytest.mark.slow
def test_quick_run_writes_the_png(quick_run):
    out, png = quick_run
    assert f'plot: {png}' in out
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b'IHDR'
    width, height = int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')
    assert (width, height) == (1100, 850)  # 11 x 8.5 inches at 100 dpi: the four panels
    assert not [p.name for p in png.parent.iterdir() if p != png]  # no temporary file left beside it


def test_predictions_read_voc_and_coco_off_the_curves(scaling):
    """Hand-made curves with known laws: the hours are the images times the marginal cost per
    image (the count curves' slope), scaled to COCO's 640 x 480 by the side fits or the pixels."""
    def curve(xs, law, linear=False):
        return scaling.Curve('t', 'x', xs, [[law(x)] * 3 for x in xs], 'u', lambda x, t: t / x, linear=linear)

    count = curve([2, 4, 8, 16], lambda n: 0.2 + 0.6 * n, linear=True)  # 0.2 s per run, 0.6 s per image
    side = curve([224, 320, 448, 560], lambda s: 1e-7 * s ** 3)
    walk = curve([256, 512, 1024], lambda s: 2e-7 * s ** 2)
    seed = curve([50, 100, 200, 400], lambda n: 0.05 + 0.01 * n, linear=True)
    assert count.linear == pytest.approx((0.2, 0.6), abs=1e-9)
    assert (side.a, side.b) == (pytest.approx(1e-7, rel=1e-9), pytest.approx(3, abs=1e-9))

    out = scaling.predictions([count, side, None, walk, seed], scaling.DEFAULT_SIZES)
    rows = {r[0]: r[1:] for r in ([c.strip() for c in line.strip('|').split('|')]
                                  for line in out.splitlines()[2:])}
    coco_pixels = 640 * 480 / (500 * 375)  # 1.6384
    expected = {  # job: (images, seconds per image)
        'CAMs, VOC train_aug (500 x 375)': (10582, 0.6),
        # the side fit's t ~ side^3 at the sides of squares of COCO's and VOC's pixels
        'CAMs, COCO train (640 x 480)': (82783, 0.6 * coco_pixels ** 1.5),
        'random walk, VOC train_aug': (10582, 2e-7 * 500 * 375),
        'random walk, COCO train': (82783, 2e-7 * 640 * 480),
        'seed evaluation, VOC train (1,464)': (1464, 0.01),
        'seed evaluation, COCO train': (82783, 0.01 * coco_pixels),
    }
    assert list(rows) == list(expected)
    for job, (images, per_image) in expected.items():
        n, s, hours = rows[job]
        assert int(n.replace(',', '')) == images
        assert float(s) == pytest.approx(per_image, rel=1e-3), job
        assert float(hours) == pytest.approx(images * per_image / 3600, rel=5e-3), job  # 3 digits
    # --quick's tiny images predict nothing
    assert scaling.predictions([count, side, None, walk, seed], scaling.QUICK_SIZES) is None
