"""Hooks: fix the thread count, check CAM folders up front, write pseudo masks
atomically, show progress, reseed for exact resumes, log test metrics from one
rank. Registered in mmengine's
root ``HOOKS`` so every scope finds them."""
import contextlib
import hashlib
import os.path as osp
import random
from typing import Any, Iterator, List, Optional

import numpy as np
import torch
from mmengine.dist import get_rank, get_world_size, is_main_process
from mmengine.fileio import dump
from mmengine.hooks import Hook, LoggerHook
from mmengine.registry import HOOKS
from mmengine.utils import ProgressBar

from mmdoei.cam.io import check_cam_folder
from mmdoei.utils.files import label_png_bytes, sample_id
from mmdoei.utils.io import atomic_write
from mmdoei.utils.locks import folder_lock
from mmdoei.utils.record import OutputRecord, file_sha256, read_record, remove_stale_temporaries
from mmdoei.utils.registry import find_class, registered_classes
from mmdoei.version import __version__
from .loops import data_fields


def reads_cams(transform: Any, default_scope: Optional[str] = None) -> bool:
    """Whether a transform reads CAM files: its class says so (``reads_cams = True``,
    as :class:`~mmdoei.datasets.transforms.LoadCAMFromFile`), whatever its name.

    Args:
        transform: A built transform, a class, or a config dict whose ``type``
            (maybe scoped, ``'mmseg.LoadCAMFromFile'``) is looked up in the
            ``TRANSFORMS`` registries (mmengine's, mmpretrain's, mmseg's).
        default_scope: The config's ``default_scope``, whose registry a bare
            name is looked up in first.
    """
    if isinstance(transform, dict):
        cls = find_class('TRANSFORMS', transform.get('type'), default_scope=default_scope)
    else:
        cls = transform if isinstance(transform, type) else type(transform)
    return cls is not None and getattr(cls, 'reads_cams', False) is True


def cam_transform_names() -> List[str]:
    """The names of every registered transform class that reads CAM files, sorted (for messages)."""
    return sorted({cls.__name__ for cls in registered_classes('TRANSFORMS') if reads_cams(cls)})


def iter_datasets(dataset) -> Iterator:
    """The dataset and, through wrappers (Concat/Repeat/ClassBalanced), the ones inside."""
    yield dataset
    for inner in getattr(dataset, 'datasets', []) or []:
        yield from iter_datasets(inner)
    if getattr(dataset, 'dataset', None) is not None:
        yield from iter_datasets(dataset.dataset)


def cam_transforms(dataset) -> List:
    """The CAM-reading transforms in a (built) dataset's pipeline."""
    pipeline = getattr(dataset, 'pipeline', None)
    return [t for t in getattr(pipeline, 'transforms', []) if reads_cams(t)]


def check_dataset_cams(dataset, progress: bool = False) -> int:
    """Check the CAM files of every sample of a dataset whose pipeline reads CAMs.

    Returns:
        The number of CAM files checked (0 if the pipeline reads none).

    Raises:
        ValueError: listing every unusable CAM file (see :func:`check_cam_folder`).
    """
    checked = 0
    for ds in iter_datasets(dataset):
        for t in cam_transforms(ds):
            samples = [ds.get_data_info(i) for i in range(len(ds))]
            checked += check_cam_folder(t.cam_dir, samples, t.num_classes, t.cam_suffix, progress)
    return checked


@HOOKS.register_module()
class NumThreadsHook(Hook):
    """Run with ``num_threads`` intra-op threads, whatever the machine has.

    A CPU reduction split over another number of threads adds in another
    order, so two runs agree bit for bit only at the same thread count; the
    count therefore belongs to the config (``default_hooks.num_threads``), not
    to the machine. mmengine's ``env_cfg`` has no such key, hence this hook.
    Set before any loop runs (``before_run``, ahead of the first forward) and
    given back afterwards, so a process that runs several Runners (the demo,
    the sweep, the tests) leaves each with the count its config asks for.
    """

    priority = 'HIGHEST'

    def __init__(self, num_threads: int) -> None:
        if not isinstance(num_threads, int) or num_threads < 1:
            raise ValueError(f'NumThreadsHook: num_threads must be a positive int, got {num_threads!r}')
        self.num_threads = num_threads
        self._previous = None

    def before_run(self, runner) -> None:
        """Set the count (the previous one is kept for :meth:`after_run`)."""
        self._previous = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        runner.logger.info(f'intra-op threads: {self.num_threads} (from the config)')

    def after_run(self, runner) -> None:
        """Give the process its previous count back."""
        if self._previous is not None:
            torch.set_num_threads(self._previous)
            self._previous = None


def weights_sha256(state_dict: dict) -> str:
    """A sha256 of a state dict's names and tensor bytes, in name order.

    A file's sha256 would also hash the metadata (times, paths) torch.save
    and mmengine write beside the weights; this one changes only with them.
    """
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        digest.update(key.encode() + state_dict[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class TraceReached(Exception):
    """Raised by :class:`WeightsTraceHook` at its ``stop_after`` iteration: the
    run has what it was started for (mmengine's epoch loop can stop only at the
    end of an epoch)."""


@HOOKS.register_module()
class WeightsTraceHook(Hook):
    """Record :func:`weights_sha256` of the model after given iterations.

    The pretraining keeps these in its checkpoint's meta
    (``weights_trace``), so a short rerun can show that a machine trains the
    same bits as the shipped backbone without the whole schedule
    (``tools/pretrain.py --verify N``). The losses of every iteration up to
    the last traced one are kept too, as the floats the loop logged.

    Args:
        at: The iterations (counted from 1) after which the weights are hashed.
        stop_after: Raise :class:`TraceReached` after this iteration (None: train on).
    """

    priority = 'LOWEST'  # after the optimizer step of the iteration, whatever other hooks do

    def __init__(self, at: tuple = (8, ), stop_after: Optional[int] = None) -> None:
        if not at or any(not isinstance(i, int) or i < 1 for i in at):
            raise ValueError(f'WeightsTraceHook: at must be positive ints, got {at!r}')
        self.at = tuple(sorted(set(at)))
        self.stop_after = stop_after
        self.trace: dict = {}
        self.losses: List[float] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Hash the weights at a traced iteration; stop at ``stop_after``."""
        step = runner.iter + 1  # mmengine counts the iteration after this hook
        if step <= self.at[-1] and outputs is not None and 'loss' in outputs:
            loss = outputs['loss']
            self.losses.append(float(loss.detach() if torch.is_tensor(loss) else loss))
        if step in self.at:
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            self.trace[str(step)] = weights_sha256(model.state_dict())
        if self.stop_after is not None and step >= self.stop_after:
            raise TraceReached(step)


@HOOKS.register_module()
class CAMFolderCheckHook(Hook):
    """Check every CAM file the train (and test) data will read before the
    loop starts, so a bad file stops the run at once with one error listing
    all of them, not hours later inside a data worker."""

    priority = 'VERY_HIGH'

    def __init__(self, progress: bool = False) -> None:
        self.progress = progress

    def _check(self, runner, loader) -> None:
        n = check_dataset_cams(loader.dataset, self.progress and get_rank() == 0)
        if n:
            runner.logger.info(f'checked {n} CAM files')

    def before_train(self, runner) -> None:
        """Check the training data's CAMs."""
        self._check(runner, runner.train_dataloader)

    def before_test(self, runner) -> None:
        """Check the test data's CAMs."""
        self._check(runner, runner.test_dataloader)


def pseudo_mask_record(model_cfg: dict, checkpoint: Optional[str], cam_dir: str, cam_transform: dict,
                       dataset) -> OutputRecord:
    """The record of a pseudo-mask folder (:mod:`mmdoei.utils.record`): the
    AffinityNet checkpoint's sha256, the CAM folder's record fingerprint (its
    path when it has no record, e.g. CAMs made elsewhere), the model config
    (the walk settings are its ``test_cfg``), the CAM-reading transform's
    settings and the image list.
    """
    cams = read_record(cam_dir)
    transform = {k: v for k, v in dict(cam_transform).items() if k not in ('cam_dir', 'cache_dir')}
    ids = [sample_id(dataset.get_data_info(i)) for i in range(len(dataset))]
    return OutputRecord('pseudo_masks', dict(
        checkpoint=file_sha256(checkpoint), model=dict(model_cfg),
        cams=cams.fingerprint if cams is not None else f'no record: {osp.abspath(cam_dir)}',
        cam_transform=transform, data=data_fields(dataset, ids), version=__version__),
        notes=dict(checkpoint=str(checkpoint), cams=osp.abspath(cam_dir)))


@HOOKS.register_module()
class PseudoMaskWriterHook(Hook):
    """Write each test output's ``pred_sem_seg`` as ``{out_dir}/{img_id}.png``
    (palette PNG, atomic: a file that exists is complete, so a rerun can skip
    it).

    Args:
        out_dir: Output folder (created).
        suffix: File suffix.
        lock: Hold ``out_dir``'s lock on rank 0 for the test run, so a second run
            into the folder stops at once, naming this one, and remove the
            temporary files killed runs left there. False when the caller holds
            it already (:func:`~mmdoei.apis.run_psa_inference`, which also checks
            the folder's record).
    """

    priority = 'LOW'

    def __init__(self, out_dir: str, suffix: str = '.png', lock: bool = True) -> None:
        self.out_dir = out_dir
        self.suffix = suffix
        self.lock = lock
        self.written = 0
        self._held = contextlib.ExitStack()

    def before_test(self, runner) -> None:
        """Take the folder's lock (rank 0) and clear a killed run's temporary files."""
        if self.lock and get_rank() == 0:
            self._held.enter_context(folder_lock(self.out_dir, 'pseudo-mask folder'))
            remove_stale_temporaries(self.out_dir, 'pseudo_masks')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Write the batch's masks."""
        for sample in outputs or []:
            label = sample.pred_sem_seg.data
            label = label.cpu().numpy() if hasattr(label, 'cpu') else np.asarray(label)
            path = osp.join(self.out_dir, sample_id(sample) + self.suffix)
            with atomic_write(path, 'wb') as f:
                f.write(label_png_bytes(label.reshape(label.shape[-2:])))
            self.written += 1

    def after_test(self, runner) -> None:
        """Report the count; release the lock."""
        self._held.close()
        runner.logger.info(f'rank {get_rank()} wrote {self.written} pseudo masks to {self.out_dir}')


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """A progress bar over the test set on rank 0 (mmengine's ``ProgressBar``),
    counting every rank's samples by assuming equal shares."""

    priority = 'LOWEST'

    def before_test(self, runner) -> None:
        """Start the bar."""
        self.bar = ProgressBar(len(runner.test_dataloader.dataset)) if get_rank() == 0 else None
        self.done = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Advance by the batch size times the number of ranks."""
        if self.bar is None:
            return
        step = len(outputs or []) * get_world_size()
        step = min(step, self.bar.task_num - self.done)
        if step > 0:
            self.bar.update(step)
            self.done += step

    def after_test(self, runner) -> None:
        """End the bar's line."""
        if self.bar is not None:
            self.bar.file.write('\n')
            self.bar.file.flush()


@HOOKS.register_module()
class MainProcessLoggerHook(LoggerHook):
    """mmengine's ``LoggerHook`` whose test metrics file is written by rank 0
    only, and atomically.

    mmengine 0.10's ``LoggerHook.after_test_epoch`` dumps
    ``{log_dir}/{timestamp}.json`` on every rank. The ranks share the
    timestamp (and, on one file system, the file): each opens it for writing
    and writes its own copy, whose timing entries differ in length, so the
    file can end up as one rank's text with the tail of another's, which is
    not JSON (seen on a two-node test run). Everything else is mmengine's.
    """

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Log the test metrics on every rank; write the JSON file on rank 0."""
        tag, log_str = runner.log_processor.get_log_after_epoch(
            runner, len(runner.test_dataloader), 'test', with_non_scalar=True)
        runner.logger.info(log_str)
        if is_main_process():
            with atomic_write(osp.join(runner.log_dir, self.json_log_path), 'w') as f:
                f.write(dump(self._process_tags(tag), file_format='json'))


@HOOKS.register_module()
class ReseedHook(Hook):
    """Reseed Python's, numpy's and torch's global generators from
    ``(runner seed, epoch)`` before each training epoch and from
    ``(runner seed, iteration)`` before each iteration, so a run resumed from
    a checkpoint draws the same random numbers as one never interrupted.

    mmengine restores weights, optimizer, schedulers and the sampler's
    epoch, but not the global generators that dropout, the random walk's
    crops and flips (with ``num_workers=0``) and the dataloader's base seed
    draw from; its iteration-based loop also replays the skipped batches
    through the pipeline on resume, which would shift them. Seeding from the
    position makes the stream a function of where training is, not of its
    history. (Dataloader workers are seeded by mmengine's ``worker_init_fn``
    from the runner seed; with ``num_workers > 0`` they replay the same
    stream on resume.) Registered in mmengine's root ``HOOKS``.
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _reseed(runner, kind: int, position: int) -> None:
        seed = int(np.random.SeedSequence([int(runner.seed) % 2 ** 32, kind, position]).generate_state(1)[0])
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def before_train_epoch(self, runner) -> None:
        """Seed from the epoch (the data of an epoch-based loop is drawn after this)."""
        self._reseed(runner, 0, runner.epoch)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Seed from the iteration (the forward pass's dropout and sampling)."""
        self._reseed(runner, 1, runner.iter)
