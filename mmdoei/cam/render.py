"""The one CAM renderer: overlays, labelled grids, colour bars and seed legends.

Every picture of CAMs that mmdoei draws goes through this module:
:class:`~mmdoei.apis.CAMInferencer` (``show_dir``), :func:`mmdoei.apis.show_cams`,
``tools/test.py --cam-out ... --overlay`` (:func:`mmdoei.cam.save_overlays`),
the thumbnails of ``tools/analysis_tools/compare_cams.py`` and the mechanism
view. So a CAM looks the same wherever it is shown:

- one colour map (jet, as the CAM papers and ``cv2.COLORMAP_JET``) blended on
  the image (:func:`overlay`);
- one of two scalings (:func:`scale_cams`): ``'per_class'`` (each map min-max
  normalised on its own: where each class is, whatever its confidence) or
  ``'shared'`` (one scale for all maps, each weighted by its class score when
  scores are known: a 0.50-score class shows half as hot as a 0.99 one);
- a caption strip under every tile (class name and score) in a font sized to
  the tile and drawn on its own white band, legible on any image and at any
  image size (tiles narrower than :data:`MIN_TILE_WIDTH` are enlarged first);
- rows that wrap after ``max_cols`` tiles, a colour bar naming the scaling,
  and a legend of the seed map's classes in the VOC palette.

Text is drawn with mmengine's :class:`~mmengine.visualization.Visualizer`
(matplotlib), once per picture.
"""
import math
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from mmdoei.utils.files import voc_palette
from mmdoei.utils.io import atomic_write

#: The two scalings of :func:`scale_cams`.
SCALINGS = ('per_class', 'shared')
#: Tiles narrower than this are enlarged (nearest neighbour) so their captions fit.
MIN_TILE_WIDTH = 160
#: Default number of tiles per row before a grid wraps.
MAX_COLS = 4
#: What the colour bar says for each scaling.
SCALING_TEXT = {
    'per_class': 'per-class scaling: each map min-max normalised on its own',
    'shared': 'shared scaling: one scale for every map (weighted by the class score where known)',
}


def palette_array() -> np.ndarray:
    """The VOC palette as ``(256, 3)`` uint8 RGB (0 background, ``c + 1`` class ``c``, 255 ignore)."""
    return np.asarray(voc_palette(), np.uint8).reshape(-1, 3)


def jet(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` values in [0, 1] as jet-coloured ``(H, W, 3)`` uint8 RGB."""
    return cv2.applyColorMap(np.uint8(np.round(255 * np.clip(values, 0, 1))), cv2.COLORMAP_JET)[..., ::-1]


def overlay(image_rgb: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """A CAM (values in [0, 1], the image's ``(H, W)``) in jet blended on its RGB image; uint8 out."""
    if cam.shape != image_rgb.shape[:2]:
        raise ValueError(f'CAM of size {cam.shape} does not match the image {image_rgb.shape[:2]}')
    return np.uint8((1 - alpha) * image_rgb + alpha * jet(cam))


def seed_overlay(image_rgb: np.ndarray, seed: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """A label map (0 background, ``c + 1`` class ``c``, 255 ignore) in the VOC palette on the image."""
    colours = palette_array()[np.asarray(seed, np.int64).clip(0, 255)]
    return np.where(np.asarray(seed)[..., None] > 0, (1 - alpha) * image_rgb + alpha * colours,
                    image_rgb).astype(np.uint8)


def label_image(label: np.ndarray) -> np.ndarray:
    """A label map as RGB in the VOC palette (background black, ignore cream), e.g. a ground truth."""
    return palette_array()[np.asarray(label, np.int64).clip(0, 255)]


def scale_cams(cams: np.ndarray, scaling: str = 'per_class',
               scores: Optional[Sequence[float]] = None) -> np.ndarray:
    """``(K, H, W)`` maps brought to [0, 1] for display.

    ``'per_class'``: each map min-max normalised on its own (a constant map
    becomes 0). ``'shared'``: each map times its class score when ``scores``
    are given, then all maps divided by the largest value of any of them, so
    maps compare with one another and with the colour bar.
    """
    if scaling not in SCALINGS:
        raise ValueError(f'scaling must be one of {SCALINGS}, got {scaling!r}')
    cams = np.asarray(cams, np.float32)
    if cams.size == 0:
        return cams
    if scaling == 'per_class':
        lo = cams.min(axis=(-2, -1), keepdims=True)
        rng = cams.max(axis=(-2, -1), keepdims=True) - lo
        return np.where(rng > 0, (cams - lo) / np.where(rng > 0, rng, 1), 0).astype(np.float32)
    if scores is not None:
        scores = np.asarray(scores, np.float32).reshape(-1, 1, 1)
        if scores.shape[0] != cams.shape[0]:
            raise ValueError(f'{scores.shape[0]} scores for {cams.shape[0]} maps')
        cams = cams * scores
    top = float(cams.max())
    return (cams.clip(0, None) / top).astype(np.float32) if top > 0 else np.zeros_like(cams)


def font_px(width: int) -> int:
    """Caption font height in pixels for a tile ``width`` pixels wide (12 to 28)."""
    return int(min(28, max(12, round(width / 13))))


def enlarge(tile: np.ndarray, min_width: int = MIN_TILE_WIDTH) -> np.ndarray:
    """``tile`` enlarged by a whole factor (nearest neighbour) until it is ``min_width`` wide."""
    factor = math.ceil(min_width / tile.shape[1]) if tile.shape[1] < min_width else 1
    return np.repeat(np.repeat(tile, factor, 0), factor, 1) if factor > 1 else tile


class CAMRenderer:
    """Draws labelled CAM grids on mmengine's ``Visualizer``.

    Args:
        alpha: Weight of the heat map (and seed colours) over the image.
        scaling: ``'per_class'`` or ``'shared'`` (:func:`scale_cams`).
        max_cols: Tiles per row before the grid wraps.
        name: The ``Visualizer`` instance's name (one per renderer).
    """

    def __init__(self, alpha: float = 0.5, scaling: str = 'per_class', max_cols: int = MAX_COLS,
                 name: Optional[str] = None) -> None:
        if scaling not in SCALINGS:
            raise ValueError(f'scaling must be one of {SCALINGS}, got {scaling!r}')
        if max_cols < 1:
            raise ValueError(f'max_cols must be at least 1, got {max_cols}')
        self.alpha, self.scaling, self.max_cols = alpha, scaling, max_cols
        self._name = name or f'mmdoei_cam_renderer_{id(self)}'
        self._vis = None

    @property
    def visualizer(self):
        """The mmengine ``Visualizer`` the texts are drawn with (created on first use)."""
        if self._vis is None:
            from mmengine.visualization import Visualizer
            self._vis = Visualizer.get_instance(self._name)
        return self._vis

    # ------------------------------------------------------------------ layout
    def grid(self, tiles: Sequence[np.ndarray], captions: Sequence[str], footer: Sequence[np.ndarray] = (),
             texts: Optional[List[Tuple[str, Tuple[int, int], int, str]]] = None) -> np.ndarray:
        """Tiles (RGB, any sizes) with a caption under each, wrapped after ``max_cols``,
        then the ``footer`` strips (full width); all texts drawn in one pass."""
        tiles = [enlarge(t) for t in tiles]
        cell_w = max(t.shape[1] for t in tiles)
        fpx = font_px(cell_w)
        cap_h = int(fpx * 1.6)
        cell_h = max(t.shape[0] for t in tiles) + cap_h
        cols = min(self.max_cols, len(tiles))
        rows = math.ceil(len(tiles) / cols)
        width = cols * cell_w
        footer = [f for f in footer]
        height = rows * cell_h + sum(f.shape[0] for f in footer)
        canvas = np.full((height, width, 3), 255, np.uint8)
        texts = list(texts or [])
        for i, (tile, caption) in enumerate(zip(tiles, captions)):
            r, c = divmod(i, cols)
            y, x = r * cell_h, c * cell_w
            canvas[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
            if caption:
                texts.append((fit(caption, tile.shape[1], fpx), (x + 3, y + tile.shape[0] + cap_h // 2), fpx,
                              'black'))
        y = rows * cell_h
        for f in footer:
            canvas[y:y + f.shape[0], :min(width, f.shape[1])] = f[:, :width]
            y += f.shape[0]
        return self.draw_texts(canvas, texts)

    def draw_texts(self, canvas: np.ndarray, texts: Sequence[Tuple[str, Tuple[int, int], int, str]]) -> np.ndarray:
        """``(text, (x, y) left-centre, height px, colour)`` drawn on ``canvas`` with the Visualizer."""
        if not texts:
            return canvas
        vis = self.visualizer
        vis.set_image(canvas)
        to_pt = 72.0 / vis.dpi  # matplotlib sizes fonts in points
        vis.draw_texts([t[0] for t in texts], np.array([t[1] for t in texts], np.float32),
                       font_sizes=[max(1, int(round(t[2] * to_pt))) for t in texts],
                       colors=[t[3] for t in texts], vertical_alignments='center')
        return vis.get_image()

    # ------------------------------------------------------------- footers
    def colorbar(self, width: int, fpx: int) -> Tuple[np.ndarray, list]:
        """A jet bar 0..1 with ticks and the scaling named; returns the strip and its texts (y relative)."""
        bar_h, pad = max(8, fpx), 4
        strip = np.full((bar_h + 2 * fpx + 3 * pad, width, 3), 255, np.uint8)
        x0, x1 = 8, max(9, width - 8)
        strip[pad:pad + bar_h, x0:x1] = jet(np.tile(np.linspace(0, 1, x1 - x0, dtype=np.float32), (bar_h, 1)))
        y_tick = pad + bar_h + pad + fpx // 2
        texts = [('0', (x0, y_tick), fpx, 'black'), ('0.5', ((x0 + x1) // 2 - fpx // 2, y_tick), fpx, 'black'),
                 ('1', (x1 - fpx // 2, y_tick), fpx, 'black'),
                 (fit(SCALING_TEXT[self.scaling], width - 16, fpx), (x0, y_tick + fpx + pad), fpx, 'black')]
        return strip, texts

    def legend(self, classes: Sequence[int], class_names: Sequence[str], width: int,
               fpx: int) -> Tuple[np.ndarray, list]:
        """Swatches of the seed map: background and each class (``class + 1`` in the palette)."""
        pal = palette_array()
        entries = [('background', pal[0])] + [(name_of(c, class_names), pal[c + 1]) for c in classes]
        sw, pad = fpx, 4
        item_w = max(len(n) for n, _ in entries) * fpx * 0.6 + sw + 3 * pad
        per_row = max(1, int(width // item_w))
        rows = math.ceil(len(entries) / per_row)
        strip = np.full((rows * (sw + 2 * pad) + pad, width, 3), 255, np.uint8)
        texts = []
        for i, (name, colour) in enumerate(entries):
            r, c = divmod(i, per_row)
            x, y = int(c * item_w) + 8, r * (sw + 2 * pad) + pad
            strip[y:y + sw, x:x + sw] = colour
            strip[y:y + sw, x:x + 1] = strip[y:y + sw, x + sw - 1:x + sw] = 0  # an outline for black
            strip[y:y + 1, x:x + sw] = strip[y + sw - 1:y + sw, x:x + sw] = 0
            texts.append((name, (x + sw + pad, y + sw // 2), fpx, 'black'))
        return strip, texts

    # ------------------------------------------------------------- pictures
    def render(self, image_rgb: np.ndarray, cams: np.ndarray, labels: Sequence[int],
               class_names: Sequence[str], scores: Optional[Sequence[float]] = None,
               seed: Optional[np.ndarray] = None, colorbar: bool = True) -> np.ndarray:
        """The image, one overlay per class (``name score`` under it), the seeds, a colour bar
        and the seed legend, as one RGB array.

        Args:
            image_rgb: ``(H, W, 3)`` uint8.
            cams: ``(K, H, W)`` maps of ``labels`` (0-based classes).
            class_names: Names of the foreground classes (indexed by label).
            scores: Sigmoid scores of *all* classes (indexed by label), or None.
            seed: The seed label map (0 background, ``c + 1`` class ``c``) or None.
        """
        cams = np.asarray(cams)
        labels = [int(c) for c in labels]
        if cams.ndim != 3 or cams.shape[0] != len(labels):
            raise ValueError(f'cams must be (K, H, W) with K = {len(labels)} labels, got {cams.shape}')
        label_scores = None if scores is None else [float(scores[c]) for c in labels]
        shown = scale_cams(cams, self.scaling, label_scores)
        tiles, captions = [image_rgb], ['image']
        for k, c in enumerate(labels):
            tiles.append(overlay(image_rgb, shown[k], self.alpha))
            captions.append(name_of(c, class_names) + ('' if label_scores is None else f' {label_scores[k]:.2f}'))
        if seed is not None:
            tiles.append(seed_overlay(image_rgb, seed, self.alpha))
            captions.append('seeds')
        return self._with_footers(tiles, captions, labels if seed is not None else None, class_names, colorbar)

    def _with_footers(self, tiles, captions, legend_classes, class_names, colorbar: bool) -> np.ndarray:
        big = [enlarge(t) for t in tiles]
        cols = min(self.max_cols, len(big))
        width = cols * max(t.shape[1] for t in big)
        fpx = font_px(max(t.shape[1] for t in big))
        footers, texts = [], []
        parts = []
        if colorbar:
            parts.append(self.colorbar(width, fpx))
        if legend_classes is not None:
            parts.append(self.legend(legend_classes, class_names, width, fpx))
        cell_h = max(t.shape[0] for t in big) + int(fpx * 1.6)
        y = math.ceil(len(big) / cols) * cell_h
        for strip, strip_texts in parts:
            footers.append(strip)
            texts += [(t, (x, yy + y), s, col) for t, (x, yy), s, col in strip_texts]
            y += strip.shape[0]
        return self.grid(big, captions, footers, texts)

    def render_overlay(self, image_rgb: np.ndarray, cam: np.ndarray, caption: str) -> np.ndarray:
        """One class: the image and its overlay side by side, captioned, with the colour bar."""
        shown = scale_cams(np.asarray(cam)[None], self.scaling)[0]
        return self._with_footers([image_rgb, overlay(image_rgb, shown, self.alpha)], ['image', caption], None,
                                  (), True)


def name_of(c: int, class_names: Sequence[str]) -> str:
    """The name of 0-based class ``c``, or ``class c`` when the names do not cover it."""
    return str(class_names[c]) if class_names is not None and 0 <= c < len(class_names) else f'class {c}'


def fit(text: str, width: int, fpx: int) -> str:
    """``text`` cut (with an ellipsis) to about what fits in ``width`` pixels at ``fpx``."""
    most = max(3, int(width / (0.6 * fpx)))
    return text if len(text) <= most else text[:most - 1] + '…'


def encode_png(rgb: np.ndarray) -> bytes:
    """An RGB uint8 array as PNG bytes."""
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise RuntimeError(f'could not encode an image of shape {rgb.shape} as PNG')
    return buf.tobytes()


def save_png(path: Union[str, Path], rgb: np.ndarray) -> Path:
    """Write an RGB array as a PNG atomically (temporary file, then rename)."""
    data = encode_png(rgb)
    with atomic_write(path) as f:
        f.write(data)
    return Path(path)
