"""The notebook API: init_model, inference_cams, show_cams."""
from pathlib import Path

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mmdoei.apis import inference_cams, init_model, show_cams

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / 'tests/data/configs/tiny_mct_voc.py')


def test_three_lines(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    model.init_weights()
    ckpt = tmp_path / 'm.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    img = tmp_path / 'img.jpg'
    cv2.imwrite(str(img), np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8))

    m = init_model(CONFIG, str(ckpt))
    result = inference_cams(m, str(img), labels=[3, 7])
    row = show_cams(str(img), result, out_file=str(tmp_path / 'cams.png'))

    assert result['labels'] == [3, 7] and result['cams'].shape == (2, 48, 80)
    assert result['cams'].min() >= 0 and np.isclose(result['cams'].max(), 1, atol=1e-4)
    # image and two overlays, enlarged and captioned by the renderer, with a colour bar below
    assert row.shape[0] > 48 and row.shape[1] >= 80 * 3 and (tmp_path / "cams.png").exists()
    # The same image given as an array (BGR) gives the same maps.
    again = inference_cams(m, cv2.imread(str(img)), labels=[3, 7])
    np.testing.assert_allclose(again['cams'], result['cams'], atol=1e-6)
    # Without labels: the predicted ones (at least one).
    assert len(inference_cams(m, str(img))['labels']) >= 1
    # DOEI switched on for CAM extraction only changes the maps, not the weights.
    m_doei = init_model(CONFIG, str(ckpt), doei=dict(st_p2c=.05, af_p2c=1., sf_p2c=-.5))
    assert not np.allclose(inference_cams(m_doei, str(img), labels=[3, 7])['cams'], result['cams'])
