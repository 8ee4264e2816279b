"""Segmentation test cost: DeepLab-LargeFOV ResNet-38d, multi-scale + flip + dense CRF.

    python benchmarks/seg_test.py [--images 1] [--size 375 500] [--widen 1.0]

The model is ``configs/deeplab/deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py`` with ``--tta``
(random weights: the cost does not depend on them), fed through that config's
own TTA pipeline (scales 0.5, 0.75, 1.0, 1.25, 1.5, each also flipped: 10
passes) and ``CRFSegTTAModel`` (max merge, CRF with the paper's settings).
Each setting runs in its own process so that its peak resident memory
(``ru_maxrss``) is its own. Images are VOC-sized (500 x 375) JPEGs of noise.
The last row times the CRF alone (21 classes, median of 3), since on a
loaded machine it can vanish in the noise of the 10 forward passes.
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

CONFIG = osp.join(osp.dirname(osp.abspath(__file__)), '..', 'configs', 'deeplab',
                  'deeplabv1-largefov_resnet38d_1xb4-79k_voc12aug-321x321.py')
# (name, scales, flip, crf)
SETTINGS = {
    'single scale': ((1.0, ), False, False),
    '5 scales': ((0.5, 0.75, 1.0, 1.25, 1.5), False, False),
    '5 scales + flip': ((0.5, 0.75, 1.0, 1.25, 1.5), True, False),
    '5 scales + flip + CRF': ((0.5, 0.75, 1.0, 1.25, 1.5), True, True),
}


def worker(setting: str, images: int, size, widen: float) -> dict:
    """Time ``images`` test passes of one setting; report time and peak memory."""
    import mmcv
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmdoei  # noqa: F401
    from mmdoei.apis.config_surgery import apply_tta
    scales, flip, crf = SETTINGS[setting]
    init_default_scope('mmseg')
    cfg = apply_tta(Config.fromfile(CONFIG))  # what tools/test.py --tta tests
    cfg.model.module.backbone.init_cfg = None
    if widen != 1.0:
        cfg.model.module.backbone.widen_factor = widen
        cfg.model.module.decode_head.in_channels = int(4096 * widen)
    cfg.model.crf = cfg.model.crf if crf else None
    pipeline = cfg.test_dataloader.dataset.pipeline
    flips = pipeline[1].transforms[1]  # the config's [no flip, flip]
    pipeline[1].transforms = [[dict(type='Resize', scale_factor=s, keep_ratio=True) for s in scales],
                              flips if flip else flips[:1], [dict(type='PackSegInputs')]]  # no GT to load
    pipe = Compose(pipeline)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'image.jpg')
        mmcv.imwrite(np.random.default_rng(0).integers(0, 255, (*size, 3), dtype=np.uint8), path)
        data = pseudo_collate([pipe(dict(img_path=path))])
        with torch.no_grad():
            model.test_step(data)  # warm-up
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t0 = time.perf_counter()
            for _ in range(images):
                out = model.test_step(data)
            dt = time.perf_counter() - t0
    assert out[0].pred_sem_seg.data.shape[-2:] == tuple(size)
    return dict(s_per_image=dt / images, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                rss_before_mb=rss0 / 1024, passes=len(scales) * (2 if flip else 1))


def crf_worker(size, repeats: int = 3) -> dict:
    """The dense CRF alone on 21-class probabilities of one image (median of ``repeats``)."""
    import numpy as np

    from mmdoei.models.segmentors import DEEPLAB_CRF
    from mmdoei.utils.crf import dense_crf
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
    probs = rng.random((21, *size)).astype(np.float32)
    probs /= probs.sum(0, keepdims=True)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dense_crf(img, probs, **DEEPLAB_CRF)
        times.append(time.perf_counter() - t0)
    return dict(s_per_image=sorted(times)[len(times) // 2],
                peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, passes=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=1, help='timed test passes per setting')
    parser.add_argument('--size', type=int, nargs=2, default=(375, 500), help='H W')
    parser.add_argument('--widen', type=float, default=1.0, help='ResNet-38d width (1.0: the real network)')
    parser.add_argument('--worker', choices=sorted(SETTINGS) + ['CRF alone'], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == 'CRF alone':
        print(json.dumps(crf_worker(args.size)))
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.images, args.size, args.widen)))
        return
    from timing import env_line, table
    rows = []
    for name in [*SETTINGS, 'CRF alone']:
        out = subprocess.run([sys.executable, __file__, '--worker', name, '--images', str(args.images), '--size',
                              *map(str, args.size), '--widen', str(args.widen)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append([name, str(r['passes']), f"{r['s_per_image']:.2f}", f"{r['peak_rss_mb']:.0f}"])
        print(f'{name}: {r["s_per_image"]:.2f} s/image, peak RSS {r["peak_rss_mb"]:.0f} MB', file=sys.stderr)
    print(f'DeepLab-LargeFOV ResNet-38d (width x{args.widen}), {args.size[1]} x {args.size[0]} images, '
          f'{args.images} timed image(s) per setting after one warm-up; {env_line()}\n')
    print(table(rows, ['test', 'forward passes', 's/image', 'peak RSS (MB)']))


if __name__ == '__main__':
    main()
