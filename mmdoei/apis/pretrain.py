"""Pretraining the small backbone on the procedural set, once per seed, and caching it.

A backbone is a function of the pretraining config and one seed: the seed
draws the procedural set (``procedural_data.seed``) and seeds training
(``randomness.seed``, deterministic algorithms, the config's thread count).
The sweep's pretraining-seed axis and ``tools/pretrain.py`` both go through
:func:`pretrain_backbone`, so a cached ``checkpoints/..._seed{N}.pth`` is what
``python tools/pretrain.py --seed N`` makes.
"""
import hashlib
import json
import os
import os.path as osp
import re
import time
from pathlib import Path
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmdoei.engine.hooks import TraceReached, WeightsTraceHook, weights_sha256
from mmdoei.generators.procedural import make_procedural_pretrain
from mmdoei.utils.compat import setup_env
from mmdoei.utils.config import replace_entries
from mmdoei.utils.io import atomic_write, check_regular_file
from .config_surgery import set_data_root
from .steps import Step, register_step_kind

PRETRAIN_CONFIG = 'configs/pretrain/vit-6l128_1xb64-15e_procedural-64.py'
# Where the demo configs' init_cfg looks for the pretrained backbone (seed 0).
PRETRAINED_CHECKPOINT = 'checkpoints/vit-6l128_procedural-64.pth'
# The procedural set's folder of seed 0 (other seeds: procedural_seed{N}).
PROCEDURAL_ROOT = 'data/procedural'
#: The iterations after which pretraining hashes the weights (``meta['weights_trace']``): ``--verify 8`` retrains
#: the first 8 in about a minute and compares, the later ones follow the run to its end (2,355 iterations).
TRACE_STEPS = (8, 100, 1000)
#: The entries of mmengine's checkpoint meta kept in a backbone: no times, paths or config text, so that two
#: machines write the same meta for the same weights.
KEPT_META = ('epoch', 'iter', 'seed', 'dataset_meta')


def pretrained_checkpoint(seed: int = 0) -> str:
    """The cache path of the backbone pretrained with ``seed`` (relative to the
    repository): :data:`PRETRAINED_CHECKPOINT` for seed 0, the demo's, and
    ``..._seed{N}.pth`` for the others."""
    if seed == 0:
        return PRETRAINED_CHECKPOINT
    stem, ext = osp.splitext(PRETRAINED_CHECKPOINT)
    return f'{stem}_seed{seed}{ext}'


def procedural_root(seed: int = 0) -> str:
    """The procedural set's folder for ``seed`` (relative to the repository)."""
    return PROCEDURAL_ROOT if seed == 0 else f'{PROCEDURAL_ROOT}_seed{seed}'


def pretrain_cfg(config: str = PRETRAIN_CONFIG, seed: Optional[int] = None,
                 cfg_options: Optional[dict] = None, data_options: Optional[dict] = None) -> Config:
    """The pretraining config with overrides and, if given, ``seed`` applied to
    both the data (``procedural_data.seed``) and training (``randomness.seed``).

    ``data_options`` update ``procedural_data`` (the arguments of
    :func:`make_procedural_pretrain`, e.g. a tiny set in tests).
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    data = dict(cfg.get('procedural_data', {}))
    data.update(data_options or {})
    if seed is not None:
        data['seed'] = int(seed)
        randomness = dict(cfg.get('randomness', {}))
        randomness['seed'] = int(seed)
        cfg.randomness = randomness
    cfg.procedural_data = data
    return cfg


def pretrain_stamp(cfg: Config) -> str:
    """A short hash of everything that decides a backbone's weights: the model,
    the data (generator arguments and pipeline, batch size), the optimiser, the
    schedule, the seeds and the thread count. Paths and logging are left out,
    so the same settings in another folder give the same stamp."""
    keys = dict(model=cfg.model, data=cfg.get('procedural_data'), data_preprocessor=cfg.get('data_preprocessor'),
                pipeline=cfg.train_dataloader.dataset.get('pipeline'),
                batch_size=cfg.train_dataloader.get('batch_size'), optim_wrapper=cfg.optim_wrapper,
                param_scheduler=cfg.param_scheduler, train_cfg=cfg.train_cfg, randomness=cfg.get('randomness'),
                threads=(cfg.get('default_hooks') or {}).get('num_threads'))
    text = json.dumps(Config(dict(k=keys)).to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: The largest backbone file read (the shipped one is 5 MB): a bigger file is not one of these.
MAX_BACKBONE_BYTES = 1 << 30
_SHA256 = re.compile(r'[0-9a-f]{64}')


def read_backbone_meta(path: str, what: str = 'backbone') -> dict:
    """The ``meta`` of a pretrained backbone file, checked before any work reads it.

    Refused with one error naming ``path``: a missing file, a directory, FIFO or
    device (:func:`check_regular_file`: a FIFO would block forever), a file over
    :data:`MAX_BACKBONE_BYTES`, one torch cannot read with ``weights_only=True``
    (truncated, not a checkpoint, pickled code), one without a ``state_dict``
    dict, a ``meta`` that is not a dict, and a ``weights_sha256`` or
    ``weights_trace`` that is not sha256 hex. Returns ``{}`` for a checkpoint
    without meta (made by hand: it has no stamp, so it is never taken for the
    config's).
    """
    size = check_regular_file(path, what)
    if size > MAX_BACKBONE_BYTES:
        raise ValueError(f'{path}: {what} is {size} bytes, larger than any backbone of this repository '
                         f'({MAX_BACKBONE_BYTES} at most); refused')
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001  (torch raises many types for a bad file: one message names it)
        first = str(e).splitlines()[0] if str(e) else ''
        raise ValueError(f'{path}: {what} is not a readable checkpoint ({type(e).__name__}: {first[:200]}); '
                         'delete it (tools/pretrain.py --force writes it again) or pass another file') from e
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get('state_dict', {}), dict):
        raise ValueError(f'{path}: {what} is not a checkpoint of weights (a dict with a state_dict dict)')
    meta = ckpt.get('meta', {})
    if not isinstance(meta, dict):
        raise ValueError(f'{path}: {what}\'s meta is a {type(meta).__name__}, not a dict')
    trace = meta.get('weights_trace', {})
    if not isinstance(trace, dict) or not all(
            isinstance(k, str) and k.isdigit() and isinstance(v, str) and _SHA256.fullmatch(v)
            for k, v in trace.items()):
        raise ValueError(f'{path}: {what}\'s meta weights_trace must map iteration numbers to sha256 hex digests')
    sha = meta.get('weights_sha256')
    if sha is not None and not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
        raise ValueError(f'{path}: {what}\'s meta weights_sha256 is not a sha256 hex digest')
    return meta


def checkpoint_stamp(path: str) -> Optional[str]:
    """The :func:`pretrain_stamp` a cached checkpoint was made with (None if unknown); a file that is no
    readable backbone is refused with its path (:func:`read_backbone_meta`)."""
    stamp = read_backbone_meta(path, 'cached backbone').get('pretrain_stamp')
    return stamp if isinstance(stamp, str) else None


#: The procedural set as a step (mmdoei.apis.steps): its class folders and class list.
PROCEDURAL_SET = register_step_kind('procedural_set', 'procedural set folder', files=('classes.txt', ),
                                    dirs=('train', 'val'),
                                    overwrite_hint='delete the folder (or pass another --data-root)')


def ensure_procedural_set(root: Path, data: dict, progress: bool = True) -> Path:
    """Write the procedural set at ``root`` unless a complete one with the same
    arguments is there.

    A step (:mod:`mmdoei.apis.steps`, record ``root/.mmdoei-record.json``):
    the generator's arguments and mmdoei's version decide it; an interrupted
    write is resumed (the generator skips the images it wrote); a folder
    written with other arguments (another seed, size or number of images) is
    refused with its path and the differing arguments, since
    ``CustomDataset`` would read every file in it. A set an older mmdoei
    completed (its ``.complete`` marker of the same arguments) is kept.
    """
    root = Path(root)
    step = Step.of(PROCEDURAL_SET, root, **{'generator': dict(data)})
    legacy = root / '.complete'
    if step.previous() is None and legacy.is_file() and legacy.read_text().strip() == json.dumps(data, sort_keys=True):
        step.finish(dict(adopted='.complete'))  # the older marker of exactly these arguments: keep the set

    def write() -> dict:
        print(f'[pretrain] writing the procedural pretraining set to {root} ({json.dumps(data, sort_keys=True)})')
        make_procedural_pretrain(root, progress=progress, **data)
        return dict(root=str(root))

    step.run(write)
    return root


def pretrain_backbone(config: str = PRETRAIN_CONFIG, out: str = PRETRAINED_CHECKPOINT,
                      data_root: Optional[str] = None, work_dir: Optional[str] = None,
                      force: bool = False, cfg_options: Optional[dict] = None,
                      data_options: Optional[dict] = None, seed: Optional[int] = None) -> str:
    """Write the procedural set (if missing), pretrain on it, keep the weights at ``out``.

    Args:
        config: The mmpretrain pretraining config.
        out: Destination of the checkpoint: ``{'meta', 'state_dict'}`` as
            mmengine writes it, without the optimizer and scheduler states;
            ``meta['pretrain_stamp']`` is :func:`pretrain_stamp` of the config,
            ``meta['cpu_kernels']`` ATen's CPU capability and the MKL and
            oneDNN settings it ran with (:mod:`mmdoei.utils.numerics`).
        data_root: The procedural set's folder (default: the config's).
        work_dir: The runner's work dir (default ``work_dirs/pretrain/<config name>``).
        force: Pretrain again even if ``out`` exists.
        cfg_options: Config overrides (merged with ``Config.merge_from_dict``).
        data_options: Updates of the config's ``procedural_data``
            (``num_classes``, ``num_train``, ...; ``progress`` too), e.g. a tiny
            set in tests.
        seed: Seeds both the set and training (default: the config's).

    Returns:
        ``out``. When it already exists and ``force`` is False it is kept if it
        was pretrained with these settings (its ``pretrain_stamp``, the
        fingerprint of :func:`pretrain_stamp`, is this config's): that is the
        cache the demo relies on. Made with other settings (another seed,
        config or override), or with no stamp, it is refused before anything
        is written (``ValueError`` naming the file and both stamps).
    """
    if osp.exists(out) and not force:
        data = {k: v for k, v in (data_options or {}).items() if k != 'progress'}  # progress decides nothing
        mine = pretrain_stamp(pretrain_cfg(config, seed, cfg_options, data))
        theirs = checkpoint_stamp(out)
        if theirs != mine:
            made = f'was pretrained with other settings (stamp {theirs})' if theirs else \
                'has no pretrain_stamp (not made by tools/pretrain.py)'
            raise ValueError(f'{out} {made}, not these (stamp {mine}: config {config}, seed {seed}, overrides '
                             f'{dict(cfg_options or {})}); pass --force (force=True) to pretrain again into it, '
                             'or another --out')
        print(f'[pretrain] using the cached backbone {out} (pretrained with these settings)')
        return out
    cfg, t0 = _pretrain_runner_cfg(config, data_root, work_dir, cfg_options, data_options, seed), time.time()
    trace = WeightsTraceHook(at=TRACE_STEPS)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(trace)
    runner.train()
    last = osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    ckpt = torch.load(last, map_location='cpu', weights_only=True)
    meta = {k: v for k, v in ckpt.get('meta', {}).items() if k in KEPT_META}
    meta['pretrain_stamp'] = pretrain_stamp(cfg)
    meta['pretrain_seed'] = int(cfg.randomness.seed)
    # which CPU kernels trained it (tools/pretrain.py pins them, mmdoei.utils.numerics): a backbone from another
    # machine that differs in its last bits can be told apart from one made under other settings
    meta['cpu_kernels'] = dict(aten=torch.backends.cpu.get_cpu_capability(),
                               **{k: os.environ.get(k) for k in ('MKL_CBWR', 'ONEDNN_MAX_CPU_ISA')})
    meta['weights_sha256'] = weights_sha256(ckpt['state_dict'])
    meta['weights_trace'] = dict(trace.trace)
    top1 = runner.message_hub.get_scalar('val/accuracy/top1') if 'val/accuracy/top1' in \
        runner.message_hub.log_scalars else None
    if top1 is not None:
        meta['val_top1'] = round(float(top1.current()), 2)
    with atomic_write(out) as f:
        torch.save({'meta': meta, 'state_dict': ckpt['state_dict']}, f)
    print(f'[pretrain] done in {time.time() - t0:.0f} s: {out} (weights sha256 {meta["weights_sha256"]}, '
          f'top-1 {meta.get("val_top1")})')
    return out


def _pretrain_runner_cfg(config: str, data_root: Optional[str], work_dir: Optional[str],
                         cfg_options: Optional[dict], data_options: Optional[dict], seed: Optional[int]) -> Config:
    """The runner config of a pretraining, with its procedural set written (if missing)."""
    setup_env()
    data_options = dict(data_options or {})
    progress = data_options.pop('progress', True)
    cfg = pretrain_cfg(config, seed, cfg_options, data_options)
    if data_root:
        set_data_root(cfg, data_root)
    root = Path(cfg.train_dataloader.dataset.data_root)
    ensure_procedural_set(root, dict(cfg.procedural_data), progress)
    name = osp.splitext(osp.basename(config))[0]
    cfg.work_dir = work_dir or osp.join('work_dirs', 'pretrain', name + ('' if seed is None else f'_seed{seed}'))
    return cfg


def verify_pretraining(steps: int, reference: str, config: str = PRETRAIN_CONFIG, data_root: Optional[str] = None,
                       work_dir: Optional[str] = None, seed: Optional[int] = None,
                       cfg_options: Optional[dict] = None) -> dict:
    """Retrain the first ``steps`` iterations and compare the weights with ``reference``'s trace.

    A backbone records :func:`weights_sha256` after each of :data:`TRACE_STEPS`
    (``meta['weights_trace']``); the same config, seed and CPU kernels give the
    same bits, so a short run shows whether this machine would train the same
    backbone (the whole schedule: ``tools/pretrain.py --out OTHER.pth --force``
    and its ``weights_sha256``).

    Args:
        steps: One of the reference's traced iterations.
        reference: The backbone to compare with (the shipped one by default in the tool).
        config, data_root, work_dir, seed, cfg_options: As
            :func:`pretrain_backbone`; the config's stamp must be the reference's.

    Returns:
        ``dict(step, sha256, reference_sha256, same, losses)``: ``losses`` are
        the first ``steps`` iterations' losses as floats.

    Raises:
        ValueError: ``reference`` has no trace at ``steps`` or was made with
            another config (checked before any training).
    """
    meta = read_backbone_meta(reference, 'reference backbone')
    want = (meta.get('weights_trace') or {}).get(str(steps))
    if want is None:
        raise ValueError(f'{reference}: no weights trace at iteration {steps} (it has '
                         f'{sorted(map(int, meta.get("weights_trace") or {})) or "none"})')
    cfg = _pretrain_runner_cfg(config, data_root, work_dir, cfg_options, None, seed)
    if meta.get('pretrain_stamp') != pretrain_stamp(cfg):
        raise ValueError(f'{reference} was pretrained with other settings (stamp {meta.get("pretrain_stamp")}) '
                         f'than {config} with seed {cfg.randomness.seed} (stamp {pretrain_stamp(cfg)})')
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**9)  # nothing to keep
    trace = WeightsTraceHook(at=(steps, ), stop_after=steps)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(trace)
    try:
        runner.train()
    except TraceReached:
        pass
    got = trace.trace.get(str(steps))
    return dict(step=steps, sha256=got, reference_sha256=want, same=got == want, losses=list(trace.losses))


def use_pretrained(cfg, checkpoint: str, default: str = PRETRAINED_CHECKPOINT) -> int:
    """Point every init_cfg ``checkpoint`` of ``cfg.model`` that names ``default`` at ``checkpoint``.

    The demo configs name the cached backbone by a path relative to the
    repository; the tools pass an absolute one (or a test's own small
    checkpoint) through this. Returns how many init_cfgs were changed.
    """
    return replace_entries(cfg.model, 'checkpoint', str(checkpoint), lambda v: v == default)


def uses_pretrained(cfg, default: str = PRETRAINED_CHECKPOINT) -> bool:
    """True when some init_cfg of ``cfg.model`` names the cached backbone ``default``."""
    return default in str(cfg.model)


def resolve_pretrained(path: Optional[str], root: str, seed: int = 0, config: Optional[str] = None) -> str:
    """The backbone checkpoint a tool should use: ``path`` (which must exist) or,
    without one, the cache of pretraining seed ``seed`` under ``root`` (the
    repository), pretrained there the first time.

    A cached file whose stamp is not the current config's (made by an older
    schedule, or by hand) is pretrained again: the cache never stands for
    settings other than the config's. Checked before any other work starts.
    """
    if path:
        if not osp.exists(path):
            raise FileNotFoundError(f'--pretrained {path}: no such checkpoint')
        return path
    config = config or osp.join(root, PRETRAIN_CONFIG)
    out = osp.join(root, pretrained_checkpoint(seed))
    force = False
    if osp.exists(out):
        want = pretrain_stamp(pretrain_cfg(config, seed))
        have = checkpoint_stamp(out)
        if have != want:
            print(f'[pretrain] the cached backbone {out} was made with other settings (stamp {have}, '
                  f'the config gives {want}): pretraining it again')
            force = True
    return pretrain_backbone(config, out, data_root=osp.join(root, procedural_root(seed)), force=force,
                             seed=seed)
