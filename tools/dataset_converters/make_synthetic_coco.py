r"""Write a small synthetic dataset in the MS COCO 2014 layout (WSSS style).

    python tools/dataset_converters/make_synthetic_coco.py data/synthetic_coco \
        --num-train 400 --num-val 100 --img-size 64 64 --seed 0
"""
import argparse
import os.path as osp
import sys

# the generator is the repository's research harness (projects/wsss_lab), not the installed package
sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help='output folder (the COCO data_root)')
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=100)
    parser.add_argument('--img-size', type=int, nargs=2, default=(64, 64), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    from projects.wsss_lab.synthetic import make_synthetic_coco  # after parsing: --help imports no torch

    path = make_synthetic_coco(
        args.root,
        num_train=args.num_train,
        num_val=args.num_val,
        img_size=tuple(args.img_size),
        seed=args.seed)
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
