"""Pretrain the small ViT on the procedural set: this machine's stand-in for ImageNet weights.

    python tools/pretrain.py [--config configs/pretrain/vit-6l128_1xb64-15e_procedural-64.py]
                             [--out checkpoints/vit-6l128_procedural-64.pth] [--force]

Writes the procedural set (data/procedural/, mmpretrain's CustomDataset
layout) if it is not there, trains the config with mmengine's Runner (about
10 minutes on 2 CPU cores) and keeps the final weights at ``--out``, where the
demo configs' ``init_cfg`` finds them. An existing ``--out`` is reused unless
``--force``; the demo calls the same function, so it never pretrains twice.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

from mmengine.config import DictAction  # noqa: E402

import mmdoei  # noqa: E402,F401  registers everything
from mmdoei.apis.pretrain import PRETRAIN_CONFIG, PRETRAINED_CHECKPOINT, pretrain_backbone  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=PRETRAIN_CONFIG)
    parser.add_argument('--out', default=PRETRAINED_CHECKPOINT, help='where the checkpoint is kept')
    parser.add_argument('--data-root', help="the procedural set's folder (default: the config's)")
    parser.add_argument('--work-dir', help='the runner work dir (default work_dirs/pretrain/<config>)')
    parser.add_argument('--force', action='store_true', help='pretrain even if --out exists')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    args = parser.parse_args()
    pretrain_backbone(args.config, args.out, data_root=args.data_root, work_dir=args.work_dir,
                      force=args.force, cfg_options=args.cfg_options)


if __name__ == '__main__':
    main()
