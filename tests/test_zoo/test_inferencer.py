"""CAMInferencer: names, configs or models in; paths, folders, arrays in; CAMs, seeds, overlays out."""
import re
import shutil

import cv2
import numpy as np
import pytest

from mmdoei.apis import CAMInferencer, inference_cams, init_model
from mmdoei.cam.seeds import cams_to_seed
from mmdoei.utils.download import sha256_of
from .conftest import ROOT, TINY_CONFIG, write_index


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / 'imgs'
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, size in (('a.jpg', (48, 80)), ('b.png', (64, 64))):
        cv2.imwrite(str(folder / name), rng.integers(0, 255, (*size, 3), dtype=np.uint8))
    return folder


@pytest.mark.slow
def test_folder_and_array_inputs_give_cams_seeds_and_overlays(trained_tiny, images, tmp_path):
    inferencer = CAMInferencer(TINY_CONFIG, weights=str(trained_tiny))
    array = cv2.imread(str(images / 'a.jpg'))
    out = inferencer([str(images), array], labels=[2, 5], bg_threshold=0.4, show_dir=str(tmp_path / 'show'))
    preds = out['predictions']
    assert len(preds) == 3 and len(out['visualization']) == 3
    model = init_model(TINY_CONFIG, str(trained_tiny))
    for pred, img in zip(preds, [images / 'a.jpg', images / 'b.png', array]):
        ref = inference_cams(model, img if isinstance(img, np.ndarray) else str(img), labels=[2, 5])
        np.testing.assert_array_equal(pred['cams'], ref['cams'])
        np.testing.assert_array_equal(pred['seed'], cams_to_seed(ref['cams'], [2, 5], 0.4))
        assert set(np.unique(pred['seed'])) <= {0, 3, 6}
    # the array is image a: the same maps as from its file
    np.testing.assert_array_equal(preds[2]['cams'], preds[0]['cams'])
    shown = sorted(p.name for p in (tmp_path / 'show').iterdir())
    assert shown == ['00000002.png', 'a.png', 'b.png']
    row = cv2.imread(str(tmp_path / 'show' / 'a.png'))
    # image, 2 overlays, seeds in one row of tiles enlarged x2 to 160 px wide, captions, colour bar, legend
    assert row.shape[1] == 160 * 4 and row.shape[0] > 96
    np.testing.assert_array_equal(row[:96:2, :160:2], array)  # PNG is lossless: the first tile is the image


def test_predicted_labels_and_bad_inputs(trained_tiny, tmp_path):
    inferencer = CAMInferencer(TINY_CONFIG, weights=str(trained_tiny))
    img = np.random.default_rng(2).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    pred = inferencer(img, score_thr=2.0)['predictions'][0]  # no score reaches 2: the top class
    assert pred['labels'] == [int(np.argmax(pred['scores']))] and pred['cams'].shape == (1, 40, 56)
    with pytest.raises(FileNotFoundError, match='nope.jpg: no such image file'):
        inferencer(str(tmp_path / 'nope.jpg'))
    with pytest.raises(ValueError, match='BGR uint8'):
        inferencer(img.astype(np.float32))


def test_readme_notebook_example_runs(trained_tiny, images, tmp_path, servers, cache, private_zoo, monkeypatch):
    """The README's three lines and its DOEI on/off lines, verbatim on the shipped photo, with the
    zoo name of a tiny published model served as the mirror."""
    readme = (ROOT / 'README.md').read_text()
    section = readme.split('## CAMs of one image (notebook)')[1].split('\n## ')[0]
    block, doei_block = re.findall(r'```python\n(.*?)```', section, re.S)[:2]
    lines = block.strip().splitlines()
    assert len(lines) == 3 and 'get_model(' in lines[1] and 'CAMInferencer(' in lines[2]
    name = re.search(r"get_model\('([^']+)'", lines[1]).group(1)
    img = re.search(r"\('([^']+\.jpg)'", lines[2]).group(1)

    release = tmp_path / 'release'
    release.mkdir()
    published = release / f'tiny-{sha256_of(trained_tiny)[:8]}.pth'
    shutil.copyfile(trained_tiny, published)
    write_index(tmp_path / 'zoo', [{'Name': 'tiny-readme', 'Config': TINY_CONFIG, 'Published': False,
                                    'Weights': f'https://example.invalid/{published.name}',
                                    'Weights Note': 'not live yet'}])
    private_zoo.register_model_index(tmp_path / 'zoo' / 'model-index.yml', mmpretrain_hub=False)
    monkeypatch.setenv('MMDOEI_MIRROR', servers.start(release))
    monkeypatch.chdir(tmp_path)
    assert img == 'demo/chelsea.jpg'  # the photo shipped with the repository
    (tmp_path / 'demo').mkdir()
    shutil.copyfile(ROOT / img, tmp_path / img)
    ns = {}
    exec(block.replace(name, 'tiny-readme'), ns)
    assert ns['result']['predictions'][0]['cams'].shape[1:] == (300, 451)
    assert sorted(p.name for p in (tmp_path / 'cams').iterdir()) == ['chelsea.png']
    exec(doei_block, ns)  # DOEI off and on, same weights
    off, on = ns['off']['predictions'][0], ns['on']['predictions'][0]
    assert off['labels'] == on['labels'] == [7]  # 'cat', by name
    assert off['cams'].shape == on['cams'].shape == (1, 300, 451)
    assert np.abs(off['cams'] - on['cams']).max() > 0
    assert (tmp_path / 'cams/off/chelsea.png').is_file() and (tmp_path / 'cams/on/chelsea.png').is_file()
