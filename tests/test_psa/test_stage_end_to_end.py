"""The pseudo-label stage end to end at tiny scale, with mmengine's Runner: train
AffinityNet from CAMs with a config, write random-walk masks, resume, and stop
on bad CAMs before the long work.

The CAMs are stand-ins made from the GT masks (blur, a random peak, smooth
noise; :mod:`projects.wsss_lab.standin_cams`), not a classifier's: this test checks
the plumbing, not the quality of stage 1.
"""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

import mmdoei  # noqa: F401  registers the stage
from mmdoei.apis import run_psa_inference, set_cam_dir
from mmdoei.apis.config_surgery import set_data_root
from mmdoei.datasets import read_cls_labels, voc_palette
from mmdoei.utils.locks import FOLDER_LOCK
from mmdoei.utils.record import RECORD_FILE
from mmdoei.utils.weights import safe_load
from projects.wsss_lab.standin_cams import make_standin_cams
from projects.wsss_lab.synthetic import make_synthetic_voc

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'configs/psa/affnet_resnet38d-tiny_1xb16-20e_synthvoc-128x128.py'
NUM_IMAGES = 8

# the module's fixture trains AffinityNet: every test here is slow
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def stage(tmp_path_factory):
    """Data, stand-in CAMs, a config pointing at them and a trained checkpoint."""
    root = tmp_path_factory.mktemp('psa_stage')
    data_root = make_synthetic_voc(root / 'voc', num_train=NUM_IMAGES, num_val=1, img_size=(64, 96), seed=3)
    cam_dir = root / 'cams'
    make_standin_cams(str(data_root), str(cam_dir), progress=False)
    cfg = Config.fromfile(str(CONFIG))
    set_data_root(cfg, str(data_root))
    assert set_cam_dir(cfg, str(cam_dir)) == 2  # the train and the test pipeline
    for t in cfg.train_dataloader.dataset.pipeline:
        if t['type'] == 'mmseg.RandomCrop':
            t['crop_size'] = (64, 64)
        elif t['type'] == 'RandomPad':
            t['size'] = 64
    cfg.train_dataloader.batch_size = 4
    cfg.train_cfg.max_epochs = 2
    cfg.param_scheduler[0]['end'] = 2
    cfg.default_hooks.checkpoint.interval = 2
    cfg.work_dir = str(root / 'train')
    Runner.from_cfg(cfg.copy()).train()
    ckpt = root / 'train' / 'epoch_2.pth'
    assert ckpt.is_file()
    assert len(os.listdir(str(cam_dir) + '_psa_crf')) == NUM_IMAGES  # CRF'd labels were cached
    return dict(root=root, data_root=data_root, cam_dir=cam_dir, cfg=cfg, ckpt=ckpt)


def test_masks_resume_and_scores(stage, tmp_path):
    out = tmp_path / 'masks'
    labels = read_cls_labels(str(stage['data_root'] / 'ImageSets/Segmentation/cls_labels.txt'), 20)
    metrics = run_psa_inference(stage['cfg'], str(stage['ckpt']), str(stage['cam_dir']), str(out),
                                work_dir=str(tmp_path / 'infer'))
    assert set(metrics) == {'seed/mIoU', 'seed/FP', 'seed/FN'} and 0 <= metrics['seed/mIoU'] <= 100
    first = metrics
    files = masks(out)
    assert len(files) == NUM_IMAGES and not [f for f in files if not f.endswith('.png')]  # no temp files left
    for name in files:
        with Image.open(out / name) as img:
            assert img.mode == 'P' and img.size == (96, 64)
            assert img.getpalette()[:12] == voc_palette()[:12]
            values = set(np.unique(np.asarray(img)).tolist())
        assert values <= {0} | {c + 1 for c in labels[name[:-4]]}, name

    # Resume: only missing masks are made; finished ones are not touched.
    kept, gone = out / files[0], files[1:3]
    before = kept.stat().st_mtime_ns
    for name in gone:
        (out / name).unlink()
    metrics = run_psa_inference(stage['cfg'], str(stage['ckpt']), str(stage['cam_dir']), str(out),
                                work_dir=str(tmp_path / 'infer'), evaluate=False)
    assert metrics == {}
    assert masks(out) == files and kept.stat().st_mtime_ns == before
    # nothing left to do: the score is still the whole folder's
    assert run_psa_inference(stage['cfg'], str(stage['ckpt']), str(stage['cam_dir']), str(out)) == first


def masks(folder):
    """The folder's files but its record and lock (temporary files included: none may be left)."""
    return sorted(f for f in os.listdir(folder) if f not in (RECORD_FILE, FOLDER_LOCK))


def test_bad_cams_stop_inference_before_the_model(stage, tmp_path):
    cam_dir = tmp_path / 'cams'
    cam_dir.mkdir()
    names = sorted(n for n in os.listdir(stage['cam_dir']) if n.endswith('.npz'))  # not the folder's lock file
    for name in names:
        (cam_dir / name).write_bytes((stage['cam_dir'] / name).read_bytes())
    data = (cam_dir / names[0]).read_bytes()
    (cam_dir / names[0]).write_bytes(data[:len(data) // 3])  # truncated
    (cam_dir / names[1]).unlink()  # missing
    with pytest.raises(ValueError) as err:
        run_psa_inference(stage['cfg'], str(stage['ckpt']), str(cam_dir), str(tmp_path / 'masks'),
                          work_dir=str(tmp_path / 'infer'))
    msg = str(err.value)
    assert msg.startswith(f'2 of {NUM_IMAGES} CAM files in {cam_dir} are unusable')
    assert f'{cam_dir}/{names[0]}: cannot read as .npz' in msg
    assert f'{cam_dir}/{names[1]}: CAM file does not exist' in msg
    assert not (tmp_path / 'masks').exists() and not (tmp_path / 'infer').exists()  # nothing ran


def test_bad_cams_stop_training_before_the_first_iteration(stage, tmp_path):
    cam_dir = tmp_path / 'cams'
    cam_dir.mkdir()
    names = sorted(n for n in os.listdir(stage['cam_dir']) if n.endswith('.npz'))  # not the folder's lock file
    for name in names:
        (cam_dir / name).write_bytes((stage['cam_dir'] / name).read_bytes())
    bad = np.load(cam_dir / names[2])
    np.savez(cam_dir / names[2], keys=bad['keys'], cams=bad['cams'][:, :32])  # wrong size
    cfg = stage['cfg'].copy()
    set_cam_dir(cfg, str(cam_dir))
    cfg.work_dir = str(tmp_path / 'train')
    with pytest.raises(ValueError, match=rf'{cam_dir}/{names[2][:-4]}\.npz: CAM size 32x96 differs from the '
                                         r'image size 64x96'):
        Runner.from_cfg(cfg).train()
    assert not list((tmp_path / 'train').rglob('*.pth'))


def test_checkpoint_of_another_model_stops_inference_before_any_mask(stage, tmp_path):
    """The Runner loads load_from with strict=False; a stage-1 checkpoint here would give random masks."""
    state = safe_load(str(stage['ckpt']), map_location='cpu')['state_dict']
    wrong = tmp_path / 'mct.pth'
    key = next(k for k, v in state.items() if v.dim() == 4)  # a conv weight, now with another shape
    torch.save({'state_dict': dict(state, **{key: torch.zeros(3, 3, 1, 1), 'backbone.cls_token': torch.zeros(1)})},
               wrong)
    out = tmp_path / 'masks'
    with pytest.raises(ValueError) as err:
        run_psa_inference(stage['cfg'], str(wrong), str(stage['cam_dir']), str(out), work_dir=str(tmp_path / 'w'))
    msg = str(err.value)
    assert msg.startswith(f'{wrong} does not fit AffinityNet: 1 unexpected (e.g. backbone.cls_token); '
                          f'1 mis-shaped (e.g. {key}: checkpoint (3, 3, 1, 1), model {tuple(state[key].shape)})')
    assert 'Pass --partial-load (partial_load=True) to load the matching tensors anyway' in msg
    assert not list(out.glob('*.png'))  # no mask (the folder may hold its lock and record)
    # asked for, the matching tensors load and the masks are written
    run_psa_inference(stage['cfg'], str(wrong), str(stage['cam_dir']), str(out), work_dir=str(tmp_path / 'w'),
                      evaluate=False, partial_load=True)
    assert len(list(out.glob('*.png'))) == NUM_IMAGES
