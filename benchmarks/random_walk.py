"""Random walk on one VOC-sized image: the sparse walk against PSA's dense squaring.

    python benchmarks/random_walk.py [--repeats 5] [--height 375 --width 500]

Same inputs for every method: affinities of a smooth random feature map on the
stride-8 grid of a 500 x 375 image (63 x 47 = 2,961 nodes, radius 5), CAMs of two
classes. Each method goes from affinities to the label map (background score,
pooling, walk, up-sampling, arg-max). Prints medians over the repeats, the ratio to
the dense procedure and whether the labels agree. Threads: torch's default for the
dense products (BLAS uses them well); the sparse walk runs its small products on one
thread by design (see ``mmdoei.models.affinity.random_walk``).
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from mmdoei.models.affinity import pair_affinities, random_walk_labels


def make_inputs(height: int, width: int, num_classes: int, seed: int = 0):
    """Affinities, feature shape, CAMs and class ids of a synthetic image."""
    g = torch.Generator().manual_seed(seed)
    hf, wf = -(-height // 8), -(-width // 8)
    feats = F.interpolate(torch.randn(1, 32, hf // 4 + 1, wf // 4 + 1, generator=g), size=(hf, wf),
                          mode='bilinear', align_corners=False)
    aff = pair_affinities(feats * 3, radius=5)[0]
    cams = F.interpolate(torch.rand(1, num_classes, 6, 8, generator=g), size=(height, width), mode='bicubic',
                         align_corners=False)[0].clamp(0, 1)
    lo, hi = cams.amin((1, 2), keepdim=True), cams.amax((1, 2), keepdim=True)
    cams = (cams - lo) / (hi - lo)
    keys = torch.randperm(20, generator=g)[:num_classes].sort()[0].tolist()
    return aff, (hf, wf), cams, keys


def timed(fn, repeats: int):
    """Median seconds of ``repeats`` calls after one warm-up call, and the last result."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--height', type=int, default=375)
    parser.add_argument('--width', type=int, default=500)
    parser.add_argument('--classes', type=int, default=2, help='classes in the image')
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()

    aff, feat_shape, cams, keys = make_inputs(args.height, args.width, args.classes)
    # PSA walks all 21 rows (absent classes are zero rows): the sparse walk on the same vector.
    all_keys = list(range(20))
    full = torch.zeros(20, *cams.shape[1:])
    full[keys] = cams
    rows = []
    for logt in (8, 6):
        common = dict(radius=5, beta=8, logt=logt, alpha=16)
        t_dense, ref = timed(lambda: random_walk_labels(aff, feat_shape, cams, keys, dense=True, **common),
                             args.repeats)
        t_sparse, lab = timed(lambda: random_walk_labels(aff, feat_shape, cams, keys, **common), args.repeats)
        t_sparse21, lab21 = timed(lambda: random_walk_labels(aff, feat_shape, full, all_keys, **common),
                                  args.repeats)
        for name, t, out in ((f'dense squaring (PSA), logt {logt}', t_dense, ref),
                             (f'sparse walk, {len(keys) + 1} rows, logt {logt}', t_sparse, lab),
                             (f'sparse walk, 21 rows, logt {logt}', t_sparse21, lab21)):
            rows.append((name, t, t_dense / t, int((out != ref).sum())))
    n = feat_shape[0] * feat_shape[1]
    print(f'image {args.height}x{args.width}, grid {feat_shape[0]}x{feat_shape[1]} = {n} nodes, radius 5, '
          f'beta 8, {args.classes} classes, {torch.get_num_threads()} threads, median of {args.repeats}')
    print(f'| {"method":<34} | {"time / image (s)":>16} | {"speed-up vs dense":>17} | {"labels differing":>16} |')
    print(f'|{"-" * 36}|{"-" * 18}:|{"-" * 19}:|{"-" * 18}:|')
    for name, t, ratio, diff in rows:
        print(f'| {name:<34} | {t:>16.4f} | {ratio:>16.1f}x | {diff:>16d} |')


if __name__ == '__main__':
    main()
