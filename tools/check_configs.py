"""Run every shipped VOC and COCO config at its real input size, briefly, on the CPU.

    python tools/check_configs.py CONFIG ... | --all [--work-dir DIR] [--img-size 240 320]

For each config, from random weights, on a tiny folder in its dataset's
layout (synthetic, made here), through the tools a user calls:

* stage 1 (configs with a ``cam_dataloader``): ``tools/train.py`` for two
  iterations (batch 2, the config's own crops and pipeline, one validation),
  then ``tools/test.py --cam-out`` on one image with the config's CAM protocol;
* stage 2 (AffinityNet): ``tools/train.py`` for one iteration of one image on
  stand-in CAMs (``projects.wsss_lab.standin_cams``), then
  ``tools/psa_infer.py`` on two images;
* stage 3 (DeepLab): ``tools/train.py`` for one iteration of one image (two
  for DeepLab-v3+, whose image-pooling batch norm needs them), the masks as
  pseudo masks, then ``tools/test.py`` (``--tta``: 5 scales + flip + dense
  CRF where the config defines it) on one image with that checkpoint.

Stage 2 and 3 train one iteration: their ResNet-38 / 101 at 321 to 512
pixels are most of this tool's time, and a second step of the same shapes
checks nothing the first did not (stage 1 keeps two, for its validation).

Inference runs on one image: a config's multi-scale passes at real size are
most of the run time, and a second image of the same size checks nothing new.

A config is compared with those already run (:func:`twin_of`): one that
merges to the same dict (a short alias such as ``doei/mct_voc.py``) is not
run again; a DOEI twin (a baseline plus ``model.doei``) trains one iteration
of one image without validation (DOEI's backward at the real size), then makes
its CAMs (DOEI's forward at the protocol's sizes), since the baseline's run
already checked the rest of that config; a test twin (differs only in its test
split, evaluator or pipeline, e.g. the VOC test-server config) runs only its
test step, on the checkpoint of its twin.

Pretrained ``init_cfg`` entries are dropped (random weights; no downloads).
Prints one row per run (config, step, seconds, ok) and exits non-zero if any
failed. ``tests/test_tools/test_check_configs.py`` runs it (the ``realsize`` lane).
"""
import argparse
import os.path as osp
import re
import runpy
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Folders of the shipped VOC / COCO configs (the demo's, pretraining's and the
#: tiny synthetic ones are exercised by their own tests).
SHIPPED = ('mctformer', 'tscam', 'transcam', 'doei', 'psa', 'deeplab')


def shipped_configs() -> List[Path]:
    out = []
    for folder in SHIPPED:
        out += [p for p in sorted((ROOT / 'configs' / folder).glob('*.py'))
                if not re.search(r'tiny|synthvoc|synthetic', p.name)]
    return out


def _pretrained_overrides(cfg, prefix: str = 'model') -> List[str]:
    """``key=None`` options for every pretrained-weights entry under ``cfg.model``."""
    out = []

    def walk(node, path):
        if hasattr(node, 'items'):
            for k, v in node.items():
                p = f'{path}.{k}'
                if k == 'init_cfg' and hasattr(v, 'get') and v.get('type') == 'Pretrained':
                    out.append(f'{p}=None')
                elif k == 'pretrained' and isinstance(v, str):
                    out.append(f'{p}=None')
                else:
                    walk(v, p)
    walk(cfg.get('model', {}), prefix)
    return out


def _run_tool(tool: str, argv: List[str]) -> None:
    """``python tools/TOOL.py ARGV`` in this process (same code path, no interpreter start)."""
    old = sys.argv
    sys.argv = [str(ROOT / 'tools' / tool)] + argv
    try:
        runpy.run_path(str(ROOT / 'tools' / tool), run_name='__main__')
    except SystemExit as e:
        if e.code not in (0, None):
            raise RuntimeError(f'{tool} exited with {e.code}') from e
    finally:
        sys.argv = old


def _drop_checkpoints(work: Path) -> None:
    """Checkpoints of real-size models take up to 1 GB each; keep only those a later step reads."""
    for ckpt in work.glob('*.pth'):
        ckpt.unlink()


def flat_config(node: Any, prefix: str = '') -> Dict[str, Any]:
    """A merged config (``cfg.to_dict()``) as ``{'a.b.0.c': leaf}``, to compare two configs key by key."""
    out: Dict[str, Any] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flat_config(v, f'{prefix}.{k}' if prefix else str(k)))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            out.update(flat_config(v, f'{prefix}.{i}'))
    else:
        out[prefix] = node
    return out


#: Keys a test twin may differ in: what only the test step reads.
TEST_ONLY_KEYS = ('test_dataloader.', 'test_evaluator.', 'test_pipeline.', 'tta_pipeline.', 'test_cfg.')
_MISSING = object()


def twin_of(flat: Dict[str, Any], seen: Dict[str, Dict[str, Any]]) -> Optional[Tuple[str, str]]:
    """``(name, kind)`` of the first config in ``seen`` this one repeats, or None.

    kind ``'same'``: no key differs; ``'doei'``: only the DOEI settings
    (``doei.*`` and ``model.doei.*``) differ; ``'test'``: only keys of
    :data:`TEST_ONLY_KEYS` differ.
    """
    diffs = {name: [k for k in flat.keys() | other.keys() if flat.get(k, _MISSING) != other.get(k, _MISSING)]
             for name, other in seen.items()}
    for name, diff in diffs.items():  # an alias first, wherever it is
        if not diff:
            return name, 'same'
    for name, diff in diffs.items():
        if all(k.startswith(('doei.', 'model.doei.')) for k in diff):
            return name, 'doei'
        if all(k.startswith(TEST_ONLY_KEYS) for k in diff):
            return name, 'test'
    return None


def _loader_opts(cfg, names=('train_dataloader', 'val_dataloader', 'test_dataloader', 'cam_dataloader')):
    opts = []
    for n in names:
        if cfg.get(n):
            opts += [f'{n}.num_workers=0', f'{n}.persistent_workers=False']
    return opts


#: mmseg decode heads with an image-pooling branch: batch norm over its 1 x 1 map
#: cannot train on one image (DeepLab-v2's ASPPV2Head has no such branch).
IMAGE_POOL_HEADS = ('ASPPHead', 'DepthwiseSeparableASPPHead')


def _needs_two_images(cfg) -> bool:
    """Whether a training step needs two images (see ``IMAGE_POOL_HEADS``)."""
    return cfg.model.get('decode_head', {}).get('type') in IMAGE_POOL_HEADS


def _train_opts(cfg, batch: int = 2, validate: bool = True, iters: int = 2) -> List[str]:
    """``iters`` iterations of ``batch`` images, then one validation pass if ``validate``.

    Stage 1 keeps two images a step, as a batch of its own configs; stage 2 and
    3 (ResNet-38 / 101 at 321 to 512 pixels, most of this tool's time) and the
    DOEI twins take one image a step where their batch norm allows it, and skip
    validation: their test step runs the same model on the same pipeline right
    after.
    """
    opts = [f'train_dataloader.batch_size={batch}', 'log_level=WARNING', 'default_hooks.checkpoint.max_keep_ckpts=1']
    loop = cfg.train_cfg
    if loop.get('type') == 'IterBasedTrainLoop' or 'max_iters' in loop:
        opts += [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters if validate else iters + 1}']
    else:
        # one epoch of iters x batch images is iters iterations
        opts += ['train_cfg.max_epochs=1', f'train_cfg.val_interval={1 if validate else 2}',
                 f'train_dataloader.dataset.indices={iters * batch}']
    if cfg.get('val_dataloader') and validate:
        opts += ['val_dataloader.batch_size=1']
    return opts


class Checker:
    """Makes the tiny folders once, then runs configs and keeps one row per step."""

    def __init__(self, work: Path, img_size: Tuple[int, int]) -> None:
        self.work = work
        self.img_size = img_size
        self.rows: List[Tuple[str, str, float, str]] = []
        self._roots: Dict[str, str] = {}
        self._seen: Dict[str, Dict[str, Any]] = {}  # config that ran -> its merged config, flat
        self._checkpoints: Dict[str, str] = {}  # config -> the checkpoint a later test twin reads
        self._needed: set = set()  # configs whose checkpoint a later config (see expect()) reads
        self._loaded: Dict[str, Tuple[Any, Dict[str, Any]]] = {}  # path -> (config, flat), read by expect()

    def expect(self, paths: List[Path]) -> None:
        """Look ahead at the configs to run, to keep the checkpoints their test twins will read."""
        from mmengine.config import Config
        seen: Dict[str, Dict[str, Any]] = {}
        for path in paths:
            cfg = Config.fromfile(str(path))
            flat = flat_config(cfg.to_dict())
            self._loaded[str(path)] = (cfg, flat)  # check() reads it from here, not the file again
            twin = twin_of(flat, seen)
            if not twin or twin[1] != 'same':
                seen[self._name(path)] = flat
            if twin and twin[1] == 'test':
                self._needed.add(twin[0])

    @staticmethod
    def _name(path: Path) -> str:
        return str(Path(path).relative_to(ROOT / 'configs'))

    def data_root(self, kind: str) -> str:
        if kind not in self._roots:
            from projects.wsss_lab.synthetic import make_synthetic_coco, make_synthetic_voc
            if kind == 'voc':
                # 4 train_aug images (2 of them in train.txt), 2 val: two steps of 2 (batch
                # norm layers, e.g. DeepLab-v3+'s image pooling, need 2 images a step)
                root = make_synthetic_voc(self.work / 'data_voc', num_train=4, num_val=2,
                                          img_size=self.img_size, seed=0)
                # VOC's test list (images only, for the server submission config): the val images
                sets = root / 'ImageSets' / 'Segmentation'
                (sets / 'test.txt').write_text((sets / 'val.txt').read_text())
            else:
                root = make_synthetic_coco(self.work / 'data_coco', num_train=4, num_val=2,
                                           img_size=self.img_size, seed=0)
                ids = (root / 'train_id.txt').read_text().split()
                (root / 'train_id_2.txt').write_text('\n'.join(ids[:2]) + '\n')  # inference on two images
            self._roots[kind] = str(root)
        return self._roots[kind]

    def step(self, name: str, what: str, fn) -> bool:
        t0 = time.perf_counter()
        try:
            fn()
            status = 'ok'
        except Exception as e:  # noqa: BLE001  (one config's failure must not hide the others')
            traceback.print_exc()
            status = f'FAILED: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:200]
        self.rows.append((name, what, time.perf_counter() - t0, status))
        print(f'[check_configs] {name}: {what}: {status} ({self.rows[-1][2]:.1f} s)', flush=True)
        return status == 'ok'

    def check(self, path: Path) -> None:
        from mmengine.config import Config
        if str(path) in self._loaded:
            cfg, flat = self._loaded.pop(str(path))
        else:
            cfg = Config.fromfile(str(path))
            flat = flat_config(cfg.to_dict())
        name = self._name(path)
        twin = twin_of(flat, self._seen)
        # A short name that only inherits another config (doei/mct_voc.py, deeplab/deeplab_voc.py)
        # merges to the same dict: the same run, so it is compared, not run again.
        if twin and twin[1] == 'same':
            self.rows.append((name, f'same merged config as {twin[0]} (ran there)', 0.0, 'ok'))
            print(f'[check_configs] {name}: {self.rows[-1][1]}', flush=True)
            return
        self._seen[name] = flat
        kind = 'coco' if 'coco' in path.name else 'voc'
        root = self.data_root(kind)
        work = self.work / 'runs' / path.stem
        common = ['--data-root', root]
        if twin and twin[1] == 'test' and twin[0] in self._checkpoints:
            # its training is its twin's, checked there: only the test step is this config's own
            self._test_step(name, path, cfg, self._checkpoints[twin[0]], common, work, f' (trained as {twin[0]})')
            return
        doei_twin = bool(twin and twin[1] == 'doei')
        iters = 1 if doei_twin else 2
        what = f'train {iters} iteration{"s" if iters > 1 else ""}' + (
            f' of 1 image (DOEI twin of {twin[0]}: no validation)' if doei_twin else '')
        if 'cam_dataloader' in cfg:  # stage 1
            opts = (_pretrained_overrides(cfg) + _loader_opts(cfg)
                    + _train_opts(cfg, batch=1 if doei_twin else 2, validate=not doei_twin, iters=iters))
            if self.step(name, what, lambda: _run_tool(
                    'train.py', [str(path), *common, '--work-dir', str(work), '--cfg-options', *opts])):
                ckpt = str(work / 'epoch_1.pth')
                cam_opts = _pretrained_overrides(cfg) + _loader_opts(cfg) + ['log_level=WARNING']
                self.step(name, 'CAMs of 1 image (its protocol)', lambda: _run_tool(
                    'test.py', [str(path), ckpt, *common, '--work-dir', str(work / 'cam'), '--cam-out',
                                str(work / 'cams'), '--cfg-options', *cam_opts, 'cam_dataloader.dataset.indices=1']))
            _drop_checkpoints(work)
            return
        if cfg.model.get('type') == 'AffinityNet' or 'psa' in path.parts[-2]:  # stage 2
            cams = self.work / f'standin_cams_{kind}'
            if not cams.exists():
                from projects.wsss_lab.standin_cams import make_standin_cams
                if kind == 'voc':
                    make_standin_cams(root, str(cams), progress=False)
                else:
                    make_standin_cams(root, str(cams), split='train_id.txt', gt_dir='SegmentationClass/train2014',
                                      progress=False)
            pipe = cfg.train_dataloader.dataset.pipeline
            idx = next(i for i, t in enumerate(pipe) if t['type'] == 'LoadAffinityLabelFromCAM')
            opts = _pretrained_overrides(cfg) + _loader_opts(cfg) + _train_opts(cfg, 1, validate=False, iters=1) + [
                f'train_dataloader.dataset.pipeline.{idx}.cam_dir={cams}',
                f'train_dataloader.dataset.pipeline.{idx}.cache_dir={work}/crf']
            if self.step(name, 'train 1 iteration', lambda: _run_tool(
                    'train.py', [str(path), *common, '--work-dir', str(work), '--cfg-options', *opts])):
                self.step(name, 'masks of 2 images', lambda: _run_tool(
                    'psa_infer.py', [str(path), str(work / 'epoch_1.pth'), *common, '--cam-dir', str(cams),
                                     '--out-dir', str(work / 'masks'), '--work-dir', str(work / 'infer'),
                                     '--cfg-options', *_loader_opts(cfg), 'test_dataloader.dataset.split=' +
                                     ('ImageSets/Segmentation/train.txt' if kind == 'voc' else 'train_id_2.txt')]))
            _drop_checkpoints(work)
            return
        # stage 3: train, then the config's test-time augmentation (tools/test.py --tta:
        # 5 scales + flip + dense CRF for the DeepLab configs) on two images
        masks = 'SegmentationClassAug' if kind == 'voc' else 'SegmentationClass/train2014'
        batch = 2 if _needs_two_images(cfg) else 1
        opts = _pretrained_overrides(cfg) + _loader_opts(cfg) + _train_opts(cfg, batch, validate=False, iters=1) + [
            f'train_dataloader.dataset.pseudo_mask_dir={osp.join(root, masks)}', 'val_dataloader.dataset.indices=2']
        if self.step(name, 'train 1 iteration', lambda: _run_tool(
                'train.py', [str(path), *common, '--work-dir', str(work), '--cfg-options', *opts])):
            self._test_step(name, path, cfg, str(work / 'iter_1.pth'), common, work)
        if name in self._needed:
            self._checkpoints[name] = str(work / 'iter_1.pth')  # a test twin comes later: it deletes it
        else:
            _drop_checkpoints(work)

    def _test_step(self, name: str, path: Path, cfg, ckpt: str, common: List[str], work: Path,
                   note: str = '') -> None:
        """``tools/test.py`` on one image, with the config's test-time augmentation where it has one."""
        tta = ['--tta'] if 'tta_model' in cfg else []
        # a writer of result files (the VOC test-server config) writes under the run, not the current folder
        out_dir = ([f'test_evaluator.out_dir={work / "test_results"}'] if 'out_dir' in cfg.get('test_evaluator', {})
                   else [])
        self.step(name, 'test 1 image' + (' (--tta)' if tta else '') + note, lambda: _run_tool(
            'test.py', [str(path), ckpt, *tta, *common, '--work-dir', str(work / 'test'),
                        '--cfg-options', *_loader_opts(cfg), 'test_dataloader.dataset.indices=1',
                        'log_level=WARNING', *out_dir]))


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='*', help='default: every shipped VOC / COCO config')
    parser.add_argument('--all', action='store_true', help='every shipped VOC / COCO config (what no CONFIG means)')
    parser.add_argument('--work-dir', default='work_dirs/check_configs')
    parser.add_argument('--img-size', type=int, nargs=2, default=(240, 320), help='H W of the tiny images')
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        # a bare run used to start the whole check (about 15 minutes on 2 cores) in the current folder
        parser.error('no arguments: checking every shipped config takes about 15 minutes and writes '
                     'work_dirs/check_configs/; give CONFIG ... or --all')
    args = parser.parse_args(argv)
    if args.all and args.configs:
        parser.error('--all checks every shipped config; give either --all or CONFIG ...')
    import mmdoei  # noqa: F401
    configs = [Path(c).resolve() for c in args.configs] or shipped_configs()
    checker = Checker(Path(args.work_dir).resolve(), tuple(args.img_size))
    checker.expect(configs)
    t0 = time.perf_counter()
    for path in configs:
        checker.check(path)
    for ckpt in checker._checkpoints.values():  # kept for test twins, which have run now
        Path(ckpt).unlink(missing_ok=True)
    failed = [r for r in checker.rows if r[3] != 'ok']
    print('\n| config | step | s | result |\n|---|---|---|---|')
    for name, what, sec, status in checker.rows:
        print(f'| {name} | {what} | {sec:.1f} | {status} |')
    print(f'\n{len(checker.rows)} runs of {len(configs)} configs, {len(failed)} failed, '
          f'{time.perf_counter() - t0:.0f} s in all')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
