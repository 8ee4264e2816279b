"""Convert PSA's ResNet-38d weights to mmdoei's key names.

    python tools/model_converters/psa_resnet38_to_mmdoei.py SRC DST

SRC is a torch file in PSA's names: their ImageNet weights (ademxapp's
``ilsvrc-cls_rna-a1_cls1000_ep-0001.params`` turned into a torch state dict by
PSA's ``network.resnet38d.convert_mxnet_to_torch`` and ``torch.save``), their
VOC classifier ``res38_cls.pth`` or their AffinityNet ``resnet38_aff.pth``. DST
is an mmengine-style checkpoint ``{'state_dict': ...}``: backbone tensors as
``backbone.*`` and, for AffinityNet weights, head tensors as ``head.*``, so it
serves as a backbone ``init_cfg`` checkpoint and as ``load_from`` of
AffinityNet. Classifier layers (``fc8``) are dropped. SRC is read with
``weights_only=True`` (no code from the file runs).

The key mapping is :func:`mmdoei.models.backbones.resnet38d.psa_key_to_mmdoei`.
"""
import argparse
import os.path as osp
import sys
from collections import OrderedDict
from typing import TYPE_CHECKING

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))

if TYPE_CHECKING:
    import torch

# torch and mmdoei are imported in main(), after the arguments are parsed: --help answers at once.


def convert(state: dict) -> 'OrderedDict[str, torch.Tensor]':
    """PSA state dict -> ours with ``backbone.``/``head.`` prefixes."""
    from mmdoei.models.backbones.resnet38d import is_psa_state_dict, psa_key_to_mmdoei
    if not is_psa_state_dict(state):
        raise ValueError(f'not a PSA ResNet-38d state dict (first keys: {list(state)[:3]})')
    out = OrderedDict()
    for key, value in state.items():
        new = psa_key_to_mmdoei(key)
        if new is not None:
            out[new if new.startswith('head.') else 'backbone.' + new] = value
    return out


def main(argv=None) -> None:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help="PSA weights (torch file, PSA key names)")
    parser.add_argument('dst', help='output checkpoint (mmdoei key names)')
    args = parser.parse_args(argv)

    import torch

    from mmdoei.models.backbones.resnet38d import psa_key_to_mmdoei
    from mmdoei.utils.io import atomic_write

    state = torch.load(args.src, map_location='cpu', weights_only=True)
    if isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
        state = state['state_dict']
    out = convert(state)
    dropped = sorted(k for k in state if psa_key_to_mmdoei(k) is None)
    with atomic_write(args.dst, 'wb') as f:
        torch.save({'state_dict': out, 'meta': dict(source=osp.basename(args.src), converter=osp.basename(__file__))},
                   f)
    heads = sum(k.startswith('head.') for k in out)
    print(f'{args.src}: {len(out) - heads} backbone and {heads} head tensors written to {args.dst}'
          + (f'; dropped {dropped}' if dropped else ''))


if __name__ == '__main__':
    main()
