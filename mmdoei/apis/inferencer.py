"""``CAMInferencer``: CAMs, seeds and overlays of images, in mmengine's ``BaseInferencer`` style.

    from mmdoei.apis import CAMInferencer, get_model
    model = get_model('mctformer-v2_deit-s_voc12aug_authors', pretrained=True)
    result = CAMInferencer(model)('demo.jpg', show_dir='cams/')     # CAMs, seeds, overlay PNGs

    CAMInferencer('mctformer-v2_deit-s_voc12aug_authors')         # the same from the name

A model is a zoo name (weights from its metafile entry unless ``weights`` is
given), a config file or a ``Config`` with ``weights``, or a built model; it must
compute CAMs (the zoo's CAM models, :func:`mmdoei.apis.hub.cam_models`).
``doei=dict(...)`` switches DOEI on for extraction, ``doei=False`` off (also
for a ``doei-*`` model). The CAMs are ``tools/test.py --cam-out``'s for the same
image and labels (the config's ``cam_gen``; ``protocol=``, ``scales=``,
``flip=`` override it). Inputs are image paths, folders (their image files,
by extension; others are skipped with one warning naming them), BGR ``uint8``
arrays, or lists of these. Labels are 0-based indices or class names.
Per image the result holds the predicted (or given) labels, all class scores,
the CAMs ``(K, H, W)`` in [0, 1] at the image's size and the seed label map
(0 = background, class + 1 elsewhere, docs/method.md, "Seeds"); ``show_dir``
receives one PNG per image (the image, one CAM overlay per class with its name
and score, the seeds, a colour bar and the seed legend), drawn by the one CAM
renderer (:mod:`mmdoei.cam.render`, on mmengine's ``Visualizer``).
"""
import contextlib
import os.path as osp
import threading
import warnings
import weakref
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.visualization import Visualizer

from mmdoei.cam.render import MAX_COLS, CAMRenderer, save_png
from mmdoei.cam.seeds import cams_to_seed
from mmdoei.doei import attach_doei, doei_handle, doei_target
from mmdoei.utils.files import image_size
from .hub import cam_models, resolve_model
from .inference import inference_cams, init_model, model_class_names, resolve_labels

#: Image files a folder input contributes (by extension, case-insensitive), as mmpretrain's folders.
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')

InputType = Union[str, np.ndarray]

#: One lock per built model (weakly keyed: it goes with the model), guarded by ``_LOCKS_GUARD``.
_MODEL_LOCKS: 'weakref.WeakKeyDictionary[torch.nn.Module, threading.RLock]' = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: torch.nn.Module) -> threading.RLock:
    """The lock every :class:`CAMInferencer` call on ``model`` holds: an in-process lock (threads),
    not a file lock, since what it guards is the model object in this process (its DOEI switch and
    the DOEI handle's per-forward state)."""
    with _LOCKS_GUARD:
        lock = _MODEL_LOCKS.get(model)
        if lock is None:
            lock = _MODEL_LOCKS[model] = threading.RLock()
        return lock


class _Listed(list):
    """Inputs already listed and checked by :meth:`CAMInferencer.__call__`."""


def _skipped_name(path: Path) -> str:
    """A skipped folder entry as the warning names it."""
    if path.is_symlink() and not path.exists():
        return f'{path.name} (a broken link)'
    if path.is_dir():
        return f'{path.name}/ (a sub-folder)'
    return path.name


class CAMInferencer(BaseInferencer):
    """CAM inference of a stage-1 classifier (MCTformer, TS-CAM, TransCAM, ...).

    Args:
        model: A zoo name (:func:`mmdoei.apis.list_models`), a config file, a
            ``Config``, or a model built by :func:`mmdoei.apis.get_model`.
        weights: A checkpoint path or URL; for a zoo name, by default its Weights.
        device: ``'cpu'``, ``'cuda'``...
        partial: Load a checkpoint that does not fit the model (its matching
            tensors only) instead of refusing it (see :func:`mmdoei.apis.init_model`).
        class_names: Names of the foreground classes for the overlays and for
            ``labels`` given by name; by default VOC's or COCO's by the number
            of classes.
        doei: None: DOEI as the model's config says; a dict: on with these
            :class:`~mmdoei.doei.DOEIConfig` settings (CAM extraction only, e.g.
            on the authors' weights); ``False``: off. On a built model the
            switch holds during this inferencer's calls only, and the model is
            left as it was: ``doei=False`` clears its DOEI handle's ``enabled``
            flag for the call, a dict swaps the handle's settings for the call
            (:meth:`~mmdoei.doei.attach.DOEIHandle.reconfigure`), or attaches
            DOEI and removes it again on a model without DOEI; a handle taken
            before (``doei_handle(model)``) stays the model's.
        verbose: mmengine's INFO log while building the model.
        partial_flag: How the error of a checkpoint that does not fit names
            ``partial`` (``tools/visualization/vis_cam.py`` passes ``--partial-load``).
        **cfg_options: Updates of ``model``.

    Threads: every call holds a lock of its model (:func:`model_lock`), so calls
    on one model, by one inferencer or several (e.g. one with ``doei=False`` and
    one with ``doei=dict(...)`` on the same model), run one after the other and
    each sees the model as it asked; calls on different models run in parallel.

    Outputs: ``show_dir`` receives ``<image name>.png`` (arrays:
    ``<index>.png``); inputs that would write the same file (``x/a.jpg`` and
    ``y/a.png``, or one image twice) are refused before any CAM is computed.

    Raises:
        TypeError: the model computes no CAMs (the message lists the zoo's CAM models).
    """

    preprocess_kwargs: set = set()
    forward_kwargs: set = {'labels', 'scales', 'flip', 'score_thr', 'bg_threshold', 'protocol'}
    visualize_kwargs: set = {'show', 'show_dir', 'alpha', 'scaling', 'max_cols'}
    postprocess_kwargs: set = set()

    def __init__(self, model: Union[str, Config, torch.nn.Module], weights: Optional[str] = None,
                 device: str = 'cpu', class_names: Optional[Sequence[str]] = None, partial: bool = False,
                 doei: Union[dict, bool, None] = None, verbose: bool = False,
                 partial_flag: str = 'partial=True', **cfg_options) -> None:
        if model is None:
            # mmengine's BaseInferencer would rebuild the model from the config text saved in the
            # checkpoint's meta, i.e. execute Python from the file: never from a checkpoint.
            raise ValueError(f'CAMInferencer needs the model as a zoo name, a config file or a Config '
                             f'(weights={weights!r} alone is not enough: mmdoei does not build a model from the '
                             'config text inside a checkpoint, which would run code from the file)')
        self._cfg_options = cfg_options
        self._partial = partial
        self._partial_flag = partial_flag
        self._verbose = verbose
        self._doei = None  # the switch applied around forward (built models only)
        if isinstance(model, torch.nn.Module):  # e.g. from get_model: used as it is
            if weights is not None or cfg_options:
                raise ValueError('CAMInferencer: weights and model options apply to names and configs, '
                                 'not to a built model')
            self._check_cams(model)
            # mmdoei's builders set ``cfg``; mmpretrain.get_model sets ``_config``.
            cfg = getattr(model, 'cfg', None) or getattr(model, '_config', None)
            if cfg is None:
                raise ValueError(f'CAMInferencer: the {type(model).__name__} given has no config (`cfg`): build it '
                                 'with mmdoei.apis.get_model or init_model')
            model.cfg = cfg
            self.scope, self.model, self.cfg = 'mmpretrain', model.eval(), cfg
            self.pipeline, self.collate_fn = None, None
            self.visualizer = self._init_visualizer(self.cfg)
            self._doei = doei
            if isinstance(doei, dict):
                print_log(f'CAMInferencer: DOEI on for extraction with {doei} (the model is left as it was)',
                          logger='current')
            elif doei is False and doei_handle(model) is not None:
                print_log('CAMInferencer: DOEI off for extraction (the model is left as it was)', logger='current')
        else:
            self._cfg_options = dict(cfg_options, doei=doei) if doei is not None else cfg_options
            super().__init__(model=model, weights=weights, device=device, scope='mmpretrain')
            self._check_cams(self.model)
        self.show_progress = False  # mmengine >= 0.10 reads it in __call__
        self.class_names = list(class_names or model_class_names(self.model))

    @staticmethod
    def _check_cams(model: torch.nn.Module) -> None:
        if not callable(getattr(model, 'cams', None)):
            raise TypeError(f'CAMInferencer: {type(model).__name__} computes no CAMs (it has no `cams` method); '
                            f'give a stage-1 classifier, e.g. one of the zoo\'s CAM models: {cam_models()}')

    @contextlib.contextmanager
    def _doei_switched(self) -> Iterator[None]:
        """DOEI as asked (``doei=``) on a built model for the duration of a call, then exactly as it
        was (the same handle, its settings and ``enabled`` flag), under the model's lock."""
        doei, model = self._doei, self.model
        with model_lock(model):
            handle = doei_handle(model) if doei is not None else None
            if doei is False and handle is not None:
                enabled, handle.enabled = handle.enabled, False
                try:
                    yield
                finally:
                    handle.enabled = enabled
            elif isinstance(doei, dict) and handle is not None:
                enabled, handle.enabled = handle.enabled, True
                old = handle.reconfigure(doei)
                try:
                    yield
                finally:
                    handle.reconfigure(old)
                    handle.enabled = enabled
            elif isinstance(doei, dict):
                new = attach_doei(doei_target(model), doei)
                try:
                    yield
                finally:
                    new.remove()
            else:
                yield

    def _load_model_from_metafile(self, model: str):
        """A zoo entry's config and weights (an ``Init`` entry's go into the backbone's ``init_cfg``)."""
        return resolve_model(model, pretrained=True)

    def _init_model(self, cfg: Config, weights: Optional[str], device: str = 'cpu') -> torch.nn.Module:
        return init_model(cfg, weights, device=device, partial=self._partial, verbose=self._verbose,
                          partial_flag=self._partial_flag, **self._cfg_options)

    def _init_pipeline(self, cfg: Config):
        # Loading and preprocessing is inference_cams' (the config's cam_pipeline), per image.
        return None

    def _init_visualizer(self, cfg: Config) -> Visualizer:
        return Visualizer.get_instance(f'mmdoei_cam_inferencer_{id(self)}')

    def _inputs_to_list(self, inputs) -> list:
        if isinstance(inputs, _Listed):  # already listed and checked by __call__
            return list(inputs)
        return self.list_inputs(inputs)

    @staticmethod
    def list_inputs(inputs) -> list:
        """Paths, folders (their image files by extension, sorted) and arrays, as a flat list.

        Every image file's header is read here (:func:`~mmdoei.utils.files.image_size`),
        so a file that is no image, a 16-bit image or one over the pixel budget is
        named before any CAM is computed. A folder's entries that are not image
        files (other extensions, sub-folders, which are not searched, and broken
        links) are skipped and named in one warning.

        Raises:
            FileNotFoundError: a path that does not exist, or a folder without image files.
            ValueError: an image file that cannot be read as an 8-bit image, or a bad array.
        """
        items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        out = []
        for item in items:
            if isinstance(item, (str, Path)) and osp.isdir(item):
                entries = sorted(Path(item).iterdir())
                is_image = [p.is_file() and p.suffix.lower() in IMG_EXTENSIONS for p in entries]
                images = [str(p) for p, ok in zip(entries, is_image) if ok]
                skipped = [_skipped_name(p) for p, ok in zip(entries, is_image) if not ok]
                if not images:
                    folders = [p.name for p in entries if p.is_dir()]
                    hint = (f'; its sub-folders {folders} are not searched: give them as inputs'
                            if folders else '')
                    raise FileNotFoundError(f'{item}: no image file in this folder (looked for '
                                            f'{", ".join(IMG_EXTENSIONS)}; found {skipped or "nothing"}){hint}')
                if skipped:
                    what = ('entry that is not an image file' if len(skipped) == 1 else
                            'entries that are not image files')
                    warnings.warn(f'{item}: skipped {len(skipped)} {what} (by extension; sub-folders are not '
                                  f'searched): {skipped}')
                out += images
            elif isinstance(item, (str, Path)):
                if not osp.isfile(item):
                    raise FileNotFoundError(f'{item}: no such image file')
                out.append(str(item))
            elif isinstance(item, np.ndarray):
                if item.ndim != 3 or item.shape[2] != 3 or item.dtype != np.uint8:
                    raise ValueError(f'image arrays must be BGR uint8 (H, W, 3), got {item.dtype} {item.shape}')
                out.append(item)
            else:
                raise TypeError(f'unsupported input {type(item).__name__}: give a path, a folder or an array')
        for item in out:
            if isinstance(item, str):
                image_size(item)  # the header: not an image, not 8-bit, too large -> named now
        return out

    @staticmethod
    def output_names(inputs: Sequence[InputType], suffix: str = '.png') -> List[str]:
        """The file name each input's picture gets in ``show_dir`` (``<image name><suffix>``,
        arrays ``<index><suffix>``).

        Raises:
            ValueError: two inputs would write the same file (listing them), e.g.
                ``x/a.jpg`` and ``y/a.png``, or one image given twice.
        """
        names = [f'{Path(inp).stem}{suffix}' if isinstance(inp, str) else f'{i:08d}{suffix}'
                 for i, inp in enumerate(inputs)]
        by_name: Dict[str, list] = {}
        for i, (inp, name) in enumerate(zip(inputs, names)):
            by_name.setdefault(name, []).append(inp if isinstance(inp, str) else f'array #{i}')
        clashes = {n: srcs for n, srcs in by_name.items() if len(srcs) > 1}
        if clashes:
            shown = '\n'.join(f'  {n} <- {", ".join(srcs)}' for n, srcs in list(clashes.items())[:10])
            raise ValueError(f'{sum(len(v) for v in clashes.values())} inputs would write the same output '
                             f'file{"s" if len(clashes) > 1 else ""} (named after the image file, without its '
                             f'folder or extension), refused before any CAM is computed:\n{shown}\n'
                             'give each image once, with distinct names (rename or copy them)')
        return names

    def __call__(self, inputs, return_datasamples: bool = False, batch_size: int = 1, **kwargs) -> dict:
        """CAMs, seeds and pictures of ``inputs`` (see the class docstring); the inputs are listed
        and checked (headers, output names with ``show_dir``) before any model run."""
        listed = self.list_inputs(inputs)
        if kwargs.get('show_dir'):
            self.output_names(listed)
        if kwargs.get('labels') is not None:
            resolve_labels(kwargs['labels'], self.class_names)
        return super().__call__(_Listed(listed), return_datasamples, batch_size, **kwargs)

    def preprocess(self, inputs: list, batch_size: int = 1, **kwargs) -> Iterable[list]:
        """Chunks of raw inputs: each image is loaded and preprocessed at its own size in ``forward``."""
        yield from self._get_chunk_data(iter(inputs), batch_size)

    @torch.no_grad()
    def forward(self, inputs: list, labels: Optional[Sequence[Union[int, str]]] = None,
                scales: Optional[Sequence[float]] = None, flip: Optional[bool] = None, score_thr: float = 0.5,
                bg_threshold: float = 0.5, protocol: Optional[str] = None) -> List[Dict]:
        """CAMs and seeds of each image (see :func:`mmdoei.apis.inference_cams`)."""
        if labels is not None:
            labels = resolve_labels(labels, self.class_names)
        preds = []
        with self._doei_switched():
            for img in inputs:
                res = inference_cams(self.model, img, labels=labels, scales=scales, flip=flip, thr=score_thr,
                                     protocol=protocol, class_names=self.class_names)
                res['seed'] = cams_to_seed(res['cams'], res['labels'], bg_threshold).astype(np.uint8)
                preds.append(res)
        return preds

    def visualize(self, inputs: list, preds: List[Dict], show: bool = False, show_dir: Optional[str] = None,
                  alpha: float = 0.5, scaling: str = 'per_class', max_cols: int = MAX_COLS) -> List[np.ndarray]:
        """One RGB picture per image, drawn by :class:`~mmdoei.cam.render.CAMRenderer`: the image, a CAM
        overlay per class (its name and score under it), the seeds, a colour bar and the seed legend;
        rows wrap after ``max_cols`` tiles. ``scaling``: ``'per_class'`` or ``'shared'``.

        Written to ``show_dir/<image name>.png`` (arrays: ``<index>.png``) when given.
        """
        renderer = CAMRenderer(alpha=alpha, scaling=scaling, max_cols=max_cols,
                               name=self.visualizer.instance_name)
        rows = []
        names = self.output_names(inputs) if show_dir else None
        for i, (inp, pred) in enumerate(zip(inputs, preds)):
            row = renderer.render(pred['image'], pred['cams'], pred['labels'], self.class_names,
                                  scores=pred.get('scores'), seed=pred['seed'])
            rows.append(row)
            if show:
                self.visualizer.show(row, win_name=f'cams {i}')
            if show_dir:
                save_png(Path(show_dir) / names[i], row)
        return rows

    def postprocess(self, preds: List[Dict], visualization: List[np.ndarray],
                    return_datasamples: bool = False) -> Dict:
        """``dict(predictions=[{labels, scores, cams, seed}], visualization=[rows])``."""
        keep = ('labels', 'scores', 'cams', 'seed')
        return dict(predictions=[{k: p[k] for k in keep} for p in preds], visualization=visualization)
