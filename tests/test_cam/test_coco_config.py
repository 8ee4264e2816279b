"""A COCO config generates and scores CAMs on a COCO-layout folder by changing data_root."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmdoei.apis import cam_generation_cfg, evaluate_seeds
from mmdoei.apis.config_surgery import set_data_root
from projects.wsss_lab.synthetic import make_synthetic_coco

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_coco_config_on_coco_layout_folder(tmp_path):
    data_root = make_synthetic_coco(tmp_path / 'coco', num_train=12, num_val=4, img_size=(48, 64))
    cfg = Config.fromfile(str(ROOT / 'configs/doei/doei-mctformer-v2_deit-s_1xb64-60e_coco14-224.py'))
    assert set_data_root(cfg, str(data_root)) >= 4
    # CPU-test scale: a tiny backbone with no download; everything else is the config's.
    cfg.model.backbone = dict(arch=dict(embed_dims=32, num_layers=3, num_heads=2, feedforward_channels=64),
                              img_size=64, patch_size=16, init_cfg=None)
    cfg.cam_dataloader.num_workers = 0
    cfg.work_dir = str(tmp_path / 'work')
    out = tmp_path / 'cams'
    cam_generation_cfg(cfg, str(out), scales=(1.0, ))
    Runner.from_cfg(cfg).test()
    ids = (data_root / 'train_id.txt').read_text().split()
    assert sorted(p.stem for p in out.glob('*.npz')) == sorted(ids)
    report = evaluate_seeds(cfg, str(out), progress=False)
    assert report['num_classes'] == 81 and report['num_images'] == len(ids)
    assert 0 <= report['mIoU'] <= 100
