"""Each baseline's VOC config, with and without DOEI, at tiny scale: a few iterations on a
VOC-layout folder, then the CAM tool (CAMGenerationLoop, as tools/test.py --cam-out) and the
seed metric. One test for every baseline; what differs is how each is shrunk."""
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config

from .tiny import one_thread  # noqa: F401  (autouse)
from .tiny import TRANSCAM_TINY, TSCAM_TINY

ROOT = Path(__file__).resolve().parents[2]


def shrink_tscam(cfg: Config) -> None:
    cfg.model.backbone.update(TSCAM_TINY, drop_path_rate=0., init_cfg=None)  # no download
    cfg.train_dataloader.dataset.pipeline[1].scale = 64  # RandomResizedCrop


def shrink_transcam(cfg: Config) -> None:
    cfg.model.backbone.update(TRANSCAM_TINY, init_cfg=None)  # no download
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert [t.type for t in pipeline] == [
        'LoadImageFromFile', 'RandomResize', 'RandomFlip', 'NumpyToPIL', 'torchvision/ColorJitter',
        'PILToNumpy', 'RandomCrop', 'PackInputs']
    pipeline[1].scale = (48, 48)                            # the authors' 320..640, scaled
    pipeline[6].crop_size = 64                              # the authors' 512, scaled


SHRINK = {
    'tscam/tscam_deit-s_1xb64-60e_voc12aug-224.py': shrink_tscam,
    'doei/doei-tscam_deit-s_1xb64-60e_voc12aug-224.py': shrink_tscam,
    'transcam/transcam_conformer-s_1xb8-20e_voc12aug-512.py': shrink_transcam,
    'doei/doei-transcam_conformer-s_1xb8-20e_voc12aug-512.py': shrink_transcam,
}


@pytest.mark.slow
@pytest.mark.parametrize('config', list(SHRINK))
def test_config_trains_and_its_cams_go_through_the_cam_tool(config, synthetic_voc, tmp_path):
    from mmengine.runner import Runner

    from mmdoei.apis import cam_generation_cfg, evaluate_seeds
    from mmdoei.apis.config_surgery import set_data_root

    cfg = Config.fromfile(str(ROOT / 'configs' / config))
    set_data_root(cfg, str(synthetic_voc))
    cfg.work_dir = str(tmp_path / 'work')
    SHRINK[config](cfg)
    cfg.train_dataloader.update(batch_size=4, num_workers=0, persistent_workers=False)
    cfg.cam_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, save_best=None)
    cfg.default_hooks.logger.interval = 2

    out = tmp_path / 'cams'
    # CAMs of the seed-scoring split, by the same Runner after training (one Runner keeps it quick).
    cfg.cam_dataloader.dataset.split = cfg.cam_eval.split
    cam_generation_cfg(cfg, str(out), scales=(1.0, 0.5))
    runner = Runner.from_cfg(cfg)
    assert (runner.model.backbone.doei is not None) == ('doei-' in config)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) >= 5 and np.isfinite(losses).all()
    runner.test()
    ids = (synthetic_voc / cfg.cam_eval.split).read_text().split()
    assert sorted(p.stem for p in out.glob('*.npz')) == sorted(ids)
    report = evaluate_seeds(cfg, str(out), progress=False)
    assert report['num_images'] == len(ids) and 0 <= report['mIoU'] <= 100
