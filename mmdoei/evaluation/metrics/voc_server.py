"""Writing test-split predictions for the PASCAL VOC evaluation server."""
import os.path as osp
import tarfile
from typing import List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS

from mmdoei.utils.files import label_png_bytes, sample_id
from mmdoei.utils.io import atomic_write

#: The server's folder for segmentation results, below ``results/``.
VOC_SERVER_DIR = 'VOC2012/Segmentation/{comp}_test_cls'


@METRICS.register_module()
class VOCServerWriter(BaseMetric):
    """Write each prediction as the VOC evaluation server expects it.

    ``{out_dir}/results/VOC2012/Segmentation/{comp}_test_cls/{img_id}.png``:
    palette PNGs holding the class indices (VOC's colour map), one per test
    image; then ``{out_dir}/results.tgz`` with the ``results/`` tree, the
    file to upload. ``comp6`` is the competition for methods trained with
    data beyond VOC's own (ImageNet weights, SBD), where WSSS results go.

    Use it as the ``test_evaluator`` of a config whose test split has no
    ground truth; it computes no score. Every rank writes its own images
    (atomically); rank 0 packs the archive after all ranks are done.

    Args:
        out_dir: Output folder.
        comp: Competition id (``comp5``: VOC data only; ``comp6``: any data).
        archive: Also write ``results.tgz``.
        palette: Flat ``[r, g, b, ...]`` palette (default VOC's).
        collect_device: mmengine's ``collect_device``.
        prefix: mmengine's metric prefix.
    """

    default_prefix = 'voc_server'

    def __init__(self, out_dir: str, comp: str = 'comp6', archive: bool = True,
                 palette: Optional[Sequence[int]] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.out_dir = out_dir
        self.result_dir = osp.join(out_dir, 'results', VOC_SERVER_DIR.format(comp=comp))
        self.archive = archive
        self.palette = palette

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Write the batch's predictions; remember their ids."""
        for sample in data_samples:
            label = sample['pred_sem_seg']['data']
            label = label.cpu().numpy() if hasattr(label, 'cpu') else np.asarray(label)
            img_id = sample_id(sample)
            with atomic_write(osp.join(self.result_dir, img_id + '.png'), 'wb') as f:
                f.write(label_png_bytes(label.reshape(label.shape[-2:]), self.palette))
            self.results.append(img_id)

    def compute_metrics(self, results: List[str]) -> dict:
        """Pack the archive (rank 0); report the number of images."""
        ids = sorted(set(results))  # samplers that round up repeat a few images
        if self.archive:
            path = osp.join(self.out_dir, 'results.tgz')
            with atomic_write(path, 'wb') as f, tarfile.open(fileobj=f, mode='w:gz') as tar:
                for img_id in ids:
                    png = osp.join(self.result_dir, img_id + '.png')
                    tar.add(png, arcname=osp.relpath(png, self.out_dir))
            print_log(f'{len(ids)} test predictions in {self.result_dir}; upload {path}', logger='current')
        return dict(num_images=len(ids))


__all__ = ['VOCServerWriter', 'VOC_SERVER_DIR']
