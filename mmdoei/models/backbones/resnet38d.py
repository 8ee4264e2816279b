"""ResNet-38d: the wide, dilated, pre-activation ResNet-38 of PSA and its DeepLab.

Wu, Shen and van den Hengel's "model A1" (ademxapp) as Ahn and Kwak use it
for AffinityNet (PSA, CVPR 2018) and as the DOEI paper's DeepLab backbone uses
it: a 3x3 stem, three stride-2 stages of pre-activation basic blocks (output
stride 8), a stage of basic blocks with dilation 2, then two pre-activation
bottleneck blocks with dilation 4 and spatial dropout, and a final BN-ReLU.

The same class is registered in mmseg's and in mmpretrain's ``MODELS``, so the
pseudo-label stage (mmpretrain scope) and the segmentation stage (mmseg scope)
find it under one name.

Outputs are numbered by stage, ``0..5`` (PSA's ``b2``..``b7``). Output ``i`` is
stage ``i``'s result *as the next layer sees it*: batch-normalised and ReLU'd
by the first BN of stage ``i + 1`` (the network is pre-activation, so this is
the only place an activated feature exists), and, for the last stage, by the
final BN. AffinityNet takes outputs ``(2, 3, 5)`` (PSA's ``conv4``,
``conv5``, ``conv6``: 512, 1024 and 4096 channels at stride 8), DeepLab the
last one.

Key names are ours (mmseg style); :func:`psa_to_mmdoei` maps the names of
PSA's converted ImageNet weights (and of its VOC-trained ``res38_cls.pth`` and
``resnet38_aff.pth``) onto them, and ``init_cfg=dict(type='Pretrained', ...)``
accepts either naming.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdoei.utils.registry import register_in

# Stage layout of PSA's network (one row per stage, b2..b7):
# (block kind, out channels, mid channels of basic blocks, stride,
#  dilation of the first conv of the first block, dilation elsewhere, dropout)
_STAGES = (
    ('basic', 128, 128, 2, 1, 1, 0.0),
    ('basic', 256, 256, 2, 1, 1, 0.0),
    ('basic', 512, 512, 2, 1, 1, 0.0),
    ('basic', 1024, 512, 1, 1, 2, 0.0),
    ('bottleneck', 2048, None, 1, 4, 4, 0.3),
    ('bottleneck', 4096, None, 1, 4, 4, 0.5),
)
STEM_CHANNELS = 64
DEFAULT_STAGE_BLOCKS = (3, 3, 6, 3, 1, 1)


class PreActBasicBlock(nn.Module):
    """Pre-activation block of two 3x3 convs (PSA's ``ResBlock``).

    ``BN-ReLU`` of the input feeds both the residual branch and, when the shape
    changes, the 1x1 projection shortcut; otherwise the shortcut is the raw
    input.
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 first_dilation: int = 1,
                 dilation: int = 1,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__()
        self.same_shape = in_channels == out_channels and stride == 1
        self.bn1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 3, stride, padding=first_dilation,
                               dilation=first_dilation, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, mid_channels)[1]
        self.conv2 = nn.Conv2d(mid_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.downsample = None if self.same_shape else nn.Conv2d(
            in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Return ``(output, BN-ReLU'd input)``."""
        pre = F.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(pre)
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + shortcut, pre


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck ``1x1 -> 3x3 -> 1x1`` with widths ``out/4``,
    ``out/2``, ``out`` and spatial dropout before the last two convs (PSA's
    ``ResBlock_bot``). The shortcut is always a 1x1 projection."""

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 dilation: int = 1,
                 dropout: float = 0.0,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__()
        if out_channels % 4:
            raise ValueError(f'bottleneck out_channels must be divisible by 4, got {out_channels}')
        quarter, half = out_channels // 4, out_channels // 2
        self.bn1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv1 = nn.Conv2d(in_channels, quarter, 1, stride, bias=False)
        self.bn2 = build_norm_layer(norm_cfg, quarter)[1]
        self.drop2 = nn.Dropout2d(dropout)
        self.conv2 = nn.Conv2d(quarter, half, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn3 = build_norm_layer(norm_cfg, half)[1]
        self.drop3 = nn.Dropout2d(dropout)
        self.conv3 = nn.Conv2d(half, out_channels, 1, bias=False)
        self.downsample = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Return ``(output, BN-ReLU'd input)``."""
        pre = F.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.drop2(F.relu(self.bn2(out))))
        out = self.conv3(self.drop3(F.relu(self.bn3(out))))
        return out + self.downsample(pre), pre


def _scaled(channels: int, factor: float, multiple: int = 1) -> int:
    return max(multiple, int(round(channels * factor / multiple)) * multiple)


@register_in('MODELS', 'mmpretrain', 'mmseg')  # stage 2 builds it in mmpretrain's scope, stage 3 in mmseg's
class ResNet38d(BaseModule):
    """Wide ResNet-38 with dilation (output stride 8), PSA's ``resnet38d``.

    Args:
        out_indices: Stages whose (activated) outputs are returned, ``0..5``;
            see the module docstring. AffinityNet: ``(2, 3, 5)``; DeepLab:
            ``(5,)`` (default).
        stage_blocks: Blocks per stage; the real network has
            ``(3, 3, 6, 3, 1, 1)``. Fewer blocks give a small variant for CPU
            tests and demos (only the counts of the first four stages can
            change: the last two are single bottlenecks).
        widen_factor: Multiplies every width (``0.125`` turns 64..4096 into
            8..512). ``1.0`` is the real network; weights load only then.
        frozen_stages: Stages with frozen weights (and BN in eval mode):
            ``-1`` none, ``0`` the stem (PSA's classifier), ``k`` the stem and
            stages ``0..k-1`` (PSA's AffinityNet freezes stem and ``b2``: 1).
        norm_cfg: Norm layers; PSA freezes every BN:
            ``dict(type='BN', requires_grad=False)`` with ``norm_eval=True``.
        norm_eval: Keep BN layers in eval mode while training.
        dropout: Spatial dropout of the two bottleneck stages (PSA 0.3, 0.5).
        init_cfg: ``dict(type='Pretrained', checkpoint=...)`` loads a state
            dict in our names or PSA's (converted on the fly, see
            :func:`psa_to_mmdoei`); a ``backbone.`` prefix is stripped.
    """

    def __init__(self,
                 out_indices: Sequence[int] = (5, ),
                 stage_blocks: Sequence[int] = DEFAULT_STAGE_BLOCKS,
                 widen_factor: float = 1.0,
                 frozen_stages: int = -1,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 dropout: Sequence[float] = (0.3, 0.5),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        stage_blocks = tuple(int(b) for b in stage_blocks)
        if len(stage_blocks) != len(_STAGES) or min(stage_blocks) < 1:
            raise ValueError(f'stage_blocks needs {len(_STAGES)} positive counts, got {stage_blocks}')
        if stage_blocks[4:] != (1, 1):
            raise ValueError(f'the two bottleneck stages have one block each, got {stage_blocks}')
        out_indices = tuple(int(i) for i in out_indices)
        if not out_indices or any(not 0 <= i < len(_STAGES) for i in out_indices):
            raise ValueError(f'out_indices must be in 0..{len(_STAGES) - 1}, got {out_indices}')
        if not -1 <= frozen_stages <= len(_STAGES):
            raise ValueError(f'frozen_stages must be in -1..{len(_STAGES)}, got {frozen_stages}')
        self.out_indices = out_indices
        self.stage_blocks = stage_blocks
        self.widen_factor = widen_factor
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        in_ch = _scaled(STEM_CHANNELS, widen_factor)
        self.conv1 = nn.Conv2d(3, in_ch, 3, padding=1, bias=False)
        self.out_channels: List[int] = []
        drops = iter(dropout)
        for s, ((kind, out, mid, stride, first_dil, dil, _), n) in enumerate(zip(_STAGES, stage_blocks)):
            out_ch = _scaled(out, widen_factor, 4)
            blocks = []
            for j in range(n):
                if kind == 'basic':
                    blocks.append(PreActBasicBlock(
                        in_ch, _scaled(mid, widen_factor), out_ch, stride=stride if j == 0 else 1,
                        first_dilation=first_dil if j == 0 else dil, dilation=dil, norm_cfg=norm_cfg))
                else:
                    blocks.append(PreActBottleneck(in_ch, out_ch, stride=stride, dilation=dil,
                                                   dropout=next(drops), norm_cfg=norm_cfg))
                in_ch = out_ch
            self.add_module(f'layer{s + 1}', nn.Sequential(*blocks))
            self.out_channels.append(out_ch)
        self.bn_out = build_norm_layer(norm_cfg, in_ch)[1]
        self._freeze_stages()

    @property
    def layers(self) -> List[nn.Sequential]:
        """The six stages, in order."""
        return [getattr(self, f'layer{i + 1}') for i in range(len(_STAGES))]

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Return the activated outputs of the stages in ``out_indices``."""
        outs: Dict[int, Tensor] = {}
        x = self.conv1(x)
        for s, layer in enumerate(self.layers):
            for j, block in enumerate(layer):
                x, pre = block(x)
                # The first block's BN-ReLU of its input is stage s-1's output
                # as seen by the network (pre-activation design).
                if j == 0 and s - 1 in self.out_indices:
                    outs[s - 1] = pre
        outs[len(_STAGES) - 1] = F.relu(self.bn_out(x))
        return tuple(outs[i] for i in self.out_indices)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        modules = [self.conv1] + self.layers[:self.frozen_stages]
        for m in modules:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> 'ResNet38d':
        """Train mode, keeping frozen stages (and BN if ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint in our or PSA's key names, else
        keep PyTorch's default initialisation (as PSA does)."""
        if not (isinstance(self.init_cfg, dict) and self.init_cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        path = self.init_cfg['checkpoint']
        ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
        state = backbone_state_dict(ckpt)
        load_backbone_state(self, state, source=path)
        self._freeze_stages()
        self._is_init = True


# PSA block part -> ours. PSA names: b{stage}[_{k}].{part}.{param}, stage 2..7.
_PSA_PARTS = {
    'bn_branch2a': 'bn1', 'conv_branch2a': 'conv1', 'bn_branch2b1': 'bn2', 'conv_branch2b1': 'conv2',
    'bn_branch2b2': 'bn3', 'conv_branch2b2': 'conv3', 'conv_branch1': 'downsample'}
_PSA_BLOCK = re.compile(r'^b([2-7])(?:_(\d+))?\.([a-z0-9_]+)\.(.+)$')
# AffinityNet head (PSA's resnet38_aff): f8_3/f8_4/f8_5 -> lateral convs, f9 -> fuse conv.
_PSA_HEAD = {'f8_3': 'lateral_convs.0', 'f8_4': 'lateral_convs.1', 'f8_5': 'lateral_convs.2', 'f9': 'fuse_conv'}
# Classifier weights of PSA's resnet38_cls (VOC) and the ImageNet head: no counterpart.
PSA_DROPPED = ('fc8.', 'linear1000')


def is_psa_state_dict(state: Mapping[str, Tensor]) -> bool:
    """True for PSA's key names (``conv1a.weight``, ``b2.bn_branch2a.weight``)."""
    return 'conv1a.weight' in state or any(_PSA_BLOCK.match(k) for k in state)


def psa_key_to_mmdoei(key: str) -> Optional[str]:
    """Map one PSA key to ours.

    ``conv1a.*`` -> ``conv1.*``; ``b{s}.{part}.*`` -> ``layer{s-1}.0.{part'}.*``
    and ``b{s}_{k}.{part}.*`` -> ``layer{s-1}.{k}.{part'}.*`` with ``part'`` from
    ``bn_branch2a/conv_branch2a/bn_branch2b1/conv_branch2b1/bn_branch2b2/
    conv_branch2b2/conv_branch1`` -> ``bn1/conv1/bn2/conv2/bn3/conv3/
    downsample``; ``bn7.*`` -> ``bn_out.*``; AffinityNet's ``f8_3/f8_4/f8_5``
    -> ``head.lateral_convs.0/1/2`` and ``f9`` -> ``head.fuse_conv`` (these
    carry the ``head.`` prefix; backbone keys carry none).

    Returns:
        Our key, or ``None`` for keys with no counterpart (``fc8``, the
        ImageNet classifier).

    Raises:
        KeyError: for a key that fits none of PSA's patterns.
    """
    if key.startswith(PSA_DROPPED):
        return None
    if key.startswith('conv1a.'):
        return 'conv1.' + key[len('conv1a.'):]
    if key.startswith('bn7.'):
        return 'bn_out.' + key[len('bn7.'):]
    head, _, rest = key.partition('.')
    if head in _PSA_HEAD:
        return f'head.{_PSA_HEAD[head]}.{rest}'
    m = _PSA_BLOCK.match(key)
    if m and m.group(3) in _PSA_PARTS:
        stage, idx, part, param = m.groups()
        return f'layer{int(stage) - 1}.{int(idx or 0)}.{_PSA_PARTS[part]}.{param}'
    raise KeyError(f'{key!r} is not a key of PSA\'s resnet38d / resnet38_aff / resnet38_cls')


def psa_to_mmdoei(state: Mapping[str, Tensor]) -> 'OrderedDict[str, Tensor]':
    """Rename a PSA ResNet-38d state dict (their converted ImageNet weights,
    ``res38_cls.pth`` or ``resnet38_aff.pth``) to our names.

    Backbone keys come out without prefix, AffinityNet head keys as
    ``head.*``; classifier keys are dropped (see :func:`psa_key_to_mmdoei`).
    """
    out = OrderedDict()
    for k, v in state.items():
        new = psa_key_to_mmdoei(k)
        if new is not None:
            out[new] = v
    return out


def backbone_state_dict(ckpt: Mapping) -> Dict[str, Tensor]:
    """The backbone's tensors from any supported checkpoint, in our names.

    Accepts PSA's dicts (converted), an mmengine checkpoint
    (``{'state_dict': {'backbone.*': ...}}``) or a bare state dict in our
    names; ``backbone.`` is stripped and ``head.*`` keys are left out.
    """
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, Mapping) else ckpt
    state = dict(state)
    if is_psa_state_dict(state):
        state = psa_to_mmdoei(state)
    if any(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    return {k: v for k, v in state.items() if not k.startswith('head.')}


def load_backbone_state(model: nn.Module, state: Mapping[str, Tensor], source: str = 'checkpoint') -> None:
    """Load ``state`` into ``model`` with clear errors.

    A shape mismatch (e.g. a small variant given the real weights) or a
    checkpoint sharing no key with the model is an error; BN's
    ``num_batches_tracked`` (absent from PSA's converted MXNet weights) may
    be missing. Other missing or unexpected keys are logged.

    Raises:
        ValueError: naming ``source`` and the offending keys.
    """
    own = model.state_dict()
    common = [k for k in state if k in own]
    if not common:
        raise ValueError(f'{source}: no key matches the ResNet-38d backbone (first keys: '
                         f'{list(state)[:3]}); expected PSA or mmdoei names')
    bad = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}' for k in common
           if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise ValueError(f'{source}: {len(bad)} tensor(s) differ in shape from the model (the weights '
                         'are for the real network: widen_factor=1 and stage_blocks=(3, 3, 6, 3, 1, 1)):\n  '
                         + '\n  '.join(bad[:5]))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith('num_batches_tracked')]
    logger = MMLogger.get_current_instance()
    if missing:
        logger.warning(f'{source}: {len(missing)} backbone tensors not in the checkpoint, e.g. {missing[:3]}')
    if unexpected:
        logger.warning(f'{source}: {len(unexpected)} checkpoint tensors unused, e.g. {unexpected[:3]}')
    logger.info(f'loaded {len(common)} backbone tensors from {source}')


__all__ = ['ResNet38d', 'PreActBasicBlock', 'PreActBottleneck', 'psa_to_mmdoei', 'psa_key_to_mmdoei',
           'is_psa_state_dict', 'backbone_state_dict', 'load_backbone_state']
