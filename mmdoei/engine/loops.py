"""``CAMGenerationLoop``: CAM files for a whole dataset as an mmengine test loop.

mmengine's ``TestLoop`` feeds an evaluator; CAM generation instead writes one
file per image, must skip images finished by an earlier (interrupted) run
before loading them, and works on whole images of varying size. So it is a
loop of its own, run by ``tools/test.py CONFIG CKPT --cam-out DIR`` (and
``tools/dist_test.sh``, where ranks split the images).
"""
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.dist import barrier, get_rank, get_world_size
from mmengine.registry import LOOPS
from mmengine.runner import BaseLoop
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader, Subset

from mmdoei.cam.inference import multiscale_cams, normalise_cam_sum, pass_sizes, pil_resize, save_overlays
from mmdoei.cam.io import save_cam
from mmdoei.utils.config import AMP_CPU_MESSAGE
from mmdoei.utils.files import sample_id


@LOOPS.register_module()
class CAMGenerationLoop(BaseLoop):
    """Write multi-pass (scales or sizes, + flip) CAMs of every image of ``dataloader`` to ``out_dir``.

    Args:
        runner: The runner.
        dataloader: A loader of whole images (batch size 1) with image-level
            labels, e.g. the configs' ``cam_dataloader``.
        out_dir: Where ``{img_id}.npz`` files go (and ``overlays/`` PNGs).
        scales: Image scales, or ``sizes``: fixed ``(h, w)`` of every pass.
        flip: Also the flipped image.
        interpolation, norm: The image resize filter (PIL) and the normalisation
            of the summed maps; see :func:`~mmdoei.cam.multiscale_cams`.
            Defaults to :data:`~mmdoei.cam.CAM_PROTOCOLS` ``['mctformer']``; the
            configs set each baseline's in ``cam_gen``.
        amp: Under CUDA autocast (GPU only; refused on the CPU).
        cam_cfg: Overrides of the model's CAM settings (type, last_n, refine).
        overlay: Also write an overlay PNG per labelled class (first
            ``overlay_limit`` images only: they are for looking at).
        skip_existing: Skip images whose file exists (resume after a kill;
            files are written atomically, so an existing file is complete).
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict], out_dir: str,
                 scales: Optional[Sequence[float]] = (1.0, ), flip: bool = True,
                 cam_cfg: Optional[dict] = None, overlay: bool = False, overlay_limit: int = 50,
                 skip_existing: bool = True, evaluator=None,
                 sizes: Optional[Sequence[Sequence[int]]] = None, interpolation: str = 'bicubic',
                 norm: str = 'minmax', amp: bool = False) -> None:
        # ``evaluator`` is what the Runner hands every test loop; CAM files need none.
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
        if self.sizes:
            pass_sizes((1, 1), None, self.sizes)  # checks them
        elif not self.scales or any(s <= 0 for s in self.scales):
            raise ValueError(f'CAM scales must be positive, got {self.scales}')
        normalise_cam_sum(torch.zeros(1, 1, 1), norm)  # checks the name up front
        pil_resize(np.zeros((1, 1, 3), np.uint8), (1, 1), interpolation)
        if amp and not torch.cuda.is_available():
            raise ValueError(AMP_CPU_MESSAGE)

    def _pending_loader(self) -> Tuple[DataLoader, int, int]:
        """The loader restricted to images without a CAM file, split across ranks;
        also the number of images left and in all."""
        dataset = self.dataloader.dataset
        todo = [i for i in range(len(dataset))
                if not (self.skip_existing and (self.out_dir / f'{sample_id(dataset.get_data_info(i))}.npz').exists())]
        rank, world = get_rank(), get_world_size()
        mine = todo[rank::world]  # contiguous work needs no padding and no duplicates
        return DataLoader(Subset(dataset, mine), batch_size=1, shuffle=False,
                          num_workers=self.dataloader.num_workers,
                          collate_fn=self.dataloader.collate_fn), len(todo), len(dataset)

    def run(self) -> dict:
        runner = self.runner
        runner.call_hook('before_test')
        runner.call_hook('before_test_epoch')
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        model.eval()
        if get_rank() == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            # A killed run can leave the hidden temporary file of the image it was
            # writing; its finished files are all whole (written by rename).
            for stale in self.out_dir.glob('.*.npz.*.tmp'):
                stale.unlink()
        barrier()
        loader, n_todo, n_all = self._pending_loader()
        runner.logger.info(f'CAMs: {n_all - n_todo} of {n_all} images already done in {self.out_dir}; '
                           f'this rank computes {len(loader)}; '
                           f'{f"sizes {self.sizes}" if self.sizes else f"scales {self.scales}"}, '
                           f'flip {self.flip}, resize {self.interpolation} (PIL), norm {self.norm}, amp {self.amp}, '
                           f'cam_cfg {model.resolve_cam_cfg(self.cam_cfg)}')
        classes = getattr(loader.dataset.dataset, 'CLASSES', None) or \
            loader.dataset.dataset.metainfo.get('classes')
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
            cams = multiscale_cams(model, img.to(next(model.parameters()).device), labels, self.scales,
                                   self.flip, sizes=self.sizes, interpolation=self.interpolation,
                                   norm=self.norm, amp=self.amp, **self.cam_cfg)
            if self.norm == 'clamp_sum':  # TransCAM's below-zero pixels lose to any background
                cams = cams.clamp(min=0)
            save_cam(self.out_dir / f'{img_id}.npz', labels, cams)
            if self.overlay and written < self.overlay_limit:
                rgb = data_batch['inputs'][0].permute(1, 2, 0).numpy()[..., ::-1]
                save_overlays(self.out_dir / 'overlays', img_id, np.ascontiguousarray(rgb),
                              labels, cams.cpu().numpy(), classes)
            written += 1
            runner.call_hook('after_test_iter', batch_idx=idx, data_batch=data_batch, outputs=None)
            if bar is not None:
                bar.update()
        metrics = {'cams_written': written}
        runner.call_hook('after_test_epoch', metrics=metrics)
        runner.call_hook('after_test')
        return metrics
