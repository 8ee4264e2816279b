"""CAM generation throughput and peak memory: DeiT-S MCTformer-V2, 5 scales + flip.

    python benchmarks/cam_throughput.py [--images 4] [--size 375 500]

Each setting runs in its own process so that its peak resident memory
(``ru_maxrss``) is its own. Images are 500 x 375 (VOC-sized), scales
0.5, 0.75, 1.0, 1.25, 1.5 and their flips (10 passes per image), fused CAMs
with patch-affinity refinement (the authors' VOC settings).
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import time

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

SCALES = (0.5, 0.75, 1.0, 1.25, 1.5)


def worker(doei: bool, images: int, size) -> dict:
    import torch
    from mmpretrain.registry import MODELS

    import mmdoei  # noqa: F401
    from mmdoei.cam import multiscale_cams
    cfg = dict(type='MCTformerV2', num_classes=20, backbone=dict(arch='deit-small', img_size=224),
               cam_cfg=dict(type='fused', last_n=3, refine=True))
    if doei:
        cfg['doei'] = dict()
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    x = torch.randn(1, 3, *size)
    multiscale_cams(model, x, [0, 5], (1.0, ), flip=False)  # warm-up
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    for _ in range(images):
        multiscale_cams(model, x, [0, 5], SCALES, flip=True)
    dt = time.perf_counter() - t0
    return dict(images_per_s=images / dt, s_per_image=dt / images,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                rss_before_mb=rss0 / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=4)
    parser.add_argument('--size', type=int, nargs=2, default=(375, 500), help='H W')
    parser.add_argument('--worker', choices=['off', 'on'], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker == 'on', args.images, args.size)))
        return
    from timing import env_line, table
    rows = []
    for doei in ('off', 'on'):
        out = subprocess.run([sys.executable, __file__, '--worker', doei, '--images', str(args.images),
                              '--size', *map(str, args.size)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append([doei, f"{r['images_per_s']:.2f}", f"{r['s_per_image']:.2f}", f"{r['peak_rss_mb']:.0f}"])
    print(f'CAM generation, MCTformer-V2 DeiT-S, {args.size[1]} x {args.size[0]} images, scales {SCALES} '
          f'+ flip, {args.images} images; {env_line()}\n')
    print(table(rows, ['DOEI', 'images/s', 's/image', 'peak RSS (MB)']))


if __name__ == '__main__':
    main()
