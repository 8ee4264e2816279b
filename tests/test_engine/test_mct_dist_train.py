"""configs/doei/mct_voc.py (at test scale) trains with 2 CPU ranks on a VOC-layout folder."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'tests/data/configs/tiny_mct_voc.py'


@pytest.mark.slow
def test_dist_train_two_ranks_loss_falls_and_checkpoint_loads(mct_two_rank_run):
    # conftest's mct_two_rank_run: tools/dist_train.sh CONFIG 2 on 48 synthetic 64 x 64 images,
    # batch 4 a rank, 4 epochs, a log row every 3 iterations (shared with test_training.py).
    log, work = mct_two_rank_run['log'], mct_two_rank_run['work']
    assert mct_two_rank_run['returncode'] == 0, log[-3000:]
    assert 'Distributed training: True' in log and 'GPU number: 2' in log
    losses = [float(x) for x in re.findall(r'Epoch\(train\).*? loss: ([0-9.]+)', log)]
    assert len(losses) >= 4, log[-2000:]
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    cfg = Config.fromfile(str(CONFIG))
    model = MODELS.build(cfg.model)
    ckpt = load_checkpoint(model, str(work / 'epoch_4.pth'), map_location='cpu', strict=True)
    assert ckpt['meta']['epoch'] == 4
    assert model.backbone.doei is not None  # DOEI came with the config
