r"""Write a small synthetic dataset in the PASCAL VOC 2012 layout.

    python tools/dataset_converters/make_synthetic_voc.py data/synthetic_voc \
        --num-train 400 --num-val 100 --img-size 64 64 --seed 0

The dataset root for configs is then ``data/synthetic_voc/VOC2012``.
"""
import argparse
import os.path as osp
import sys

# the generator is the repository's research harness (projects/wsss_lab), not the installed package
sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help='output folder (plays the part of VOCdevkit)')
    parser.add_argument('--num-train', type=int, default=400, help='images in train_aug.txt')
    parser.add_argument('--num-val', type=int, default=100, help='images in val.txt')
    parser.add_argument(
        '--num-train-voc', type=int, default=None, help='of those, in train.txt (default half)')
    parser.add_argument('--img-size', type=int, nargs=2, default=(64, 64), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--border', type=int, default=1, help='half-width of the 255 boundary band')
    args = parser.parse_args(argv)
    from projects.wsss_lab.synthetic import make_synthetic_voc  # after parsing: --help imports no torch

    path = make_synthetic_voc(
        args.root,
        num_train=args.num_train,
        num_val=args.num_val,
        img_size=tuple(args.img_size),
        seed=args.seed,
        num_train_voc=args.num_train_voc,
        border=args.border)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
