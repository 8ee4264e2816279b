"""DOEIHook from two config lines, whatever the host config's scope and attention family.

The example configs of ``configs/doei_any/`` (stock mmpretrain / mmseg configs
plus the two DOEI lines) train a few iterations through ``tools/train.py`` on
tiny folders in their datasets' layouts, shrunk by ``--cfg-options`` only.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import HOOKS as ROOT_HOOKS
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS as PRETRAIN_HOOKS
from mmseg.registry import HOOKS as SEG_HOOKS
from PIL import Image

from mmdoei.doei import DOEIHook, DOEIMMCVAttention

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / 'configs' / 'doei_any'
TWO_LINES = ("custom_imports = dict(imports=['mmdoei'], allow_failed_imports=False)\n"
             "custom_hooks = [dict(type='DOEIHook')]\n")
SEGMENTER = 'mmseg::segmenter/segmenter_vit-t_mask_8xb1-160k_ade20k-512x512.py'
# An mmengine-root config reaching into mmpretrain by prefix.
ROOT_SCOPE_CONFIG = """\
default_scope = 'mmengine'
model = dict(
    type='mmpretrain.ImageClassifier',
    data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor', num_classes=10),
    backbone=dict(type='mmpretrain.VisionTransformer', arch='deit-tiny', img_size=64, patch_size=16),
    neck=None,
    head=dict(type='mmpretrain.VisionTransformerClsHead', num_classes=10, in_channels=192,
              loss=dict(type='mmpretrain.CrossEntropyLoss')))
"""


@pytest.mark.parametrize('registry,scope', [(PRETRAIN_HOOKS, 'mmpretrain'), (SEG_HOOKS, 'mmseg'),
                                            (ROOT_HOOKS, 'mmengine')])
def test_hook_builds_through_every_scopes_registry(registry, scope):
    with DefaultScope.overwrite_default_scope(scope):
        hook = registry.build(dict(type='DOEIHook', alpha=0.2, layers=3))
    assert isinstance(hook, DOEIHook) and hook.cfg.alpha == 0.2 and hook.cfg.layers == 3


@pytest.fixture
def keep_default_scope():
    """A Runner makes its scope the current one for every later test (mmengine keeps the
    last DefaultScope created): forget the ones this test created."""
    before = set(DefaultScope._instance_dict)
    yield
    for name in set(DefaultScope._instance_dict) - before:
        del DefaultScope._instance_dict[name]


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.slow
def test_runner_with_mmseg_scope_attaches_to_segmenter(tmp_path, keep_default_scope):
    cfg = Config.fromfile(_write(tmp_path, 'seg.py', f"_base_ = ['{SEGMENTER}']\n"
                                 'model = dict(pretrained=None)\n' + TWO_LINES))
    cfg.work_dir = str(tmp_path)
    assert cfg.default_scope == 'mmseg'
    runner = Runner.from_cfg(cfg)
    runner.call_hook('before_run')
    backbone = runner.model.backbone
    assert backbone._doei_handle.family.name == 'mmcv MultiheadAttention'
    assert all(isinstance(layer.attn, DOEIMMCVAttention) for layer in backbone.layers)
    with torch.no_grad():
        seg = runner.model(torch.randn(1, 3, 64, 64), mode='tensor')
    assert seg.shape == (1, 150, 4, 4) and torch.isfinite(seg).all()  # the head's 1/16 logits


def test_runner_with_mmengine_root_scope(tmp_path, keep_default_scope):
    cfg = Config.fromfile(_write(tmp_path, 'root.py', ROOT_SCOPE_CONFIG + TWO_LINES))
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.call_hook('before_run')
    assert runner.model.backbone._doei_handle.family.name == 'mmpretrain MultiheadAttention'


@pytest.mark.slow
def test_custom_imports_alone_register_everything_in_a_fresh_interpreter(tmp_path):
    """No ``import mmdoei`` anywhere: only the configs' ``custom_imports``."""
    configs = {
        'mmpretrain': _write(tmp_path, 'pre.py', "_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py']\n"
                             + TWO_LINES),
        'mmseg': _write(tmp_path, 'seg.py', f"_base_ = ['{SEGMENTER}']\nmodel = dict(pretrained=None)\n"
                        + TWO_LINES),
        'mmengine': _write(tmp_path, 'root.py', ROOT_SCOPE_CONFIG + TWO_LINES),
    }
    script = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.runner import Runner
        for scope, path in {configs!r}.items():
            assert 'mmdoei' not in sys.modules or scope != 'mmpretrain'
            cfg = Config.fromfile(path)
            cfg.work_dir = {str(tmp_path)!r} + '/' + scope
            runner = Runner.from_cfg(cfg)
            runner.call_hook('before_run')
            handle = runner.model.backbone._doei_handle
            print('ATTACHED', scope, cfg.default_scope, handle.family.name, handle.depth)
    """)
    proc = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith('ATTACHED')]
    assert lines == ['ATTACHED mmpretrain mmpretrain mmpretrain MultiheadAttention 12',
                     'ATTACHED mmseg mmseg mmcv MultiheadAttention 12',
                     'ATTACHED mmengine mmengine mmpretrain MultiheadAttention 12']


# ---------------------------------------------------------------- the example configs

def _image(rng: np.random.Generator, size=(48, 64)) -> Image.Image:
    return Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8))


def make_imagenet_folder(root: Path, num_classes: int = 2, per_class: int = 2) -> Path:
    """ImageNet's layout: ``{train,val}/<wnid>/*.JPEG`` and ``meta/{train,val}.txt``."""
    rng = np.random.default_rng(0)
    (root / 'meta').mkdir(parents=True)
    for split in ('train', 'val'):
        lines = []
        for label in range(num_classes):
            wnid = f'n0000000{label}'
            (root / split / wnid).mkdir(parents=True)
            for i in range(per_class):
                _image(rng).save(root / split / wnid / f'{wnid}_{i}.JPEG')
                lines.append(f'{wnid}/{wnid}_{i}.JPEG {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root


def make_ade20k_folder(root: Path, num: int = 2) -> Path:
    """ADE20K's layout: ``images/{training,validation}/*.jpg`` and
    ``annotations/{training,validation}/*.png`` (0 = unlabelled, 1..150 classes)."""
    rng = np.random.default_rng(0)
    for split in ('training', 'validation'):
        (root / 'images' / split).mkdir(parents=True)
        (root / 'annotations' / split).mkdir(parents=True)
        for i in range(num):
            stem = f'ADE_{split[:5]}_{i:08d}'
            _image(rng).save(root / 'images' / split / f'{stem}.jpg')
            label = np.zeros((48, 64), np.uint8)
            label[8:40, 8:32], label[8:40, 32:56] = 1 + i, 10 + i
            Image.fromarray(label).save(root / 'annotations' / split / f'{stem}.png')
    return root


def _loaders(data_root: Path) -> list:
    opts = []
    for loader in ('train_dataloader', 'val_dataloader'):
        opts += [f'{loader}.dataset.data_root={data_root}', f'{loader}.batch_size=2',
                 f'{loader}.num_workers=0', f'{loader}.persistent_workers=False']
    return opts


def _cls_small(size: int) -> list:
    """One epoch of two iterations on ``size``-pixel crops. mmpretrain's ImageNet pipelines are
    [load, RandomResizedCrop, ...] and [load, ResizeEdge, CenterCrop, ...]; its schedules
    [LinearLR warm-up, CosineAnnealingLR from the warm-up's end], which must begin within
    the single epoch."""
    return ['train_cfg.max_epochs=1', 'param_scheduler.1.begin=0', 'default_hooks.logger.interval=1',
            f'train_dataloader.dataset.pipeline.1.scale={size}',
            f'val_dataloader.dataset.pipeline.1.scale={size}',
            f'val_dataloader.dataset.pipeline.2.crop_size={size}']


def _train(tmp_path: Path, config: str, options: list) -> str:
    work_dir = tmp_path / 'work'
    cmd = [sys.executable, 'tools/train.py', str(EXAMPLES / config), '--work-dir', str(work_dir),
           '--cfg-options', *options]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'PYTHONPATH': str(ROOT)})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert list(work_dir.glob('*.pth')), 'no checkpoint written'
    return out


# (config, crop size, shrinking options, what the hook logs) for the mmpretrain examples.
CLS_EXAMPLES = {
    'deit-base': ('doei_deit-base_16xb64_in1k.py', 64, [
        'model.backbone.arch=deit-tiny', 'model.backbone.img_size=64', 'model.head.in_channels=192'],
        'VisionTransformer (mmpretrain MultiheadAttention attention, adapter DOEIAttention): '
        '12 of 12 blocks, C=1'),
    'timm-deit-small': ('doei_timm-deit-small_4xb256_in1k.py', 64, [
        'model.backbone.pretrained=False', 'model.backbone.img_size=64', 'model.backbone.depth=4',
        'model.backbone.embed_dim=64', 'model.backbone.num_heads=2', 'model.head.in_channels=64'],
        'TIMMBackbone (timm Attention attention, adapter DOEITimmAttention): 4 of 4 blocks, C=1'),
    'eva02-tiny': ('doei_eva02-tiny-p14_in1k.py', 56, ['model.backbone.img_size=56'],
                   'ViTEVA02 (mmpretrain AttentionWithRoPE attention, adapter DOEIEVA02Attention): '
                   '12 of 12 blocks, C=1'),
}


@pytest.mark.slow
@pytest.mark.parametrize('name', list(CLS_EXAMPLES))
def test_example_mmpretrain_configs(tmp_path, name):
    config, size, options, attached = CLS_EXAMPLES[name]
    data = make_imagenet_folder(tmp_path / 'imagenet')
    out = _train(tmp_path, config, _loaders(data) + _cls_small(size) + options)
    assert f'DOEI attached to {attached}' in out
    assert 'Epoch(train) [1][2/2]' in out and 'accuracy/top1' in out


@pytest.mark.slow
def test_example_mmseg_segmenter(tmp_path):
    data = make_ade20k_folder(tmp_path / 'ade')
    # mmseg's ADE20K pipelines: [load, load ann, RandomResize, RandomCrop, ...] and [load, Resize, ...].
    out = _train(tmp_path, 'doei_segmenter_vit-t_mask_8xb1-160k_ade20k-512x512.py', _loaders(data) + [
        'model.pretrained=None', 'model.backbone.num_layers=2', 'model.backbone.img_size=(64,64)',
        'model.data_preprocessor.size=(64,64)', 'model.test_cfg.crop_size=(64,64)',
        'model.test_cfg.stride=(48,48)', 'train_dataloader.dataset.pipeline.2.scale=(128,64)',
        'train_dataloader.dataset.pipeline.3.crop_size=(64,64)', 'val_dataloader.dataset.pipeline.1.scale=(128,64)',
        'train_cfg.max_iters=3', 'train_cfg.val_interval=3', 'default_hooks.logger.interval=1'])
    assert ('DOEI attached to VisionTransformer (mmcv MultiheadAttention attention, adapter '
            'DOEIMMCVAttention): 2 of 2 blocks, C=1') in out
    assert 'Iter(train) [3/3]' in out and 'mIoU' in out


@pytest.mark.slow
def test_mctformer_v2_deit_base_config(keep_default_scope):
    """Our DeiT-B MCTformer-V2 (+ DOEI): the DeiT-S config with the base backbone and its weights."""
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(str(ROOT / 'configs/doei/doei-mctformer-v2_deit-b_1xb64-60e_voc12aug-224.py'))
    backbone = cfg.model.backbone
    assert backbone.arch == 'deit-base' and backbone.drop_path_rate == 0.1
    assert backbone.init_cfg.checkpoint == ('https://dl.fbaipublicfiles.com/deit/'
                                            'deit_base_patch16_224-b5f2ef4d.pth')
    assert cfg.model.doei.alpha == 0.35 and cfg.train_dataloader.batch_size == 64
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)  # no init_weights: nothing is downloaded
    assert model.backbone.embed_dims == 768 and len(model.backbone.layers) == 12
    assert model.backbone.doei is not None and model.backbone.doei.num_cls == 20
