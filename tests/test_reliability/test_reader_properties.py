"""Property tests of the readers: split files, label PNGs, CAM files, image headers.

Each property holds for every input hypothesis makes (tests/conftest.py fixes
the profile): the reader returns a result that satisfies its contract, or it
raises ``ValueError`` (``FileNotFoundError`` for a missing file) whose message
names the file. Anything else (a numpy, PIL, zipfile or cv2 exception escaping)
fails the test. Inputs that once broke a reader are kept as ``@example``.
"""
import io
import re
import string
import tracemalloc
import zipfile
from pathlib import Path

import mmcv
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import mmdoei  # noqa: F401  (all of it: nothing it imports may lift the pixel limit)
from mmdoei.cam.io import check_cam_file, load_cam, read_cam_header, save_cam
from mmdoei.utils.files import image_size, read_label_png, read_split

# Every property writes into one folder per test; files are overwritten per example.
PER_EXAMPLE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

ID_CHARS = string.ascii_letters + string.digits + '_-'
ids_st = st.lists(st.text(ID_CHARS, min_size=1, max_size=12), min_size=1, max_size=8, unique=True)


def _named(err, path) -> None:
    assert str(path) in str(err.value), f'the error does not name {path}: {err.value}'


# --------------------------------------------------------------------------- split files

@PER_EXAMPLE
@given(ids=ids_st, psa=st.booleans(), blank=st.booleans())
def test_split_reads_back_what_was_listed(tmp_path, ids, psa, blank):
    path = tmp_path / 'split.txt'
    lines = [f'/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png' if psa else i for i in ids]
    path.write_text(('\n\n' if blank else '\n').join(lines) + '\n')
    assert read_split(str(path)) == ids


@PER_EXAMPLE
@given(data=st.binary(max_size=200) | st.text(string.printable + 'é/\\.', max_size=200).map(str.encode))
@example(data=b'../../etc/passwd\n')
@example(data=b'/tmp/outside/x.jpg\n')
@example(data=b'\xff\xfe\n')  # not UTF-8: was a UnicodeDecodeError naming no file
@example(data=b'a\\..\\b\n')
@example(data=b'/a\n')
def test_split_gives_ids_or_names_the_file(tmp_path, data):
    path = tmp_path / 'split.txt'
    path.write_bytes(data)
    try:
        ids = read_split(str(path))
    except ValueError as e:
        assert str(path) in str(e)
        return
    assert ids and len(set(ids)) == len(ids)
    for i in ids:  # an id never leads anywhere but to one file in the image folder
        assert i not in ('', '.', '..') and '/' not in i and '\\' not in i and '\x00' not in i


# --------------------------------------------------------------------------- label PNGs

PNG_MODES = {'L': np.uint8, 'P': np.uint8, 'RGB': np.uint8, 'RGBA': np.uint8, 'LA': np.uint8,
             'I;16': np.uint16, '1': bool}


@st.composite
def png_images(draw):
    mode = draw(st.sampled_from(sorted(PNG_MODES)))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    channels = {'RGB': 3, 'RGBA': 4, 'LA': 2}.get(mode)
    shape = (h, w, channels) if channels else (h, w)
    arr = draw(hnp.arrays(PNG_MODES[mode], shape, elements=st.integers(0, 1) if mode == '1' else None))
    return mode, arr


def _png_bytes(mode, arr) -> bytes:
    if mode == 'I;16':
        img = Image.fromarray(arr.astype('<u2'))
    elif mode == '1':
        img = Image.fromarray(arr).convert('1')
    else:
        img = Image.fromarray(arr, mode)
        if mode == 'P':
            img.putpalette(list(range(256)) * 3)
    buf = io.BytesIO()
    img.save(buf, 'PNG')
    return buf.getvalue()


@PER_EXAMPLE
@given(image=png_images(), cut=st.none() | st.integers(0, 400))
def test_label_png_gives_the_indices_or_names_the_file(tmp_path, image, cut):
    mode, arr = image
    data = _png_bytes(mode, arr)
    path = tmp_path / 'label.png'
    path.write_bytes(data if cut is None else data[:cut])
    try:
        label = read_label_png(str(path))
    except ValueError as e:
        assert str(path) in str(e)
        assert cut is not None or mode not in ('P', 'L'), f'a whole {mode} PNG was refused: {e}'
        return
    assert mode in ('P', 'L'), f'a {mode} PNG was read as a label map'
    assert label.dtype == np.uint8 and label.shape == arr.shape
    if cut is None:
        np.testing.assert_array_equal(label, arr)


@PER_EXAMPLE
@given(data=st.binary(max_size=300))
@example(data=b'\x89PNG\r\n\x1a\n')
def test_label_png_random_bytes(tmp_path, data):
    path = tmp_path / 'x.png'
    path.write_bytes(data)
    with pytest.raises(ValueError) as err:
        read_label_png(str(path))
    _named(err, path)


# --------------------------------------------------------------------------- CAM files

def _npz(path, **arrays) -> None:
    with open(path, 'wb') as f:
        np.savez(f, **arrays)


def _check_cam(path, num_classes=21):
    """load_cam, read_cam_header and check_cam_file agree: all accept or all name a problem."""
    try:
        keys, cams = load_cam(str(path), num_classes)
    except ValueError as e:
        assert str(path) in str(e)
        header_problem = None
        try:
            read_cam_header(str(path))
        except ValueError as e2:
            assert str(path) in str(e2)
            header_problem = str(e2)
        return None, header_problem
    assert keys.dtype == np.int64 and keys.ndim == 1 and len(set(keys.tolist())) == keys.size
    assert cams.dtype == np.float32 and cams.ndim == 3 and cams.shape[0] == keys.size
    assert np.isfinite(cams).all() and (keys.size == 0 or (keys.min() >= 0 and keys.max() <= num_classes - 2))
    # what loads whole also passes the header check, with the same classes and size
    assert check_cam_file(str(path), None, None, num_classes) is None
    hkeys, shape, _ = read_cam_header(str(path))
    assert hkeys.tolist() == keys.tolist() and shape == cams.shape
    return (keys, cams), None


@PER_EXAMPLE
@given(data=st.binary(max_size=400))
@example(data=b'PK\x05\x06' + b'\x00' * 18)  # an empty zip: no arrays at all
def test_cam_random_bytes(tmp_path, data):
    path = tmp_path / 'x.npz'
    path.write_bytes(data)
    loaded, _ = _check_cam(path)
    assert loaded is None


cam_dtypes = st.sampled_from([np.float16, np.float32, np.float64, np.int64, np.uint8, np.bool_, np.complex64])


@PER_EXAMPLE
@given(keys=hnp.arrays(st.sampled_from([np.int64, np.int32, np.float32, np.uint8]),
                       hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4)),
       cams=hnp.arrays(cam_dtypes, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)),
       cut=st.none() | st.integers(0, 2000))
@example(keys=np.array([0, 1]), cams=np.array([[[np.nan]], [[0.5]]], np.float16), cut=None)
@example(keys=np.array([3]), cams=np.full((1, 2, 2), np.inf, np.float32), cut=None)
@example(keys=np.array([0]), cams=np.zeros((1, 2, 3), np.complex64), cut=None)
def test_cam_any_arrays(tmp_path, keys, cams, cut):
    path = tmp_path / 'x.npz'
    _npz(path, keys=keys, cams=cams)
    if cut is not None:
        path.write_bytes(path.read_bytes()[:cut])
    loaded, _ = _check_cam(path)
    if loaded is not None:
        k, c = loaded
        np.testing.assert_array_equal(k, keys)
        np.testing.assert_array_equal(c, cams.astype(np.float32))


def test_cam_round_trip_and_object_arrays(tmp_path):
    good = tmp_path / 'good.npz'
    save_cam(good, [4, 2], np.random.default_rng(0).random((2, 3, 5)))
    assert _check_cam(good)[0][0].tolist() == [4, 2]
    bad = tmp_path / 'obj.npz'
    with open(bad, 'wb') as f:  # np.savez pickles object arrays
        np.savez(f, keys=np.array([0]), cams=np.array([[[{'x': 1}]]], dtype=object))
    loaded, header = _check_cam(bad)
    assert loaded is None and 'dtype object' in header


def _npy_header(shape, dtype='<f2') -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, dict(descr=dtype, fortran_order=False, shape=shape))
    return buf.getvalue()


@PER_EXAMPLE
@given(shape=st.lists(st.integers(0, 10 ** 9), min_size=3, max_size=3).map(tuple),
       payload=st.integers(0, 64), compress=st.booleans())
@example(shape=(20, 20000, 20000), payload=8, compress=False)  # 16 GB declared, 8 bytes held
@example(shape=(1, 1, 0), payload=8, compress=True)
def test_cam_declared_shape_is_checked_before_allocating(tmp_path, shape, payload, compress):
    path = tmp_path / 'x.npz'
    keys = io.BytesIO()
    np.save(keys, np.array([0], np.int64))
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, 'w', method) as z:
        z.writestr('keys.npy', keys.getvalue())
        z.writestr('cams.npy', _npy_header(shape) + b'\x00' * payload)
    tracemalloc.start()
    try:
        loaded, _ = _check_cam(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f'{peak} bytes allocated for a file of {path.stat().st_size}'
    holds = int(np.prod(shape)) * 2 == payload
    assert (loaded is not None) == (holds and shape[0] == 1)


# --------------------------------------------------------------------------- images

def _image_bytes(fmt, mode, h, w, seed, orientation) -> bytes:
    rng = np.random.default_rng(seed)
    if mode == 'I;16':
        img = Image.fromarray(rng.integers(0, 65535, (h, w)).astype('<u2'))
    else:
        img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    kw = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw['exif'] = exif
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@st.composite
def image_files(draw):
    fmt = draw(st.sampled_from(['JPEG', 'PNG', 'WEBP', 'TIFF', 'BMP']))
    mode = draw(st.sampled_from({'JPEG': ['RGB', 'L', 'CMYK'], 'PNG': ['RGB', 'RGBA', 'L', 'P', 'I;16'],
                                 'WEBP': ['RGB', 'RGBA'], 'TIFF': ['RGB', 'CMYK', 'L'],
                                 'BMP': ['RGB', 'L']}[fmt]))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    orientation = draw(st.sampled_from([None] + list(range(1, 9)))) if fmt != 'BMP' else None
    data = _image_bytes(fmt, mode, h, w, draw(st.integers(0, 2 ** 16)), orientation)
    cut = draw(st.none() | st.integers(0, len(data) - 1))
    return data if cut is None else data[:cut], cut is not None


@PER_EXAMPLE
@given(image=image_files())
# EXIF-rotated photos: the header said 20 x 30, OpenCV loads 30 x 20 (CAM size check vs CAMs)
@example(image=(_image_bytes('JPEG', 'RGB', 20, 30, 0, 6), False))
@example(image=(_image_bytes('PNG', 'RGB', 20, 30, 0, 8), False))
@example(image=(_image_bytes('JPEG', 'CMYK', 7, 5, 0, None), False))
@example(image=(_image_bytes('PNG', 'I;16', 7, 5, 0, None), False))
@example(image=(b'', True))
def test_image_size_is_the_loaded_size(tmp_path, image):
    """What image_size says (the CAM and min-size checks) is what mmcv's
    LoadImageFromFile loads (OpenCV applies EXIF orientation); or both name the file.
    A 16-bit image is refused, naming its mode: the loaders read it differently."""
    data, truncated = image
    path = tmp_path / 'img'
    path.write_bytes(data)
    try:
        hw = image_size(str(path))
    except ValueError as e:
        assert str(path) in str(e)
        if not truncated and Image.open(io.BytesIO(data)).mode == 'I;16':  # 16-bit: refused, named (issue 22)
            assert 'image mode I;16 is 16-bit; mmdoei reads 8-bit images only' in str(e)
            return
        assert truncated, f'a whole image was refused: {e}'
        return
    loaded = mmcv.imfrombytes(data, flag='color') if data else None
    if loaded is not None and not truncated:
        assert loaded.shape[:2] == hw
        assert loaded.dtype == np.uint8 and loaded.shape[2] == 3


def test_zero_sized_and_bomb_images_are_named(tmp_path):
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match='cannot read the image header') as err:
        image_size(str(empty))
    _named(err, empty)
    # between PIL's limit and twice it PIL only warns; we refuse as well
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None
    side = int((1.5 * limit) ** 0.5)
    bomb = tmp_path / 'bomb.png'
    Image.new('1', (side, side)).save(bomb)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match='decompression bomb') as err:
        image_size(str(bomb))
    _named(err, bomb)
    with pytest.raises(ValueError, match='decompression bomb') as err:
        read_label_png(str(bomb))
    _named(err, bomb)


def test_nothing_in_mmdoei_lifts_the_pixel_limit():
    root = Path(__file__).resolve().parents[2]
    assigns = re.compile(r'\bMAX_IMAGE_PIXELS\s*=(?!=)|setattr\([^)]*MAX_IMAGE_PIXELS')
    offenders = [str(p) for d in ('mmdoei', 'tools') for p in (root / d).rglob('*.py')
                 if assigns.search(p.read_text())]
    assert offenders == []
    text = (root / 'mmdoei/utils/files.py').read_text()
    assert 'MAX_IMAGE_PIXELS =' not in text and 'MAX_IMAGE_PIXELS=' not in text
    assert Image.MAX_IMAGE_PIXELS == 89478485  # Pillow's default, after importing all of mmdoei
