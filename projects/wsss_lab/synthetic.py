"""Small synthetic datasets in the exact on-disk layouts of PASCAL VOC 2012 and
MS COCO 2014, for tests and CPU-scale experiments.

The real data cannot be fetched on this project's machines, so every stage is
exercised on these folders instead; a config then changes only ``data_root`` to
run on the real data. The images are built to show the two problems DOEI
targets:

* co-occurrence: classes appear mostly on one kind of background (boats on
  water, aeroplanes on sky, animals on grass, furniture indoors) and with each
  other (a person on or next to a bicycle, horse or motorbike; chairs with
  tables), so a classifier can score a class from its context alone and its
  CAM spreads onto that context (over-activation, FP);
* under-activation: every class has several parts (wheels, legs, heads) of
  which one is the most telling, so CAMs tend to cover only that part (FN);
  some classes are thin (bicycle rings), and VOC's 255 boundary band is drawn.

``make_synthetic_voc(style='heldout')`` draws a second, held-out VOC-layout
set for reporting what was chosen on the first (the demo's): the same 20
classes with the same part layouts (what makes a "bicycle" one), but every
other choice drawn anew (:data:`HELDOUT_CHANGES` lists them): other colours
and textures per class, five other backgrounds, another class-to-background
assignment, other co-occurring pairs, weaker context and more distractors,
objects of other sizes, and its own seed stream.

Everything is drawn with numpy from ``np.random.default_rng((seed, index))``,
one generator per image, so the same seed gives byte-identical files, and an
image does not change when more images are asked for.
"""
import io
import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image

from mmdoei.datasets.categories import COCO_CATEGORIES, VOC_CLASSES, voc_palette
from mmdoei.utils.io import atomic_write

PathLike = Union[str, os.PathLike]
JPEG_QUALITY = 90
BACKGROUNDS = ('sky', 'water', 'grass', 'road', 'indoor')

# A class's look: parts (kind, cx, cy, rx, ry) in the object's frame, where the
# bounding box spans [-1, 1] on both axes (y points down), a base colour, a
# texture and the box's width/height ratio.
Part = Tuple[str, float, float, float, float]
_VOC_STYLES: Dict[str, dict] = {
    'aeroplane':
    dict(
        parts=[('rect', 0, 0, 1, .16), ('rect', .05, 0, .22, .85), ('rect', -.85, -.35, .1, .35)],
        colour=(205, 205, 215),
        texture='gradient',
        aspect=1.6),
    'bicycle':
    dict(
        parts=[('ring', -.55, .35, .42, .6), ('ring', .55, .35, .42, .6), ('rect', 0, -.05, .5, .09),
               ('rect', -.1, -.35, .07, .35), ('rect', .35, -.6, .2, .08)],
        colour=(30, 70, 210),
        texture='solid',
        aspect=1.6),
    'bird':
    dict(
        parts=[('ellipse', 0, .15, .6, .35), ('ellipse', .55, -.3, .28, .28), ('tri', -.15, -.45, .45, .5)],
        colour=(235, 200, 40),
        texture='spots',
        aspect=1.2),
    'boat':
    dict(
        parts=[('rect', 0, .55, .8, .25), ('tri', 0, -.3, .45, .55), ('rect', 0, .1, .04, .3)],
        colour=(210, 40, 40),
        texture='hstripes',
        aspect=1.4),
    'bottle':
    dict(
        parts=[('rect', 0, .25, .5, .75), ('rect', 0, -.75, .2, .25)],
        colour=(30, 140, 60),
        texture='gradient',
        aspect=.4),
    'bus':
    dict(
        parts=[('rect', 0, -.05, 1, .75), ('ellipse', -.6, .85, .18, .15), ('ellipse', .6, .85, .18, .15)],
        colour=(240, 160, 20),
        texture='checker',
        aspect=1.8),
    'car':
    dict(
        parts=[('rect', 0, .25, 1, .4), ('rect', -.1, -.4, .55, .3), ('ellipse', -.6, .75, .2, .25),
               ('ellipse', .6, .75, .2, .25)],
        colour=(200, 20, 30),
        texture='solid',
        aspect=1.7),
    'cat':
    dict(
        parts=[('ellipse', -.1, .25, .7, .45), ('ellipse', .65, -.35, .3, .35), ('tri', .5, -.8, .12, .2),
               ('tri', .82, -.8, .12, .2)],
        colour=(230, 130, 40),
        texture='stripes',
        aspect=1.3),
    'chair':
    dict(
        parts=[('rect', -.7, -.35, .15, .65), ('rect', 0, .1, .85, .15), ('rect', -.7, .6, .14, .4),
               ('rect', .7, .6, .14, .4)],
        colour=(130, 80, 40),
        texture='stripes',
        aspect=.9),
    'cow':
    dict(
        parts=[('ellipse', 0, .05, .8, .45), ('ellipse', .8, -.3, .22, .25), ('rect', -.5, .7, .1, .3),
               ('rect', .5, .7, .1, .3)],
        colour=(240, 240, 240),
        texture='spots',
        aspect=1.5),
    'diningtable':
    dict(
        parts=[('rect', 0, -.6, 1, .2), ('rect', -.8, .2, .1, .7), ('rect', .8, .2, .1, .7)],
        colour=(165, 110, 60),
        texture='stripes',
        aspect=1.6),
    'dog':
    dict(
        parts=[('ellipse', -.1, .2, .7, .4), ('ellipse', .65, -.3, .3, .3), ('ellipse', .45, -.2, .1, .3),
               ('rect', -.55, .75, .1, .25), ('rect', .35, .75, .1, .25)],
        colour=(125, 85, 50),
        texture='noise',
        aspect=1.3),
    'horse':
    dict(
        parts=[('ellipse', 0, -.05, .7, .35), ('rect', .7, -.5, .15, .4), ('ellipse', .85, -.8, .2, .15),
               ('rect', -.55, .6, .08, .4), ('rect', -.35, .6, .08, .4), ('rect', .35, .6, .08, .4),
               ('rect', .55, .6, .08, .4)],
        colour=(95, 50, 20),
        texture='solid',
        aspect=1.2),
    'motorbike':
    dict(
        parts=[('ring', -.6, .45, .35, .5), ('ring', .6, .45, .35, .5), ('ellipse', 0, -.05, .6, .3)],
        colour=(130, 30, 160),
        texture='gradient',
        aspect=1.5),
    'person':
    dict(
        parts=[('ellipse', 0, -.78, .22, .2), ('rect', 0, -.1, .35, .45), ('rect', -.18, .68, .12, .32),
               ('rect', .18, .68, .12, .32)],
        colour=(60, 90, 200),
        texture='person',
        aspect=.45),
    'pottedplant':
    dict(
        parts=[('rect', 0, .6, .4, .35), ('ellipse', 0, -.25, .8, .6)],
        colour=(40, 160, 40),
        texture='spots',
        aspect=.8),
    'sheep':
    dict(
        parts=[('ellipse', 0, .05, .8, .5), ('ellipse', .8, -.2, .2, .22), ('rect', -.5, .75, .08, .25),
               ('rect', .5, .75, .08, .25)],
        colour=(235, 235, 215),
        texture='noise',
        aspect=1.4),
    'sofa':
    dict(
        parts=[('rect', 0, .35, 1, .35), ('rect', -.85, -.05, .15, .6), ('rect', .85, -.05, .15, .6),
               ('rect', 0, -.4, .85, .3)],
        colour=(150, 30, 60),
        texture='checker',
        aspect=1.8),
    'train':
    dict(
        parts=[('rect', 0, 0, 1, .7), ('ellipse', .95, .1, .1, .5)],
        colour=(60, 60, 75),
        texture='hstripes',
        aspect=2.2),
    'tvmonitor':
    dict(
        parts=[('rect', 0, -.1, 1, .8), ('rect', 0, .85, .2, .15)],
        colour=(100, 200, 250),
        texture='frame',
        aspect=1.3),
}
# Background each class mostly appears on (the rest of the time: any).
_VOC_BACKGROUND = {
    'aeroplane': 'sky',
    'bird': 'sky',
    'boat': 'water',
    'bicycle': 'road',
    'bus': 'road',
    'car': 'road',
    'motorbike': 'road',
    'train': 'road',
    'person': 'road',
    'cow': 'grass',
    'horse': 'grass',
    'sheep': 'grass',
    'dog': 'grass',
    'bottle': 'indoor',
    'cat': 'indoor',
    'chair': 'indoor',
    'diningtable': 'indoor',
    'pottedplant': 'indoor',
    'sofa': 'indoor',
    'tvmonitor': 'indoor'
}
# Companions: (class, probability) drawn in order, at most one per image.
_VOC_COMPANIONS = {
    'bicycle': [('person', .7)],
    'horse': [('person', .6)],
    'motorbike': [('person', .7)],
    'person': [('bicycle', .2), ('horse', .2), ('motorbike', .2)],
    'chair': [('diningtable', .5)],
    'diningtable': [('chair', .5), ('bottle', .4)],
    'sofa': [('tvmonitor', .3), ('cat', .3)],
    'tvmonitor': [('sofa', .4)],
    'boat': [('person', .3)],
    'sheep': [('dog', .3)],
    'cow': [('person', .2)]
}
P_CONTEXT_BACKGROUND = .85  # chance the primary class gets its usual background
P_DISTRACTOR = .15  # chance of one more, unrelated object


def _part_mask(kind: str, u: np.ndarray, v: np.ndarray, cx: float, cy: float, rx: float,
               ry: float) -> np.ndarray:
    du, dv = (u - cx) / rx, (v - cy) / ry
    if kind == 'ellipse':
        return du**2 + dv**2 <= 1
    if kind == 'ring':
        r2 = du**2 + dv**2
        return (r2 <= 1) & (r2 >= .3)
    if kind == 'rect':
        return (np.abs(du) <= 1) & (np.abs(dv) <= 1)
    if kind == 'tri':  # apex up
        t = (dv + 1) / 2
        return (t >= 0) & (t <= 1) & (np.abs(du) <= t)
    if kind == 'diamond':
        return np.abs(du) + np.abs(dv) <= 1
    if kind == 'star':
        r = np.hypot(du, dv)
        return r <= .55 + .45 * np.cos(5 * np.arctan2(dv, du))
    raise ValueError(f'unknown part kind {kind!r}')


def _texture(kind: str, colour: np.ndarray, u: np.ndarray, v: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """An (H, W, 3) float image of the object's texture in its frame (u, v)."""
    base = np.broadcast_to(colour, u.shape + (3, )).astype(np.float32)
    if kind == 'solid':
        return base.copy()
    if kind == 'gradient':
        return base * (0.75 + 0.25 * (1 - v[..., None]) / 2)
    if kind == 'stripes':
        return base * np.where(np.sin(u * 9 + v * 3)[..., None] > 0, 1.0, 0.55)
    if kind == 'hstripes':
        return np.where((np.sin(v * 10)[..., None] > 0.3), 245.0, base)
    if kind == 'checker':
        cell = (np.floor(u * 4) + np.floor(v * 3)) % 2
        return np.where(cell[..., None] > 0, base, 40.0)
    if kind == 'spots':
        spots = (np.sin(u * 11 + 1.3) * np.sin(v * 9 + 0.7)) > 0.45
        return np.where(spots[..., None], 25.0, base)
    if kind == 'noise':
        return base + rng.normal(0, 22, u.shape + (3, )).astype(np.float32)
    if kind == 'frame':  # dark bezel around a bright screen
        inner = (np.abs(u) < .8) & (v > -.75) & (v < .5)
        return np.where(inner[..., None], base, 20.0)
    if kind == 'person':  # skin-coloured head, coloured shirt, dark trousers
        out = base.copy()
        out[v < -.55] = (225, 175, 140)
        out[v > .35] = (45, 45, 60)
        return out
    raise ValueError(f'unknown texture {kind!r}')


def _background(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An (H, W, 3) float background of one of :data:`BACKGROUNDS` or :data:`HELDOUT_BACKGROUNDS`."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    noise = rng.normal(0, 1, (h, w)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    if kind == 'sky':  # light to deep blue, soft clouds
        img = np.stack([120 + 80 * y, 170 + 50 * y, 235 + 0 * y], -1) * np.ones((1, w, 1), np.float32)
        cloud = np.clip(np.sin(x * 7 + phase) * np.sin(y * 5 + phase * 2), 0, 1)
        img = img + 60 * cloud[..., None]
    elif kind == 'water':  # teal with horizontal waves
        wave = np.sin(y * 60 + np.sin(x * 9 + phase) * 2)
        img = np.stack([20 + 15 * wave, 90 + 25 * wave, 140 + 30 * wave], -1)
    elif kind == 'grass':  # green with vertical blades
        blades = np.sin(x * 90 + noise * 0.8) * (0.6 + 0.4 * y)
        img = np.stack([60 + 20 * blades, 140 + 35 * blades, 40 + 10 * blades], -1)
    elif kind == 'road':  # grey asphalt with a dashed lane mark
        img = np.full((h, w, 3), 110, np.float32) + 12 * noise[..., None]
        lane = (np.abs(y - 0.75 - 0.05 * np.sin(phase)) < 0.03) & (np.sin(x * 25 + phase) > 0)
        img[lane] = (235, 225, 120)
    elif kind == 'indoor':  # beige wall over a wooden floor
        horizon = rng.uniform(0.45, 0.7)
        wall = np.broadcast_to(np.array([215, 200, 170], np.float32), (h, w, 3))
        grain = np.sin(y * 80 + x * 4 + phase)[..., None] * np.ones((1, w, 1), np.float32)
        floor = np.array([140, 95, 55], np.float32) + 18 * grain
        img = np.where((y > horizon)[..., None] * np.ones((1, w, 1), bool), floor, wall)
    # The held-out set's backgrounds.
    elif kind == 'dusk':  # orange horizon under violet, a few bright stars
        img = np.stack([240 - 150 * (1 - y), 140 - 90 * (1 - y), 90 + 60 * (1 - y)], -1) * np.ones((1, w, 1))
        img = img + 120 * (noise > 2.6)[..., None]
    elif kind == 'snow':  # white field with blue shadow bands
        shade = np.clip(np.sin(x * 5 + y * 3 + phase), 0, 1)
        img = np.stack([235 - 40 * shade, 240 - 25 * shade, 250 + 0 * shade], -1)
    elif kind == 'sand':  # yellow dunes
        dune = np.sin(y * 14 + 1.5 * np.sin(x * 6 + phase))
        img = np.stack([205 + 25 * dune, 170 + 20 * dune, 105 + 10 * dune], -1)
    elif kind == 'brick':  # red brick wall with mortar lines
        row = np.floor(y * 8)
        mortar = (np.mod(y * 8, 1) < .12) | (np.mod(x * 5 + .5 * row, 1) < .06)
        img = np.where(mortar[..., None], np.float32(200), np.array([150, 60, 45], np.float32)) * np.ones((h, w, 1))
        img = img + 10 * noise[..., None]
    elif kind == 'tiles':  # blue-grey office floor tiles
        grid = (np.mod(x * 6 + phase, 1) < .06) | (np.mod(y * 6, 1) < .06)
        img = np.where(grid[..., None], np.float32(60), np.array([150, 165, 185], np.float32)) * np.ones((h, w, 1))
    else:
        raise ValueError(f'unknown background {kind!r}')
    return np.broadcast_to(img, (h, w, 3)).astype(np.float32) + 4 * noise[..., None]


def _shift_or(mask: np.ndarray, r: int) -> np.ndarray:
    """Binary dilation by a (2r+1)^2 square, with numpy shifts only."""
    out = mask.copy()
    h, w = mask.shape
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
            xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
            out[yd, xd] |= mask[ys, xs]
    return out


def _boundary_band(mask: np.ndarray, r: int) -> np.ndarray:
    """Pixels within ``r`` of the region's edge, inside or out (VOC's 255 band)."""
    return _shift_or(mask, r) & _shift_or(~mask, r)


class _Scene:
    """Draws one image: background, objects, label map; knows nothing of files."""

    def __init__(self, styles: Sequence[dict], backgrounds: Sequence[str], companions: Dict[int, list],
                 background_kinds: Sequence[str] = BACKGROUNDS, p_context: float = P_CONTEXT_BACKGROUND,
                 p_distractor: float = P_DISTRACTOR, size_range: Tuple[float, float] = (.38, .62)):
        self.styles = styles
        self.backgrounds = backgrounds
        self.companions = companions
        self.background_kinds = tuple(background_kinds)
        self.p_context = p_context
        self.p_distractor = p_distractor
        self.size_range = size_range

    def subset(self, num_classes: int) -> '_Scene':
        """The same scene over its first ``num_classes`` classes."""
        keep = set(range(num_classes))
        return _Scene(self.styles[:num_classes], self.backgrounds[:num_classes],
                      {k: [(c, p) for c, p in v if c in keep] for k, v in self.companions.items() if k in keep},
                      self.background_kinds, self.p_context, self.p_distractor, self.size_range)

    def choose(self, rng: np.random.Generator) -> Tuple[str, List[int]]:
        """Pick the background and the object classes (first one primary)."""
        n = len(self.styles)
        primary = int(rng.integers(n))
        classes = [primary]
        for cls, p in self.companions.get(primary, []):
            if rng.random() < p:
                classes.append(cls)
                break
        if rng.random() < self.p_distractor:
            classes.append(int(rng.integers(n)))
        if rng.random() < self.p_context:
            bg = self.backgrounds[primary]
        else:
            bg = self.background_kinds[int(rng.integers(len(self.background_kinds)))]
        return bg, classes

    def draw(self, rng: np.random.Generator, h: int, w: int) -> Tuple[np.ndarray, np.ndarray, dict]:
        """Return ``(rgb uint8 (H, W, 3), instance map int (H, W), meta)``.

        The instance map holds ``-1`` for background and the object's position
        in ``meta['objects']`` elsewhere (later objects occlude earlier ones).
        """
        bg, classes = self.choose(rng)
        img = _background(bg, h, w, rng)
        inst = np.full((h, w), -1, np.int64)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        boxes = []  # (cy, cx, oh, ow) per object, primary first
        for i, cls in enumerate(classes):
            style = self.styles[cls]
            oh = rng.uniform(*self.size_range) * min(h, w) * (1.0 if style['aspect'] >= 1 else 1.25)
            oh, ow = min(oh, .95 * h), min(oh * style['aspect'], .95 * w)
            if i == 1:
                # The companion overlaps or touches the primary (a rider on the
                # horse, a bottle on the table): spatial co-occurrence.
                pcy, pcx, poh, pow_ = boxes[0]
                cy = pcy + rng.uniform(-.45, .15) * poh
                cx = pcx + rng.uniform(-.5, .5) * pow_
            else:
                cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            boxes.append((float(np.clip(cy, oh / 2, h - oh / 2)), float(np.clip(cx, ow / 2,
                                                                                w - ow / 2)), oh, ow))
        # Larger objects first, so a smaller one in front stays visible.
        objects = []
        for i in sorted(range(len(classes)), key=lambda j: -boxes[j][2] * boxes[j][3]):
            style = self.styles[classes[i]]
            cy, cx, oh, ow = boxes[i]
            flip = -1.0 if rng.random() < .5 else 1.0
            u, v = flip * (xx - cx) / (ow / 2), (yy - cy) / (oh / 2)
            mask = np.zeros((h, w), bool)
            for part in style['parts']:
                mask |= _part_mask(part[0], u, v, *part[1:])
            colour = np.clip(np.array(style['colour'], np.float32) + rng.normal(0, 12, 3), 0, 255)
            tex = _texture(style['texture'], colour, u, v, rng)
            img[mask] = tex[mask]
            inst[mask] = len(objects)
            objects.append(dict(class_index=int(classes[i]), primary=bool(i == 0)))
        rgb = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
        return rgb, inst, dict(background=bg, objects=objects)


def _voc_scene() -> _Scene:
    styles = [_VOC_STYLES[c] for c in VOC_CLASSES]
    idx = {c: i for i, c in enumerate(VOC_CLASSES)}
    backgrounds = [_VOC_BACKGROUND[c] for c in VOC_CLASSES]
    companions = {idx[k]: [(idx[c], p) for c, p in v] for k, v in _VOC_COMPANIONS.items()}
    return _Scene(styles, backgrounds, companions)


HELDOUT_BACKGROUNDS = ('dusk', 'snow', 'sand', 'brick', 'tiles')
# The held-out set's context: another background per class ...
_HELDOUT_BACKGROUND = {
    'aeroplane': 'dusk', 'bird': 'snow', 'boat': 'snow', 'bicycle': 'brick', 'bus': 'brick', 'car': 'tiles',
    'motorbike': 'sand', 'train': 'sand', 'person': 'brick', 'cow': 'sand', 'horse': 'snow', 'sheep': 'dusk',
    'dog': 'tiles', 'bottle': 'dusk', 'cat': 'brick', 'chair': 'tiles', 'diningtable': 'sand',
    'pottedplant': 'snow', 'sofa': 'tiles', 'tvmonitor': 'dusk'
}
# ... and other co-occurring pairs (none of the demo set's, except that a person goes with something).
_HELDOUT_COMPANIONS = {
    'person': [('dog', .3), ('bottle', .3)],
    'dog': [('person', .6)],
    'bottle': [('person', .4)],
    'bird': [('boat', .4)],
    'boat': [('bird', .5)],
    'car': [('bus', .4)],
    'bus': [('car', .5)],
    'pottedplant': [('tvmonitor', .5)],
    'tvmonitor': [('pottedplant', .4)],
    'sheep': [('cow', .5)],
    'cow': [('sheep', .5)],
    'train': [('aeroplane', .3)],
    'chair': [('sofa', .4)],
    'cat': [('chair', .3)],
}
# Textures the held-out set gives its classes (the demo's, reassigned: no class
# but person, whose texture is its clothing, keeps its demo texture).
_HELDOUT_TEXTURES = ('stripes', 'checker', 'spots', 'noise', 'gradient', 'hstripes', 'solid')
#: How the held-out set differs from the demo's (docs/user_guides/doei_effect.md, results/doei_effect).
HELDOUT_CHANGES = (
    'colours: each class RGB colour is replaced by its complement (255 - c)',
    'textures: each class but person gets another texture than in the demo set',
    f'backgrounds: {", ".join(HELDOUT_BACKGROUNDS)} instead of {", ".join(BACKGROUNDS)}',
    'context: another background per class (e.g. boats on snow, cows on sand), 70 % instead of 85 %',
    'co-occurrence: other pairs (person-dog, bird-boat, car-bus, sheep-cow, plant-monitor, chair-sofa, ...)',
    'distractors: 25 % instead of 15 %; object height 30-55 % of the image instead of 38-62 %',
    'seeds: images come from default_rng((seed, 1, index)), a stream the demo set never uses',
)


def _heldout_scene() -> _Scene:
    """The held-out VOC scene: the demo's part layouts, everything else redrawn."""
    idx = {c: i for i, c in enumerate(VOC_CLASSES)}
    styles = []
    for k, c in enumerate(VOC_CLASSES):
        demo = _VOC_STYLES[c]
        options = [t for t in _HELDOUT_TEXTURES if t != demo['texture']]
        texture = 'person' if c == 'person' else options[k % len(options)]
        colour = tuple(255 - int(v) for v in demo['colour'])
        styles.append(dict(parts=demo['parts'], colour=colour, texture=texture, aspect=demo['aspect']))
    backgrounds = [_HELDOUT_BACKGROUND[c] for c in VOC_CLASSES]
    companions = {idx[k]: [(idx[c], p) for c, p in v] for k, v in _HELDOUT_COMPANIONS.items()}
    return _Scene(styles, backgrounds, companions, background_kinds=HELDOUT_BACKGROUNDS, p_context=.7,
                  p_distractor=.25, size_range=(.30, .55))


SCENES = {'demo': _voc_scene, 'heldout': _heldout_scene}


def cooccurring_classes(style: str = 'demo') -> List[str]:
    """The VOC classes a VOC-layout style draws with companions (either side
    of a designed pair): where the paper says DOEI's FP gains should show."""
    table = {'demo': _VOC_COMPANIONS, 'heldout': _HELDOUT_COMPANIONS}[style]
    names = set(table) | {c for pairs in table.values() for c, _ in pairs}
    return [c for c in VOC_CLASSES if c in names]


_COCO_BACKGROUND = {
    'person': 'road',
    'vehicle': 'road',
    'outdoor': 'road',
    'animal': 'grass',
    'accessory': 'road',
    'sports': 'grass',
    'kitchen': 'indoor',
    'food': 'indoor',
    'furniture': 'indoor',
    'electronic': 'indoor',
    'appliance': 'indoor',
    'indoor': 'indoor'
}
_COCO_TO_VOC = {
    'airplane': 'aeroplane',
    'motorcycle': 'motorbike',
    'couch': 'sofa',
    'potted plant': 'pottedplant',
    'dining table': 'diningtable',
    'tv': 'tvmonitor'
}
_GENERIC_PARTS: List[List[Part]] = [[('ellipse', 0, 0, 1, 1)], [('rect', 0, 0, 1, 1)], [('tri', 0, 0, 1, 1)],
                                    [('diamond', 0, 0, 1, 1)], [('star', 0, 0, 1, 1)], [('ring', 0, 0, 1, 1)],
                                    [('rect', 0, .3, 1, .7), ('ellipse', 0, -.6, .5, .4)],
                                    [('ellipse', -.4, 0, .6, .9), ('ellipse', .4, 0, .6, .9)],
                                    [('rect', 0, 0, .25, 1), ('rect', 0, -.7, 1, .3)],
                                    [('tri', 0, -.4, 1, .6), ('rect', 0, .6, .3, .4)]]
_TEXTURES = ('solid', 'stripes', 'spots', 'checker', 'gradient', 'noise', 'hstripes')


def _coco_scene() -> _Scene:
    """COCO's 80 classes: VOC's looks where the class is a VOC class, else a
    fixed procedural look (parts, hue, texture) derived from the class index."""
    voc_index = {c: i for i, c in enumerate(VOC_CLASSES)}
    styles, backgrounds = [], []
    for k, (_, name, supercat) in enumerate(COCO_CATEGORIES):
        voc_name = _COCO_TO_VOC.get(name, name)
        if voc_name in voc_index:
            styles.append(_VOC_STYLES[voc_name])
            backgrounds.append(_VOC_BACKGROUND[voc_name])
            continue
        hue = (k * 0.618034) % 1.0
        colour = tuple(int(255 * (0.5 + 0.45 * np.cos(2 * np.pi * (hue + off)))) for off in (0, 1 / 3, 2 / 3))
        styles.append(
            dict(
                parts=_GENERIC_PARTS[k % len(_GENERIC_PARTS)],
                colour=colour,
                texture=_TEXTURES[(k // len(_GENERIC_PARTS)) % len(_TEXTURES)],
                aspect=(0.6, 1.0, 1.5)[k % 3]))
        backgrounds.append({'kite': 'sky', 'surfboard': 'water'}.get(name, _COCO_BACKGROUND[supercat]))
    # Companions: things people carry go with a person; food and cutlery with
    # a dining table; any other class with a random member of its supercategory.
    by_super: Dict[str, List[int]] = {}
    for k, (_, _, s) in enumerate(COCO_CATEGORIES):
        by_super.setdefault(s, []).append(k)
    table = [n for _, n, _ in COCO_CATEGORIES].index('dining table')
    companions = {}
    for k, (_, name, s) in enumerate(COCO_CATEGORIES):
        if s in ('accessory', 'sports') or name in ('bicycle', 'motorcycle', 'horse', 'skateboard'):
            companions[k] = [(0, .7)]
        elif s in ('kitchen', 'food'):
            companions[k] = [(table, .5)]
        else:
            mates = [m for m in by_super[s] if m != k]
            if mates:
                companions[k] = [(mates[k % len(mates)], .3)]
    return _Scene(styles, backgrounds, companions)


def _jpeg_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    # Fixed quality and subsampling, no optimisation: byte-identical reruns.
    Image.fromarray(rgb, 'RGB').save(buf, format='JPEG', quality=JPEG_QUALITY, subsampling=2, optimize=False)
    return buf.getvalue()


def _png_bytes(label: np.ndarray, palette: Optional[List[int]]) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(label.astype(np.uint8), 'L')
    if palette is not None:
        img = img.convert('P')
        img.putpalette(palette)
    img.save(buf, format='PNG')
    return buf.getvalue()


def _voc_xml(img_id: str, h: int, w: int, objects: Sequence[Tuple[str, Tuple[int, int, int, int]]]) -> str:
    """A VOC 2012 ``Annotations/{id}.xml``: one ``<object>`` per (name, 1-based
    inclusive ``(xmin, ymin, xmax, ymax)``), in VOC's element order."""
    objs = ''.join(
        f'\t<object>\n\t\t<name>{name}</name>\n\t\t<pose>Unspecified</pose>\n\t\t<truncated>0</truncated>\n'
        f'\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>{x0}</xmin>\n\t\t\t<ymin>{y0}</ymin>\n'
        f'\t\t\t<xmax>{x1}</xmax>\n\t\t\t<ymax>{y1}</ymax>\n\t\t</bndbox>\n\t</object>\n'
        for name, (x0, y0, x1, y1) in objects)
    return (f'<annotation>\n\t<folder>VOC2012</folder>\n\t<filename>{img_id}.jpg</filename>\n'
            f'\t<source>\n\t\t<database>The VOC2012 Database</database>\n\t\t<annotation>PASCAL VOC2012'
            f'</annotation>\n\t\t<image>synthetic</image>\n\t</source>\n'
            f'\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n\t\t<depth>3</depth>\n\t</size>\n'
            f'\t<segmented>1</segmented>\n{objs}</annotation>\n')


def _write(path: Path, data: Union[bytes, str]) -> None:
    with atomic_write(path, 'wb') as f:
        f.write(data.encode() if isinstance(data, str) else data)


def _check_size(img_size: Tuple[int, int]) -> Tuple[int, int]:
    h, w = (int(s) for s in img_size)
    # Below about 40 pixels thin parts (chair legs, a person's limbs) vanish
    # under the 255 boundary band and whole classes drop out of the labels.
    if h < 40 or w < 40:
        raise ValueError(f'img_size {img_size} is too small: objects need at least 40 x 40 pixels')
    return h, w


def make_synthetic_voc(root: PathLike,
                       num_train: int = 400,
                       num_val: int = 100,
                       img_size: Tuple[int, int] = (64, 64),
                       seed: int = 0,
                       num_classes: int = 20,
                       num_train_voc: Optional[int] = None,
                       border: int = 1,
                       style: str = 'demo') -> Path:
    """Write a synthetic dataset in the PASCAL VOC 2012 layout.

    Layout under ``root/VOC2012`` (``root`` plays the part of ``VOCdevkit``)::

        JPEGImages/{id}.jpg                 RGB, JPEG quality 90
        Annotations/{id}.xml                VOC's XML: one <object> (name, bndbox) per visible object
        SegmentationClass/{id}.png          palette PNGs, train.txt + val.txt images
        SegmentationClassAug/{id}.png       palette PNGs, every image (SBD-style)
        ImageSets/Segmentation/train.txt    VOC's train list (subset of train_aug)
        ImageSets/Segmentation/val.txt
        ImageSets/Segmentation/trainval.txt
        ImageSets/Segmentation/train_aug.txt  the 10,582-image list's counterpart
        ImageSets/Segmentation/cls_labels.txt  "id c1 c2 ..." (0-based classes)

    Masks hold 0 for background, ``c + 1`` for class ``c`` and 255 in a band
    ``2 * border`` pixels wide along every object's outline, as VOC's do. Ids
    look like VOC's (``2007_000032``). ``root/synthetic_meta.json`` records each
    image's background and objects (for tests of the designed statistics).

    Args:
        root: Output folder (created).
        num_train: Images in ``train_aug.txt``.
        num_val: Images in ``val.txt``.
        img_size: ``(height, width)``; non-square is fine, at least 24 x 24.
        seed: Same seed, byte-identical files.
        num_classes: Use the first ``num_classes`` VOC classes (at most 20).
        num_train_voc: Images of ``train_aug`` also in ``train.txt``;
            default half of ``num_train`` (VOC: 1,464 of 10,582).
        border: Half-width of the 255 band in pixels; 0 for none.
        style: ``'demo'`` (the demo's and the tests' set) or ``'heldout'``
            (the held-out set: :data:`HELDOUT_CHANGES`).

    Returns:
        ``root/VOC2012``, the ``data_root`` to give the datasets.
    """
    if not 1 <= num_classes <= len(VOC_CLASSES):
        raise ValueError(f'num_classes must be in 1..{len(VOC_CLASSES)}, got {num_classes}')
    if style not in SCENES:
        raise ValueError(f'style must be one of {sorted(SCENES)}, got {style!r}')
    if num_train < 1 or num_val < 0:
        raise ValueError(f'need num_train >= 1 and num_val >= 0, got {num_train}, {num_val}')
    h, w = _check_size(img_size)
    num_train_voc = num_train // 2 if num_train_voc is None else num_train_voc
    if not 0 <= num_train_voc <= num_train:
        raise ValueError(f'num_train_voc must be in 0..num_train, got {num_train_voc}')
    root = Path(root)
    data_root = root / 'VOC2012'
    scene = SCENES[style]()
    if num_classes < len(VOC_CLASSES):
        scene = scene.subset(num_classes)

    total = num_train + num_val
    # the demo set keeps its historic streams; the held-out one draws from its own
    stream = () if style == 'demo' else (1, )
    rng = np.random.default_rng((seed, *stream) if stream else seed)
    years = np.sort(rng.integers(2007, 2012, total))
    ids, counter = [], {}
    for year in years:
        counter[year] = counter.get(year, 0) + int(rng.integers(1, 60))
        ids.append(f'{year}_{counter[year]:06d}')
    perm = rng.permutation(total)
    val = sorted(ids[i] for i in perm[:num_val])
    train_aug = sorted(ids[i] for i in perm[num_val:])
    train = sorted(rng.choice(train_aug, num_train_voc, replace=False).tolist()) if num_train_voc else []
    in_voc = set(train) | set(val)

    palette = voc_palette()
    labels_lines, meta = [], []
    for index, img_id in enumerate(ids):
        img_rng = np.random.default_rng((seed, *stream, index))
        rgb, inst, info = scene.draw(img_rng, h, w)
        label = np.zeros((h, w), np.uint8)
        band = np.zeros((h, w), bool)
        xml_objects = []
        for k, obj in enumerate(info['objects']):
            m = inst == k
            if m.any():  # an object hidden behind others is in neither the mask nor the XML
                ys, xs = np.nonzero(m)
                xml_objects.append((obj['class_index'],
                                    (int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1)))
            label[m] = obj['class_index'] + 1
            if border > 0 and m.any():
                band |= _boundary_band(m, border)
        label[band] = 255
        classes = sorted(int(c) - 1 for c in np.unique(label) if c not in (0, 255))
        _write(data_root / 'JPEGImages' / f'{img_id}.jpg', _jpeg_bytes(rgb))
        # The XML lists the mask's classes (none lost in the 255 band), so the two label sources agree here.
        _write(data_root / 'Annotations' / f'{img_id}.xml',
               _voc_xml(img_id, h, w, [(VOC_CLASSES[c], box) for c, box in xml_objects if c in classes]))
        png = _png_bytes(label, palette)
        _write(data_root / 'SegmentationClassAug' / f'{img_id}.png', png)
        if img_id in in_voc:
            _write(data_root / 'SegmentationClass' / f'{img_id}.png', png)
        labels_lines.append(' '.join([img_id] + [str(c) for c in classes]))
        meta.append(
            dict(
                id=img_id,
                background=info['background'],
                classes=classes,
                objects=[VOC_CLASSES[o['class_index']] for o in info['objects']]))

    sets = data_root / 'ImageSets' / 'Segmentation'
    for name, lst in (('train', train), ('val', val), ('trainval', sorted(train + val)), ('train_aug',
                                                                                          train_aug)):
        _write(sets / f'{name}.txt', ''.join(f'{i}\n' for i in lst))
    _write(sets / 'cls_labels.txt', '\n'.join(labels_lines) + '\n')
    _write(
        root / 'synthetic_meta.json',
        json.dumps(
            dict(
                kind='voc', style=style, seed=seed, img_size=[h, w], classes=list(VOC_CLASSES[:num_classes]),
                images=meta),
            indent=1))
    return data_root


def _rle_uncompressed(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: column-major run lengths starting with 0s."""
    flat = mask.astype(np.uint8).flatten(order='F')
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return dict(size=[int(mask.shape[0]), int(mask.shape[1])], counts=[int(c) for c in counts])


def make_synthetic_coco(root: PathLike,
                        num_train: int = 400,
                        num_val: int = 100,
                        img_size: Tuple[int, int] = (64, 64),
                        seed: int = 0) -> Path:
    """Write a synthetic dataset in the MS COCO 2014 layout used by WSSS work.

    Layout under ``root``::

        train2014/COCO_train2014_{id:012d}.jpg
        val2014/COCO_val2014_{id:012d}.jpg
        annotations/instances_train2014.json   real schema: info, licenses,
        annotations/instances_val2014.json     images, annotations, categories
        SegmentationClass/train2014/{stem}.png  grayscale, 0 background,
        SegmentationClass/val2014/{stem}.png    1..80 contiguous class, 255 ignore
        train_id.txt, val_id.txt               image stems (MCTformer's lists)

    Annotations use COCO's 80 category ids (1..90 with gaps), ``bbox`` as
    ``[x, y, w, h]``, ``area`` in pixels, ``iscrowd`` 0 and the visible mask as
    uncompressed RLE. The mask PNGs carry the same objects as the json, with
    value = index of the category id among the sorted ids + 1, the convention
    of the COCO pseudo-mask / GT folders of PSA-style pipelines.

    Returns:
        ``root``, the ``data_root`` to give :class:`COCOWSSSDataset`.
    """
    if num_train < 1 or num_val < 0:
        raise ValueError(f'need num_train >= 1 and num_val >= 0, got {num_train}, {num_val}')
    h, w = _check_size(img_size)
    root = Path(root)
    scene = _coco_scene()
    rng = np.random.default_rng(seed)
    image_ids = np.sort(rng.choice(581929, num_train + num_val, replace=False) + 9)
    perm = rng.permutation(num_train + num_val)
    splits = {
        'train2014': sorted(image_ids[perm[num_val:]].tolist()),
        'val2014': sorted(image_ids[perm[:num_val]].tolist())
    }
    categories = [dict(supercategory=s, id=i, name=n) for i, n, s in COCO_CATEGORIES]
    index_of = {int(i): k for k, i in enumerate(image_ids.tolist())}
    ann_id = 1
    for split, ids in splits.items():
        images, annotations, stems = [], [], []
        for image_id in ids:
            img_rng = np.random.default_rng((seed, index_of[image_id]))
            rgb, inst, info = scene.draw(img_rng, h, w)
            stem = f'COCO_{split}_{image_id:012d}'
            label = np.zeros((h, w), np.uint8)
            for k, obj in enumerate(info['objects']):
                m = inst == k
                if not m.any():
                    continue  # fully hidden: not annotated, as in COCO
                label[m] = obj['class_index'] + 1
                ys, xs = np.nonzero(m)
                x0, y0 = int(xs.min()), int(ys.min())
                annotations.append(
                    dict(
                        id=ann_id,
                        image_id=int(image_id),
                        category_id=COCO_CATEGORIES[obj['class_index']][0],
                        segmentation=_rle_uncompressed(m),
                        area=float(m.sum()),
                        bbox=[float(x0),
                              float(y0),
                              float(xs.max() - x0 + 1),
                              float(ys.max() - y0 + 1)],
                        iscrowd=0))
                ann_id += 1
            images.append(
                dict(
                    license=1,
                    file_name=f'{stem}.jpg',
                    height=h,
                    width=w,
                    id=int(image_id),
                    date_captured='2013-11-14 16:28:13',
                    coco_url='',
                    flickr_url=''))
            stems.append(stem)
            _write(root / split / f'{stem}.jpg', _jpeg_bytes(rgb))
            _write(root / 'SegmentationClass' / split / f'{stem}.png', _png_bytes(label, None))
        doc = dict(
            info=dict(
                description='mmdoei synthetic COCO 2014',
                version='1.0',
                year=2014,
                contributor='mmdoei',
                date_created='2014/08/01'),
            licenses=[dict(id=1, name='synthetic', url='')],
            images=images,
            annotations=annotations,
            categories=categories)
        _write(root / 'annotations' / f'instances_{split}.json', json.dumps(doc))
        _write(root / f'{split[:-4]}_id.txt', ''.join(f'{s}\n' for s in stems))
    return root
