"""``CAMGenerationLoop``: CAM files for a whole dataset as an mmengine test loop.

mmengine's ``TestLoop`` feeds an evaluator; CAM generation instead writes one
file per image, must skip images finished by an earlier (interrupted) run
before loading them, and works on whole images of varying size. So it is a
loop of its own, run by ``tools/test.py CONFIG CKPT --cam-out DIR`` (and
``tools/dist_test.sh``, where ranks split the images).

One run writes into a folder at a time (rank 0 holds the folder's lock for
the whole run), and a folder is only resumed by a run with the same inputs:
its record (:mod:`mmdoei.utils.record`) holds the checkpoint's sha256, the
model config (DOEI included), the input normalisation the model actually
applies (its data preprocessor as built, which a top-level
``data_preprocessor`` of the config also sets), the CAM dataset's pipeline
and data prefix, the CAM protocol, the image list and the mmdoei version; a
run with other inputs is refused unless ``overwrite``.
"""
import contextlib
import copy
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dist import barrier, broadcast_object_list, get_rank, get_world_size
from mmengine.registry import LOOPS
from mmengine.runner import BaseLoop
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader, Subset

from mmdoei.cam.io import CAM_SUFFIX, cam_path, check_cam_suffix, save_cam
from mmdoei.cam.multiscale import normalise_cam_sum, pass_sizes, pil_resize, protocol_cams, save_overlays
from mmdoei.utils.config import AMP_CPU_MESSAGE, entries_of_type
from mmdoei.utils.files import sample_id
from mmdoei.utils.locks import folder_lock
from mmdoei.utils.record import OutputRecord, claim, file_sha256, remove_stale_temporaries, sha256_text
from mmdoei.version import __version__


def doei_settings(cfg) -> List[dict]:
    """The ``DOEIHook`` entries of a config's ``custom_hooks`` (DOEI set outside ``model``)."""
    return [dict(h) for h in entries_of_type(cfg.get('custom_hooks') or [], 'DOEIHook')]


def data_fields(dataset, ids: Sequence[str]) -> dict:
    """The image list of a record: data root, count and the hash of the ordered ids."""
    return dict(data_root=str(getattr(dataset, 'data_root', None)), num_images=len(ids), ids_sha256=sha256_text(ids))


def preprocessor_fields(model) -> dict:
    """The input normalisation ``model`` applies, read from its data preprocessor as built.

    The built module, not ``cfg.model.data_preprocessor``: mmpretrain merges a
    config's top-level ``data_preprocessor`` into it, so a ``--cfg-options
    data_preprocessor.mean=...`` changes every CAM without touching ``cfg.model``.
    """
    pre = getattr(model, 'data_preprocessor', None)
    if pre is None:
        return dict(type=None)

    def values(name):
        v = getattr(pre, name, None)
        # float32 buffers: their 7 significant digits, so the record reads 123.675, not 123.67500305175781
        return [float(f'{x:.7g}') for x in v.flatten().tolist()] if isinstance(v, torch.Tensor) else v

    normalise = getattr(pre, '_enable_normalize', None)
    return dict(type=type(pre).__name__, normalize=normalise,
                mean=values('mean') if normalise is not False else None,
                std=values('std') if normalise is not False else None,
                to_rgb=getattr(pre, 'to_rgb', getattr(pre, '_channel_conversion', None)),
                pad_size_divisor=getattr(pre, 'pad_size_divisor', None), pad_value=getattr(pre, 'pad_value', None))


def dataset_fields(dataset_cfg: Optional[dict], dataset) -> dict:
    """The CAM dataset's loading: its pipeline (decoder backend, resizes) and data prefix.

    From the loop's dataloader config when it has one (the configs'
    ``cam_dataloader``); else from the built dataset (its pipeline's ``repr``).
    """
    if isinstance(dataset_cfg, dict):
        return dict(pipeline=copy.deepcopy(dataset_cfg.get('pipeline')),
                    data_prefix=copy.deepcopy(dataset_cfg.get('data_prefix', getattr(dataset, 'data_prefix', None))))
    return dict(pipeline=repr(getattr(dataset, 'pipeline', None)), data_prefix=getattr(dataset, 'data_prefix', None))


def on_rank0(fn):
    """``fn()`` on rank 0; its error, if any, raised on every rank (the others would
    otherwise wait for rank 0 at the next barrier forever)."""
    error = None
    if get_rank() == 0:
        try:
            fn()
        except Exception as e:  # re-raised below on every rank, after telling the others
            error = e
    message = [None if error is None else f'{type(error).__name__}: {error}']
    broadcast_object_list(message)
    if error is not None:
        raise error
    if message[0] is not None:
        raise RuntimeError(f'rank 0 stopped: {message[0]}')


@LOOPS.register_module()
class CAMGenerationLoop(BaseLoop):
    """Write multi-pass (scales or sizes, + flip) CAMs of every image of ``dataloader`` to ``out_dir``.

    Args:
        runner: The runner.
        dataloader: A loader of whole images (batch size 1) with image-level
            labels, e.g. the configs' ``cam_dataloader``.
        out_dir: Where ``{img_id}{cam_suffix}`` files go (and ``overlays/`` PNGs).
        scales: Image scales, or ``sizes``: fixed ``(h, w)`` of every pass.
        flip: Also the flipped image.
        interpolation: The image resize filter (PIL); see
            :func:`~mmdoei.cam.multiscale_cams`. Defaults, with ``norm``, to
            :data:`~mmdoei.cam.CAM_PROTOCOLS` ``['mctformer']``; the configs set
            each baseline's in ``cam_gen``.
        cam_suffix: The CAM files' suffix (:func:`~mmdoei.cam.io.cam_path`;
            a config's top-level ``cam_suffix``, ``tools/test.py
            --cam-suffix``); the readers (the CAM transforms' ``cam_suffix``,
            seed scoring) must use the same one.
        norm: The normalisation of the summed maps (``'minmax'``, ``'clamp_sum'``).
        amp: Under CUDA autocast (GPU only; refused on the CPU).
        cam_cfg: Overrides of the model's CAM settings (type, last_n, refine).
        overlay: Also write an overlay PNG per labelled class, for the first
            ``overlay_limit`` images of the dataset (they are for looking at). An
            image's overlays are written before its CAM file, so an image with
            a CAM file has its overlays, and a resumed run completes that set.
        skip_existing: Skip images whose file exists (resume after a kill;
            files are written atomically, so an existing file is complete).
        overwrite: Delete the folder's CAM outputs (``*.npz``, ``overlays/``,
            ``seed_eval/``) if its record says other inputs made them, instead
            of stopping. The record includes ``cam_suffix``: a folder holds
            the CAMs of one suffix, and a run with another is refused
            (``cam_suffix: old -> new``) unless it overwrites.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict], out_dir: str,
                 scales: Optional[Sequence[float]] = (1.0, ), flip: bool = True,
                 cam_cfg: Optional[dict] = None, overlay: bool = False, overlay_limit: int = 50,
                 skip_existing: bool = True, evaluator=None,
                 sizes: Optional[Sequence[Sequence[int]]] = None, interpolation: str = 'bicubic',
                 norm: str = 'minmax', amp: bool = False, overwrite: bool = False,
                 cam_suffix: str = CAM_SUFFIX) -> None:
        # ``evaluator`` is what the Runner hands every test loop; CAM files need none.
        # The dataset's config, kept for the record before the loader is built from it.
        self._dataset_cfg = (copy.deepcopy(dict(dataloader.get('dataset') or {}))
                             if isinstance(dataloader, dict) else None)
        super().__init__(runner, dataloader)
        self.out_dir = Path(out_dir)
        self.scales = tuple(scales) if scales else None
        self.sizes = tuple(tuple(int(v) for v in hw) for hw in sizes) if sizes else None
        self.flip = flip
        self.interpolation = interpolation
        self.norm = norm
        self.amp = amp
        self.cam_cfg = dict(cam_cfg or {})
        self.overlay = overlay
        self.overlay_limit = overlay_limit
        self.skip_existing = skip_existing
        self.overwrite = overwrite
        self.cam_suffix = check_cam_suffix(cam_suffix)  # a bad one stops the run before any model work
        if self.sizes:
            pass_sizes((1, 1), None, self.sizes)  # checks them
        elif not self.scales or any(s <= 0 for s in self.scales):
            raise ValueError(f'CAM scales must be positive, got {self.scales}')
        normalise_cam_sum(torch.zeros(1, 1, 1), norm)  # checks the name up front
        pil_resize(np.zeros((1, 1, 3), np.uint8), (1, 1), interpolation)
        if amp and not torch.cuda.is_available():
            raise ValueError(AMP_CPU_MESSAGE)

    def _ids(self) -> List[str]:
        dataset = self.dataloader.dataset
        return [sample_id(dataset.get_data_info(i)) for i in range(len(dataset))]

    def _overlays_missing(self, img_id: str, info: dict, classes) -> bool:
        """Whether an overlay image of ``img_id`` lacks one of its PNGs."""
        labels = info.get('gt_label')
        folder = self.out_dir / 'overlays'
        if labels is None or classes is None:  # names unknown: any overlay of the image will do
            return not any(folder.glob(f'{img_id}_*.png'))
        return not all((folder / f'{img_id}_{classes[int(c)]}.png').is_file() for c in np.atleast_1d(labels))

    def _pending_loader(self) -> Tuple[DataLoader, int, int]:
        """The loader restricted to images without a CAM file (or, with ``overlay``,
        without their overlays), split across ranks; also the number of images
        left and in all."""
        dataset = self.dataloader.dataset
        classes = self._classes(dataset)
        todo = []
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            img_id = sample_id(info)
            if not (self.skip_existing and Path(cam_path(self.out_dir, img_id, self.cam_suffix)).exists()):
                todo.append(i)
            elif self.overlay and i < self.overlay_limit and self._overlays_missing(img_id, info, classes):
                todo.append(i)  # e.g. a first run without --overlay: its set is completed
        rank, world = get_rank(), get_world_size()
        mine = todo[rank::world]  # contiguous work needs no padding and no duplicates
        return DataLoader(Subset(dataset, mine), batch_size=1, shuffle=False,
                          num_workers=self.dataloader.num_workers,
                          collate_fn=self.dataloader.collate_fn), len(todo), len(dataset)

    @staticmethod
    def _classes(dataset):
        return getattr(dataset, 'CLASSES', None) or dataset.metainfo.get('classes')

    def record(self, model) -> OutputRecord:
        """The record of what this run's CAM files are made from."""
        cfg = self.runner.cfg
        checkpoint = cfg.get('load_from')
        protocol = dict(scales=self.scales, sizes=self.sizes, flip=self.flip, interpolation=self.interpolation,
                        norm=self.norm, amp=self.amp, cam_cfg=model.resolve_cam_cfg(self.cam_cfg))
        return OutputRecord('cams', dict(
            checkpoint=file_sha256(checkpoint), model=cfg.model.to_dict(), doei_hooks=doei_settings(cfg),
            preprocessor=preprocessor_fields(model),
            dataset=dataset_fields(self._dataset_cfg, self.dataloader.dataset), protocol=protocol,
            data=data_fields(self.dataloader.dataset, self._ids()), version=__version__,
            # the files' names: a folder holds one suffix, so another one is refused, not mixed in
            cam_suffix=self.cam_suffix),
            notes=dict(checkpoint=str(checkpoint)))

    def run(self) -> dict:
        runner = self.runner
        runner.call_hook('before_test')
        runner.call_hook('before_test_epoch')
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        model.eval()
        with contextlib.ExitStack() as lock:
            claimed = []

            def take_folder():
                # Held for the whole run: a second run into this folder stops here, naming this one.
                lock.enter_context(folder_lock(self.out_dir, 'CAM folder'))
                # Under the lock every temporary file is a killed run's; finished files are whole.
                remove_stale_temporaries(self.out_dir, 'cams')
                claimed.append(claim(self.out_dir, self.record(model), self.overwrite))

            on_rank0(take_folder)
            barrier()
            return self._run(runner, model, claimed[0] if claimed else None)

    def _run(self, runner, model, claimed: Optional[str]) -> dict:
        loader, n_todo, n_all = self._pending_loader()
        how = {'new': 'a new folder', 'resume': 'resuming: its record matches these settings',
               'overwritten': 'its old outputs deleted (--overwrite)', None: 'folder claimed by rank 0'}[claimed]
        runner.logger.info(f'CAMs: {n_all - n_todo} of {n_all} images already done in {self.out_dir} ({how}); '
                           f'this rank computes {len(loader)}; '
                           f'{f"sizes {self.sizes}" if self.sizes else f"scales {self.scales}"}, '
                           f'flip {self.flip}, resize {self.interpolation} (PIL), norm {self.norm}, amp {self.amp}, '
                           f'cam_cfg {model.resolve_cam_cfg(self.cam_cfg)}')
        classes = self._classes(loader.dataset.dataset)
        bar = ProgressBar(len(loader)) if get_rank() == 0 and len(loader) else None
        written = 0
        for idx, data_batch in enumerate(loader):
            runner.call_hook('before_test_iter', batch_idx=idx, data_batch=data_batch)
            # The 8-bit image as loaded: every pass resizes it with PIL, then normalises.
            img, sample = data_batch['inputs'][0], data_batch['data_samples'][0]
            labels = sorted(int(c) for c in sample.gt_label)
            img_id = sample_id(sample)
            if not labels:
                raise ValueError(f'{sample.metainfo["img_path"]}: image has no class label, '
                                 'so it has no CAM; remove it from the CAM split')
            cams = protocol_cams(model, img.to(next(model.parameters()).device), labels, self.scales,
                                 self.flip, sizes=self.sizes, interpolation=self.interpolation,
                                 norm=self.norm, amp=self.amp, **self.cam_cfg)
            # Overlays first: an image whose CAM file exists is finished, overlays included.
            if self.overlay and loader.dataset.indices[idx] < self.overlay_limit:
                rgb = data_batch['inputs'][0].permute(1, 2, 0).numpy()[..., ::-1]
                save_overlays(self.out_dir / 'overlays', img_id, np.ascontiguousarray(rgb),
                              labels, cams.cpu().numpy(), classes)
            save_cam(cam_path(self.out_dir, img_id, self.cam_suffix), labels, cams)
            written += 1
            runner.call_hook('after_test_iter', batch_idx=idx, data_batch=data_batch, outputs=None)
            if bar is not None:
                bar.update()
        metrics = {'cams_written': written}
        runner.call_hook('after_test_epoch', metrics=metrics)
        runner.call_hook('after_test')
        return metrics
