"""The mechanism view: what DOEI did, block by block, for one image and one class.

Read from the DOEI attach handle's own recording (``DOEIHandle.recording``,
filled with :func:`mmdoei.doei.functional.doei_selection`, the steps of
:func:`~mmdoei.doei.functional.doei_update`), so there is no second
implementation of DOEI here. Per optimised block: the patch tokens PPDO
amplified (the ``k_p`` top HFA-blended scores of the class token) and
suppressed (the others), the HFA-blended scores ``P_hfa`` themselves, the class
tokens CPDO amplified and suppressed, and the block's class-to-patch attention
(the attention CAM of that block: where the class token looks after DOEI
updated the tokens of the blocks before it).
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from mmdoei.cam.render import CAMRenderer, jet, save_png
from mmdoei.doei.model import doei_handle, doei_target
from mmdoei.utils.io import atomic_write

#: Colours of the token map: amplified (green), suppressed (red).
AMPLIFIED_RGB, SUPPRESSED_RGB = (0, 200, 0), (220, 0, 0)


@torch.no_grad()
def record_mechanism(model: nn.Module, inputs: Tensor) -> List[Dict]:
    """Run ``model``'s DOEI backbone on ``inputs`` (``(1, 3, H, W)``, normalised) with the
    handle recording; returns one record per acting block (see ``DOEIHandle.recording``).

    Raises:
        ValueError: the model has no DOEI attached, or DOEI did not act (disabled, or in training mode).
    """
    handle = doei_handle(model)
    if handle is None:
        raise ValueError(f'{type(model).__name__} has no DOEI attached: build it with DOEI on '
                         '(a DOEIHook, doei=dict(...) or attach_doei) to see its mechanism')
    handle.recording = []
    try:
        doei_target(model)(inputs)
        records = handle.recording
    finally:
        handle.recording = None
    if not records:
        raise ValueError('DOEI did not act in this forward pass (disabled, or the model is in training mode '
                         'with in_train=False)')
    return records


def _grid(record: Dict, n: int) -> tuple:
    if record.get('grid'):
        return tuple(record['grid'])
    side = int(round(n ** 0.5))
    if side * side != n:
        raise ValueError(f'cannot lay {n} patch tokens on a grid: the patch embedding was not recorded')
    return side, side


def mechanism_view(records: Sequence[Dict], class_token: int, image: int = 0) -> List[Dict]:
    """Per block, for class token ``class_token`` (0 for a one-class-token model) of image ``image``:
    ``amplified``/``suppressed`` patch indices (row-major on ``grid``), ``hfa_scores`` and
    ``attention`` ``(h, w)`` maps, ``cpdo_amplified``/``cpdo_suppressed`` class-token indices
    (empty when CPDO does not act), ``k_p``, ``k_c``."""
    out = []
    for r in records:
        C = r['P_hfa'].shape[1]
        if not 0 <= class_token < C:
            raise ValueError(f'class token {class_token} out of range: the model has {C} class token(s)')
        mask = r['mask_p'][image, class_token].cpu().numpy()
        n = mask.size
        grid = _grid(r, n)
        attn = r['attn'][image, class_token, C:].float().cpu().numpy()
        cmask = r['mask_c'][image, class_token].cpu().numpy()
        out.append(dict(
            block=int(r['block']), grid=list(grid), k_p=int(r['k_p']), k_c=int(r['k_c']),
            ppdo=bool(r['ppdo']), cpdo=bool(r['cpdo']),
            amplified=np.flatnonzero(mask).tolist() if r['ppdo'] else [],
            suppressed=np.flatnonzero(~mask).tolist() if r['ppdo'] else [],
            cpdo_amplified=np.flatnonzero(cmask).tolist() if r['cpdo'] else [],
            cpdo_suppressed=np.flatnonzero(~cmask).tolist() if r['cpdo'] else [],
            hfa_scores=r['P_hfa'][image, class_token].float().cpu().numpy().reshape(grid),
            attention=attn.reshape(grid)))
    return out


def _up(grid_map: np.ndarray, hw: tuple, nearest: bool = False) -> np.ndarray:
    return cv2.resize(np.ascontiguousarray(grid_map, np.float32), (hw[1], hw[0]),
                      interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR)


def render_mechanism(view: Sequence[Dict], image_rgb: np.ndarray, class_name: str,
                     renderer: Optional[CAMRenderer] = None) -> np.ndarray:
    """The view as one picture: a row per block with the tokens (green amplified, red
    suppressed), the HFA-blended scores and the block's attention CAM, captioned."""
    renderer = renderer or CAMRenderer(max_cols=3)
    renderer.max_cols = 3
    hw = image_rgb.shape[:2]
    tiles, captions = [], []
    for v in view:
        grid = tuple(v['grid'])
        tokens = np.zeros(grid[0] * grid[1], np.uint8)
        tokens[v['amplified']] = 1
        tokens[v['suppressed']] = 2
        colours = np.array([(0, 0, 0), AMPLIFIED_RGB, SUPPRESSED_RGB], np.float32)[_up(tokens.reshape(grid), hw,
                                                                                       True).astype(int)]
        tiles.append(np.uint8(0.5 * image_rgb + 0.5 * colours))
        captions.append(f'block {v["block"]}: {len(v["amplified"])} amplified (k={v["k_p"]})')
        for key, what in (('hfa_scores', 'HFA scores'), ('attention', 'attention CAM')):
            m = _up(v[key], hw)
            rng = m.max() - m.min()
            m = (m - m.min()) / rng if rng > 0 else np.zeros_like(m)
            tiles.append(np.uint8(0.5 * image_rgb + 0.5 * jet(m)))
            captions.append(f'block {v["block"]} {what}')
    title = f'DOEI on "{class_name}": tokens amplified (green) / suppressed (red), per block'
    big = renderer.grid(tiles, captions)
    fpx = 16
    band = np.full((int(fpx * 2), big.shape[1], 3), 255, np.uint8)
    return renderer.draw_texts(np.concatenate([band, big]), [(title, (4, fpx), fpx, 'black')])


def view_json(view: Sequence[Dict], class_name: str) -> Dict:
    """The view as json-able data (maps as nested lists)."""
    blocks = []
    for v in view:
        b = {k: v[k] for k in ('block', 'grid', 'k_p', 'k_c', 'ppdo', 'cpdo', 'amplified', 'suppressed',
                               'cpdo_amplified', 'cpdo_suppressed')}
        b['hfa_scores'] = np.round(v['hfa_scores'], 6).tolist()
        b['attention'] = np.round(v['attention'], 6).tolist()
        blocks.append(b)
    return dict(class_name=class_name, blocks=blocks)


def write_mechanism(out_dir: Union[str, Path], view: Sequence[Dict], image_rgb: np.ndarray,
                    class_name: str) -> Dict[str, Path]:
    """``mechanism.png`` and ``mechanism.json`` in ``out_dir``, each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = save_png(out / 'mechanism.png', render_mechanism(view, image_rgb, class_name))
    with atomic_write(out / 'mechanism.json', 'w') as f:
        json.dump(view_json(view, class_name), f)
    return dict(png=png, json=out / 'mechanism.json')
