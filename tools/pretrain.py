"""Pretrain the small ViT on the procedural set: this machine's stand-in for ImageNet weights.

    python tools/pretrain.py [--config configs/pretrain/vit-6l128_1xb64-15e_procedural-64.py]
                             [--seed N] [--out checkpoints/vit-6l128_procedural-64.pth] [--force]

Writes the procedural set (data/procedural/, mmpretrain's CustomDataset
layout; data/procedural_seed{N}/ for --seed N) if it is not there, trains the
config with mmengine's Runner (deterministic, the config's thread count) and
keeps the final weights at ``--out`` (default: checkpoints/vit-6l128_procedural-64.pth
for seed 0, where the demo configs' ``init_cfg`` finds it, and
checkpoints/vit-6l128_procedural-64_seed{N}.pth for the others, where the
sweep's --pretrain-seeds find them). An existing ``--out`` is reused unless
``--force``; the demo and the sweep call the same function, so nothing is
pretrained twice. ``--seed`` seeds both the set and training.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

from mmengine.config import DictAction  # noqa: E402

import mmdoei  # noqa: E402,F401  registers everything
from mmdoei.apis.pretrain import (PRETRAIN_CONFIG, pretrain_backbone, pretrained_checkpoint,  # noqa: E402
                                  procedural_root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=PRETRAIN_CONFIG)
    parser.add_argument('--seed', type=int, default=0, help='seeds the procedural set and training')
    parser.add_argument('--out', help='where the checkpoint is kept (default: checkpoints/'
                        'vit-6l128_procedural-64.pth, with _seed{N} for seeds other than 0)')
    parser.add_argument('--data-root', help="the procedural set's folder (default: data/procedural, "
                        'with _seed{N} for seeds other than 0)')
    parser.add_argument('--work-dir', help='the runner work dir (default work_dirs/pretrain/<config>)')
    parser.add_argument('--force', action='store_true', help='pretrain even if --out exists')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    args = parser.parse_args()
    pretrain_backbone(args.config, args.out or pretrained_checkpoint(args.seed),
                      data_root=args.data_root or procedural_root(args.seed), work_dir=args.work_dir,
                      force=args.force, cfg_options=args.cfg_options, seed=args.seed)


if __name__ == '__main__':
    main()
