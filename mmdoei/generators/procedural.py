"""A procedural image-classification set to pretrain small backbones on the CPU.

The paper fine-tunes DeiT-S pretrained on ImageNet, whose classes and looks
are not VOC's. No such weights can be downloaded on this project's machines,
and a small ViT trained from scratch on the synthetic VOC set behaves
differently from a pretrained one (``docs/method.md``, section 11). This
module makes the stand-in for ImageNet: one object per image, the class being
a (shape, texture) pair, with shapes, textures and backgrounds that the
synthetic VOC/COCO generator (the repository's ``projects/wsss_lab/synthetic.py``) never draws.
Pose, size and position are random; each class has its own hue, jittered
per image, with 100 classes spread over the hue circle so that colour alone
separates no class from its neighbours (as in ImageNet, colour is a cue, not
the answer; a ViT trained from scratch on colour-free classes did not leave
chance level within the 10-minute budget).

The files are written in mmpretrain's ``CustomDataset`` folder layout
(``ROOT/train/<class>/<n>.jpg``, ``ROOT/val/<class>/<n>.jpg``,
``ROOT/classes.txt``), so a stock mmpretrain config reads them. Every image
comes from ``np.random.default_rng((seed, split, index))``: the same seed
gives identical files.
"""
import os
from pathlib import Path
from typing import Callable, Dict, List, Tuple, Union

import numpy as np
from PIL import Image

from mmdoei.utils.io import atomic_write

PathLike = Union[str, os.PathLike]


# Shapes, in the object's frame (u, v in [-1, 1], y down). None of them is a
# part kind of the VOC/COCO generator (ellipse, ring, rect, tri, diamond, star).
def _cross(u, v):
    return ((np.abs(u) < .3) & (np.abs(v) < 1)) | ((np.abs(v) < .3) & (np.abs(u) < 1))


def _crescent(u, v):
    return (u**2 + v**2 < 1) & ((u - .45)**2 + v**2 > .6)


def _hexagon(u, v):
    a, b = np.abs(u), np.abs(v)
    return (b < .87) & (.87 * a + .5 * b < .87)


def _heart(u, v):
    x, y = 1.2 * u, -1.2 * v + .25
    return (x**2 + y**2 - 1)**3 - x**2 * y**3 < 0


def _arrow(u, v):
    shaft = (u > -1) & (u < .1) & (np.abs(v) < .25)
    head = (u >= .1) & (u < 1) & (np.abs(v) < .9 * (1 - u) / .9)
    return shaft | head


def _ell(u, v):
    return ((u > -1) & (u < -.35) & (np.abs(v) < 1)) | ((v > .35) & (v < 1) & (u > -1) & (u < 1))


def _pacman(u, v):
    ang = np.abs(np.arctan2(v, u))
    return (u**2 + v**2 < 1) & (ang > .6)


def _hourglass(u, v):
    return (np.abs(v) < 1) & (np.abs(u) < .15 + .85 * np.abs(v))


def _rose(u, v):
    r, t = np.hypot(u, v), np.arctan2(v, u)
    return r < np.abs(np.cos(2 * t))


def _spiral(u, v):
    r, t = np.hypot(u, v), np.arctan2(v, u)
    return (r < 1) & (np.mod(r * 3 * np.pi - t, 2 * np.pi) < 2.6)


SHAPES: Dict[str, Callable] = dict(cross=_cross, crescent=_crescent, hexagon=_hexagon, heart=_heart,
                                   arrow=_arrow, ell=_ell, pacman=_pacman, hourglass=_hourglass,
                                   rose=_rose, spiral=_spiral)


# Textures: a weight in [0, 1] between the object's two colours. None of them is
# a texture of the VOC/COCO generator (solid, gradient, stripes, hstripes,
# checker, spots, noise, frame, person).
def _texture(kind: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r, t = np.hypot(u, v), np.arctan2(v, u)
    if kind == 'concentric':
        return (np.sin(r * 14) > 0).astype(np.float32)
    if kind == 'rays':
        return (np.sin(t * 8) > 0).astype(np.float32)
    if kind == 'polka':
        return ((np.mod(u * 4, 1) - .5)**2 + (np.mod(v * 4, 1) - .5)**2 < .06).astype(np.float32)
    if kind == 'zigzag':
        return (np.mod(v * 4 + np.abs(np.mod(u * 4, 2) - 1), 1) < .5).astype(np.float32)
    if kind == 'crosshatch':
        return ((np.mod(u * 5 + v * 5, 1) < .25) | (np.mod(u * 5 - v * 5, 1) < .25)).astype(np.float32)
    if kind == 'wavy':
        return (np.sin(v * 12 + 2.5 * np.sin(u * 6)) > 0).astype(np.float32)
    if kind == 'plaid':
        return .5 * (np.sin(u * 10) > .3) + .5 * (np.sin(v * 10) > .3)
    if kind == 'brick':
        row = np.floor(v * 4)
        return ((np.mod(v * 4, 1) < .15) | (np.mod(u * 3 + .5 * row, 1) < .1)).astype(np.float32)
    if kind == 'split':
        return (u + v > 0).astype(np.float32)
    if kind == 'marble':
        turb = rng.normal(0, 1, u.shape).astype(np.float32)
        return .5 + .5 * np.sin(u * 6 + v * 2 + 1.5 * turb)
    raise ValueError(f'unknown texture {kind!r}')


TEXTURES: Tuple[str, ...] = ('concentric', 'rays', 'polka', 'zigzag', 'crosshatch', 'wavy', 'plaid',
                             'brick', 'split', 'marble')


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """One HSV colour (all in [0, 1]) as RGB in [0, 255]."""
    k = np.mod(np.array([5, 3, 1]) + h * 6, 6)
    return 255 * v * (1 - s * np.clip(np.minimum(k, 4 - k), 0, 1))


def procedural_classes(num_classes: int = 100) -> List[str]:
    """Class names ``'<shape>-<texture>'``: the first ``num_classes`` of the
    shape x texture grid, textures varying fastest within a shape."""
    names = sorted(f'{s}-{t}' for s in SHAPES for t in TEXTURES)  # sorted: mmpretrain orders folders so
    if not 1 <= num_classes <= len(names):
        raise ValueError(f'num_classes must be in [1, {len(names)}], got {num_classes}')
    return names[:num_classes]


def draw_procedural(cls: int, rng: np.random.Generator, size: int = 64,
                    num_classes: int = 100) -> np.ndarray:
    """One ``(size, size, 3)`` uint8 image of class ``cls``.

    The background is a two-colour linear gradient in a random direction with
    low noise (not one of the VOC generator's five scenes); the object has a
    random rotation, scale (35-85 % of the image) and position. Its two
    colours are the class's hue (jittered by +-0.04 of the circle) and its
    opposite, at random saturation and value.
    """
    shape, texture = procedural_classes(num_classes)[cls].split('-')
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    d = rng.uniform(0, 2 * np.pi)
    g = np.clip(.5 + (xx - .5) * np.cos(d) + (yy - .5) * np.sin(d), 0, 1)[..., None]
    img = c0 * (1 - g) + c1 * g + rng.normal(0, 6, (size, size, 3))
    scale = rng.uniform(.35, .85) / 2
    cx, cy = rng.uniform(scale, 1 - scale, 2)
    rot = rng.uniform(0, 2 * np.pi)
    x, y = (xx - cx) / scale, (yy - cy) / scale
    u = x * np.cos(rot) + y * np.sin(rot)
    v = -x * np.sin(rot) + y * np.cos(rot)
    mask = SHAPES[shape](u, v)
    w = _texture(texture, u, v, rng)[..., None]
    hue = (np.random.default_rng((7919, cls)).uniform() + rng.uniform(-.04, .04)) % 1
    a = _hsv_to_rgb(hue, rng.uniform(.6, 1), rng.uniform(.6, 1))
    b = _hsv_to_rgb((hue + .5) % 1, rng.uniform(.3, 1), rng.uniform(.2, .7))
    obj = a * (1 - w) + b * w
    img = np.where(mask[..., None], obj, img)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_procedural_pretrain(root: PathLike, num_classes: int = 100, num_train: int = 100,
                             num_val: int = 10, size: int = 64, seed: int = 0,
                             progress: bool = True) -> Path:
    """Write the pretraining set in mmpretrain's ``CustomDataset`` layout.

    Args:
        root: Output folder (``train/``, ``val/`` and ``classes.txt`` inside).
        num_classes: Number of (shape, texture) classes, at most 100.
        num_train, num_val: Images per class in each split.
        size: Image side in pixels.
        seed: The set's seed.
        progress: Print a line per 10 classes.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    root = Path(root)
    names = procedural_classes(num_classes)
    for split_id, (split, n) in enumerate((('train', num_train), ('val', num_val))):
        for c, name in enumerate(names):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rng = np.random.default_rng((seed, split_id, c, i))
                path = folder / f'{i:05d}.jpg'
                if path.exists():
                    continue
                with atomic_write(path) as f:
                    Image.fromarray(draw_procedural(c, rng, size, num_classes)).save(f, 'JPEG', quality=90)
            if progress and (c + 1) % 10 == 0:
                print(f'[pretrain data] {split}: {c + 1}/{num_classes} classes', flush=True)
    with atomic_write(root / 'classes.txt', 'w') as f:
        f.write('\n'.join(names) + '\n')
    return root
