"""CAM generation throughput and peak memory: DeiT-S MCTformer-V2, 5 scales + flip.

    python benchmarks/cam_throughput.py [--images 4] [--size 375 500]
    python benchmarks/cam_throughput.py --authors-repo /tmp/MCTformer [--images 8]

Each setting runs in its own process so that its peak resident memory
(``ru_maxrss``) is its own. Images are 500 x 375 (VOC-sized), scales
0.5, 0.75, 1.0, 1.25, 1.5 and their flips (10 passes per image), fused CAMs
with patch-affinity refinement (the authors' VOC settings).

With ``--authors-repo`` (a checkout of xulianuwa/MCTformer at 9606597), the
authors' ``generate_attention_maps_ms`` (their dataset class, PIL resize, their
loop) and our CAM tool (``tools/test.py CONFIG CKPT --cam-out``, its
``merge_args`` and the Runner's test loop) make the CAM files of the same
synthetic VOC-layout images, on the same random weights, at the authors'
setting (scale 1.0 + flip) and at the 5 scales + flip; each run in its own
process, timed from the first image to the last file written (model built
and weights loaded before), in one run of this script. The table also gives
the largest difference between their CAM files and ours. Their code is
imported from that path at run time; it is not part of this repository.
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
from functools import partial

import numpy as np

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


CONFIG = osp.join(osp.dirname(osp.abspath(__file__)), '..',
                  'configs/mctformer/mctformer-v2_deit-s_1xb64-60e_voc12aug-224.py')


def _their_state(theirs_model, ours_state: dict) -> dict:
    """Our state dict in the authors' key names: mark each of their tensors with its
    index, convert with our converter, and read back which of ours it became."""
    import torch

    from mmdoei.models.utils import convert_mctformer
    theirs = theirs_model.state_dict()
    keys = list(theirs)
    conv = convert_mctformer({'model': {k: torch.full_like(v, float(i)) for i, (k, v) in enumerate(theirs.items())}})
    out = dict(theirs)
    for k, marked in conv.items():
        their_key = keys[int(marked.flatten()[0])]
        out[their_key] = ours_state[k].reshape(theirs[their_key].shape)
    return out


def _their_model(repo: str):
    import torch.nn as nn
    sys.path.insert(0, repo)
    try:
        import sklearn.metrics  # noqa: F401  (their engine.py imports it for mAP only)
    except ImportError:
        import importlib.machinery
        import types
        sk, skm = types.ModuleType('sklearn'), types.ModuleType('sklearn.metrics')
        # a spec, or torch's import-time scan of sys.modules fails on the stand-in
        sk.__spec__ = importlib.machinery.ModuleSpec('sklearn', None)
        skm.__spec__ = importlib.machinery.ModuleSpec('sklearn.metrics', None)
        skm.average_precision_score, sk.metrics = None, skm
        sys.modules.update({'sklearn': sk, 'sklearn.metrics': skm})
    from models import MCTformerV2  # noqa: the authors' models.py, from --authors-repo
    return MCTformerV2(patch_size=16, embed_dim=384, depth=12, num_heads=6, mlp_ratio=4, qkv_bias=True,
                       norm_layer=partial(nn.LayerNorm, eps=1e-6), num_classes=20).eval()


def authors_worker(repo: str, data_root: str, ckpt: str, scales, out_dir: str) -> dict:
    """Their loop over the images of ``train_aug.txt``: model built, weights loaded, then timed."""
    import torch

    from mmdoei.datasets import VOC_CLASSES, labels_from_xml
    model = _their_model(repo)
    model.load_state_dict(_their_state(model, torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']))
    import PIL.Image
    PIL.Image.CUBIC = PIL.Image.BICUBIC  # the alias (3) of their Pillow 8, gone from Pillow 10
    from datasets import VOC12DatasetMS  # noqa: the authors'
    from engine import generate_attention_maps_ms  # noqa: the authors'
    from timm.data.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
    from torchvision import transforms
    ids = open(osp.join(data_root, 'ImageSets/Segmentation/train_aug.txt')).read().split()
    ds = VOC12DatasetMS.__new__(VOC12DatasetMS)  # their __getitem__; labels from the XML, not a pickle
    # Their CAMs come out at the size of the first scale's image: 1.0 first (the passes are the same)
    scales = sorted(scales, key=lambda s: s != 1.0)
    ds.img_name_list, ds.voc12_root, ds.unit, ds.scales = ids, data_root, 1, scales
    ds.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(IMAGENET_DEFAULT_MEAN,
                                                                                   IMAGENET_DEFAULT_STD)])
    ds.label_list = []
    for i in ids:
        lab = np.zeros(20, np.float32)
        lab[labels_from_xml(osp.join(data_root, 'Annotations', i + '.xml'), VOC_CLASSES)] = 1
        ds.label_list.append(lab)
    list_dir = osp.join(out_dir, 'list')
    os.makedirs(list_dir, exist_ok=True)
    open(osp.join(list_dir, 'train_aug_id.txt'), 'w').write('\n'.join(ids) + '\n')
    args = argparse.Namespace(attention_dir=None, cam_npy_dir=osp.join(out_dir, 'npy'), img_list=list_dir,
                              patch_size=16, model='deit_small_MCTformerV2_patch16_224', nb_classes=20,
                              layer_index=3, attention_type='fused', patch_attn_refine=True,
                              visualize_cls_attn=True, out_crf=None)
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=0)
    t0 = time.perf_counter()
    generate_attention_maps_ms(loader, model, torch.device('cpu'), args)
    return dict(seconds=time.perf_counter() - t0, images=len(ids))


def ours_worker(data_root: str, ckpt: str, scales, out_dir: str) -> dict:
    """Our CAM tool as a user runs it (tools/test.py's merge_args, the Runner's test loop)."""
    import importlib.util

    from mmengine.config import Config
    from mmengine.runner import Runner
    spec = importlib.util.spec_from_file_location('cam_tool', osp.join(osp.dirname(CONFIG), '../../tools/test.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    sys.argv = ['test.py', CONFIG, ckpt, '--data-root', data_root, '--cam-out', osp.join(out_dir, 'npz'),
                '--work-dir', osp.join(out_dir, 'work'), '--scales', *map(str, scales),
                '--cfg-options', 'model.backbone.init_cfg=None', 'cam_dataloader.num_workers=0',
                'log_level=WARNING']
    cfg = tool.merge_args(Config.fromfile(CONFIG), tool.parse_args())
    runner = Runner.from_cfg(cfg)
    # As for the authors' loop: model built, weights loaded and data loader made before
    # the clock starts (runner.test() reuses a built loop and skips a second load).
    runner._test_loop = runner.build_test_loop(runner._test_loop)
    runner.load_or_resume()
    t0 = time.perf_counter()
    metrics = runner.test()
    return dict(seconds=time.perf_counter() - t0, images=int(metrics['cams_written']))


def read_authors_npy(path: str) -> dict:
    """The authors' CAM file: ``np.save`` of a dict ``{class: (H, W) array}``, i.e. a 0-d
    object array whose payload is a pickle. Read with an unpickler that rebuilds numpy
    arrays and dicts only (never ``np.load(allow_pickle=True)``, which would run any
    callable the file names)."""
    import pickle

    allowed = {(m, n) for m in ('numpy.core.multiarray', 'numpy._core.multiarray') for n in ('_reconstruct', 'scalar')}
    allowed |= {('numpy', 'ndarray'), ('numpy', 'dtype')}

    class ArraysOnly(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if (module, name) in allowed or (module == 'numpy' and name.endswith('DType')):
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f'{path}: refuses to load {module}.{name}')

    with open(path, 'rb') as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(f)
        if dtype != object or shape != ():
            raise ValueError(f'{path}: expected a 0-d object array (a saved dict), got {dtype} {shape}')
        obj = ArraysOnly(f).load()
    return obj.item() if isinstance(obj, np.ndarray) else obj


def _max_diff(out_dirs, ids) -> float:
    from mmdoei.utils.io import load_npz
    worst = 0.0
    for i in ids:
        theirs = read_authors_npy(osp.join(out_dirs['authors'], 'npy', i + '.npy'))
        ours = load_npz(osp.join(out_dirs['ours'], 'npz', i + '.npz'))
        for k, c in enumerate(ours['keys']):
            worst = max(worst, float(np.abs(ours['cams'][k].astype(np.float32) - theirs[int(c)]).max()))
    return worst


def authors_mode(args) -> None:
    import tempfile

    import torch
    from mmpretrain.registry import MODELS
    from timing import env_line, table

    import mmdoei  # noqa: F401
    from projects.wsss_lab.synthetic import make_synthetic_voc
    tmp = tempfile.mkdtemp(prefix='cam_throughput_')
    data_root = str(make_synthetic_voc(tmp, num_train=args.images, num_val=0, img_size=tuple(args.size), seed=1))
    ids = open(osp.join(data_root, 'ImageSets/Segmentation/train_aug.txt')).read().split()
    torch.manual_seed(0)
    model = MODELS.build(dict(type='MCTformerV2', num_classes=20, backbone=dict(arch='deit-small', img_size=224)))
    ckpt = osp.join(tmp, 'random_mctformer-v2.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    rows = []
    for name, scales in (("authors' setting: 1.0 + flip", (1.0, )), ('5 scales + flip', SCALES)):
        times, rss, dirs = {'authors': [], 'ours': []}, {}, {}
        for rnd in range(args.rounds):  # interleaved, so that load drift hits both alike
            for who in ('authors', 'ours'):
                dirs[who] = osp.join(tmp, f'{who}_{len(scales)}_{rnd}')
                cmd = [sys.executable, __file__, '--worker', who, '--data', data_root, '--ckpt', ckpt,
                       '--out', dirs[who], '--scales', *map(str, scales), '--authors-repo', args.authors_repo]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode:
                    raise SystemExit(f'{who} worker failed:\n{out.stderr[-3000:]}')
                r = json.loads(out.stdout.rsplit('RESULT ', 1)[1].splitlines()[0])
                times[who].append(r['seconds'] / r['images'])
                rss[who] = max(rss.get(who, 0), r['peak_rss_mb'])
        ips = {w: 1 / statistics.median(t) for w, t in times.items()}
        rows.append([name, f"{ips['authors']:.3f}", f"{ips['ours']:.3f}", f"{ips['ours'] / ips['authors']:.2f}x",
                     f"{rss['authors']:.0f} / {rss['ours']:.0f}", f'{_max_diff(dirs, ids):.1e}'])
        print(f'{name}: done: {rows[-1]} {times}', file=sys.stderr)
    print(f'CAM generation, MCTformer-V2 DeiT-S (random weights), fused, last 3 blocks, patch-affinity refinement, '
          f'{args.images} synthetic VOC-layout images of {args.size[1]} x {args.size[0]}; the authors\' '
          f'generate_attention_maps_ms against tools/test.py --cam-out; median of {args.rounds} interleaved '
          f'rounds; {env_line()}\n')
    print(table(rows, ['setting', 'authors (images/s)', 'ours (images/s)', 'ours / authors',
                       'peak RSS MB (authors / ours)', 'max |CAM difference|']))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=4)
    parser.add_argument('--size', type=int, nargs=2, default=(375, 500), help='H W')
    parser.add_argument('--authors-repo', help='checkout of xulianuwa/MCTformer @ 9606597: compare with their loop')
    parser.add_argument('--rounds', type=int, default=3, help='authors mode: interleaved rounds')
    parser.add_argument('--worker', choices=['off', 'on', 'authors', 'ours'], help=argparse.SUPPRESS)
    parser.add_argument('--data', help=argparse.SUPPRESS)
    parser.add_argument('--ckpt', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    parser.add_argument('--scales', type=float, nargs='+', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker in ('authors', 'ours'):
        r = authors_worker(args.authors_repo, args.data, args.ckpt, args.scales, args.out) \
            if args.worker == 'authors' else ours_worker(args.data, args.ckpt, args.scales, args.out)
        r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print('\nRESULT ' + json.dumps(r))  # both loops print progress to stdout too
        return
    if args.worker:
        print(json.dumps(worker(args.worker == 'on', args.images, args.size)))
        return
    if args.authors_repo:
        authors_mode(args)
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
