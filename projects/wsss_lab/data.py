"""The synthetic VOC-layout set of the demo, the DOEI sweep and the ``--tiny``
pipeline, written once into a work folder as a step with a record.

Moved here from ``mmdoei.apis.pipeline`` with the generator it calls: the step
kind (``synthetic_voc``), its fields and its record file are unchanged, so a
folder written before the move is accepted by a rerun as it was.
"""
from pathlib import Path
from typing import Optional

from mmdoei.apis.steps import Step, register_step_kind
from .synthetic import make_synthetic_voc

#: A synthetic VOC-layout set (its folder is ``OUT/data``).
#: Its outputs are the files make_synthetic_voc writes (not the whole VOC2012/ folder: other files there are kept).
SYNTHETIC_VOC = register_step_kind(
    'synthetic_voc', 'synthetic data folder',
    files=('VOC2012/JPEGImages/*.jpg', 'VOC2012/Annotations/*.xml', 'VOC2012/SegmentationClassAug/*.png',
           'VOC2012/SegmentationClass/*.png',
           *(f'VOC2012/ImageSets/Segmentation/{n}.txt'
             for n in ('train', 'val', 'trainval', 'train_aug', 'cls_labels')),
           'synthetic_meta.json'),
    overwrite_hint='rerun with --overwrite (overwrite=True in the API)')


def ensure_synthetic_voc(out_dir: str, num_train: int = 400, img_size: int = 64, seed: int = 0,
                         num_val: Optional[int] = None, style: str = 'demo', overwrite: bool = False) -> Path:
    """A synthetic VOC-layout set under ``out_dir/data``, written once (the
    demo's, the sweep's and the pipeline's ``tiny`` data; ``style='heldout'``
    the sweep's held-out set, see :func:`.synthetic.make_synthetic_voc`).

    A step (record ``out_dir/data/.mmdoei-record.json``): its generator
    arguments and mmdoei's version; an interrupted write is redone, a set of
    other arguments there is refused (naming the folder and what differs)
    unless ``overwrite``. A folder an older mmdoei completed (its
    ``.complete-N`` marker of the same size and style) is kept as it is.
    Returns the ``VOC2012`` folder to use as ``data_root``.
    """
    out = Path(out_dir)
    folder = out / 'data'
    root = folder / 'VOC2012'
    num_val = num_train // 4 if num_val is None else num_val
    step = Step.of(SYNTHETIC_VOC, folder, num_train=num_train, num_val=num_val, img_size=img_size, seed=seed,
                   style=style)
    legacy = folder / (f'.complete-{num_train}' + ('' if style == 'demo' else f'-{style}'))
    if not overwrite and step.previous() is None and legacy.is_file() and \
            [p.name for p in folder.glob('.complete-*')] == [legacy.name]:
        step.finish(dict(adopted=legacy.name))  # the older marker of exactly this set: keep its data

    def write() -> dict:
        print(f'[data] writing the synthetic VOC-layout data set ({style}) to {root}')
        make_synthetic_voc(folder, num_train=num_train, num_val=num_val, img_size=(img_size, img_size), seed=seed,
                           style=style)
        return dict(data_root=str(root))

    step.run(write, overwrite=overwrite)
    return root
