"""CAMs by each baseline's authors' protocol, against numbers measured with their code.

``mctformer_protocol_outputs.npz`` (tests/data/reference/README.md) holds the MCTformer
authors' outputs on the deterministic tiny weights: a 224 x 232 input (the grid matches
the position embeddings, the image is not square) and their
``generate_attention_maps_ms`` on a 75 x 100 VOC-layout image.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from test_models.mct_weights import build_tiny, deterministic_state

from mmdoei.apis import cam_generation_cfg
from mmdoei.cam import CAM_PROTOCOLS, multiscale_cams, normalise_cam_sum, pass_sizes, pil_resize

ROOT = Path(__file__).resolve().parents[2]
REF = np.load(ROOT / 'tests/data/reference/mctformer_protocol_outputs.npz', allow_pickle=False)
PREPROCESSOR = dict(type='ClsDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    to_rgb=True)


def _model(version, img_size=64, **kw):
    model = build_tiny(version, img_size, data_preprocessor=dict(PREPROCESSOR), **kw)
    model.load_state_dict(deterministic_state(version, img_size))
    return model.eval()


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_non_square_input_with_a_matching_grid_equals_the_authors(version):
    """224 x 232 on a 14 x 14 grid: the authors resample the position embeddings
    (the image is not square) although the grid matches."""
    model = _model(version, 224)
    x = torch.randn(1, 3, 224, 232, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        logits = model(x)
    for i, lg in enumerate(logits):
        np.testing.assert_allclose(lg.numpy(), REF[f'{version}_224x232_logits{i}'], atol=1e-5, rtol=0)
    for t in (['mct'] if version == 'v1' else ['fused', 'patchcam', 'mct']):
        kw = {} if version == 'v1' else dict(type=t)
        with torch.no_grad():
            plain = model.cams(x, last_n=3, refine=False, **kw)
            refined = model.cams(x, last_n=3, refine=True, **kw)
        np.testing.assert_allclose(plain.numpy(), REF[f'{version}_224x232_{t}_last3'], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(refined.numpy(), REF[f'{version}_224x232_{t}_last3_refine'],
                                   atol=1e-5, rtol=1e-5)


def _image():
    """The pinned image as mmcv loads it: ``(3, H, W)`` uint8, BGR."""
    return torch.from_numpy(np.ascontiguousarray(REF['ms_image_rgb'][..., ::-1])).permute(2, 0, 1)


@pytest.mark.parametrize('version', ['v1', 'v2'])
@pytest.mark.parametrize('tag,scales', [('ms5', (0.5, 0.75, 1.0, 1.25, 1.5)), ('s1', (1.0, ))])
def test_multiscale_cams_equal_the_authors_generate_attention_maps_ms(version, tag, scales):
    model = _model(version)
    labels = REF['ms_labels'].tolist()
    kw = dict(type='fused') if version == 'v2' else {}
    cams = multiscale_cams(model, _image(), labels, scales, flip=True, last_n=3, refine=True, **kw)
    assert cams.shape == (len(labels), 75, 100)
    np.testing.assert_allclose(cams.numpy(), REF[f'{version}_{tag}_cams'], atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize('doei', [None, dict()])
def test_batched_flip_gives_the_same_cams(doei):
    """The image and its flip in one batch of two: the same maps as two passes."""
    model = _model('v2', doei=doei)
    labels = REF['ms_labels'].tolist()
    for protocol in ('ms5', 'transcam'):
        p = {k: v for k, v in CAM_PROTOCOLS[protocol].items()}
        a = multiscale_cams(model, _image(), labels, batch_flip=True, type='fused', **p)
        b = multiscale_cams(model, _image(), labels, batch_flip=False, type='fused', **p)
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, rtol=0)


def _plain_loop_cams(model, img, labels, scales):
    """The authors' loop written out: every scale, then its flip, one image per forward pass,
    the attention by the all-heads expression (gradients on: the path training takes), the
    block maps stacked and summed, fused CAM, refinement, resize, flip back, sum, min-max."""
    H, W = img.shape[-2:]
    hwc = np.ascontiguousarray(img.permute(1, 2, 0).numpy())
    C = model.num_classes
    total = 0
    for size in pass_sizes((H, W), scales):
        resized = torch.from_numpy(pil_resize(hwc, size).copy()).permute(2, 0, 1)
        x = model.data_preprocessor(dict(inputs=[resized]), False)['inputs']
        for flip in (False, True):
            with torch.enable_grad():
                tokens, grid, attn = model.forward_with_attention(x.flip(-1) if flip else x)
                A = torch.stack(attn)
                cams = A[-3:].sum(0)[:, :C, C:].reshape(1, C, *grid) * torch.relu(model.head.patch_maps(tokens, grid))
                aff = A.sum(0)[:, C:, C:]
                cams = (cams.flatten(2) @ aff.transpose(1, 2)).reshape(1, C, *grid)
            cams = F.interpolate(cams.detach(), (H, W), mode='bilinear', align_corners=False)[0, labels]
            total = total + (cams.flip(-1) if flip else cams)
    lo = total.flatten(1).min(1).values[:, None, None]
    hi = total.flatten(1).max(1).values[:, None, None]
    return (total - lo) / (hi - lo + 1e-8)


@pytest.mark.parametrize('doei', [None, dict()])
def test_optimised_cam_path_equals_the_plain_per_pass_loop(doei):
    """What CAM generation runs (no gradients: the softmax in place, block maps summed
    without stacking, image and flip batched) against the plain
    loop above, at 5 scales + flip: the same CAMs to 1e-5, the same block maps to 1e-6."""
    model = _model('v2', doei=doei)
    labels = REF['ms_labels'].tolist()
    scales = CAM_PROTOCOLS['ms5']['scales']
    fast = multiscale_cams(model, _image(), labels, scales, flip=True, type='fused', last_n=3, refine=True)
    plain = _plain_loop_cams(model, _image(), labels, scales)
    assert fast.shape == plain.shape == (len(labels), 75, 100)
    np.testing.assert_allclose(fast.numpy(), plain.numpy(), atol=1e-5, rtol=0)
    x = torch.randn(2, 3, 48, 80, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        _, _, fast_maps = model.forward_with_attention(x)
    with torch.enable_grad():
        _, _, plain_maps = model.forward_with_attention(x)
    for a, b in zip(fast_maps, plain_maps):
        assert not a.requires_grad
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), atol=1e-6, rtol=0)


def test_pass_sizes_of_the_protocols():
    assert pass_sizes((375, 500), **{k: CAM_PROTOCOLS['mctformer'][k] for k in ('scales', 'sizes')}) == \
        [(375, 500)]
    # round(x * s) as the authors' round (Python's: 187.5 -> 188, 562.5 -> 562)
    assert pass_sizes((375, 500), (0.5, 1.5)) == [(188, 250), (562, 750)]
    assert pass_sizes((375, 500), **{k: CAM_PROTOCOLS['transcam'][k] for k in ('scales', 'sizes')}) == \
        [(256, 256), (512, 512), (768, 768)]
    assert pass_sizes((375, 500), **{k: CAM_PROTOCOLS['tscam'][k] for k in ('scales', 'sizes')}) == [(224, 224)]


def test_transcam_normalisation_clamps_the_sum():
    """infer_TransCAM.py: sum < 0 -> 0; below min + 1e-5 -> 0; (s - min - 1e-5) / (max - min + 1e-5)."""
    total = torch.tensor([[[-2.0, 0.5], [1.0, 3.0]]])
    out = normalise_cam_sum(total, 'clamp_sum')
    lo, hi = 0.0, 3.0  # after the clamp
    expected = np.array([[[0 - lo - 1e-5, .5 - lo - 1e-5], [1 - lo - 1e-5, 3 - lo - 1e-5]]]) / (hi - lo + 1e-5)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    # clamping the sum is not a ReLU per pass: passes [-2, 1] and [1.5, 0] sum to [-0.5, 1]
    p1, p2 = torch.tensor([[[-2.0, 1.0]]]), torch.tensor([[[1.5, 0.0]]])
    clamp_sum = normalise_cam_sum(p1 + p2, 'clamp_sum')
    relu_each = normalise_cam_sum(p1.clamp(min=0) + p2.clamp(min=0), 'clamp_sum')
    np.testing.assert_allclose(clamp_sum.numpy(), [[[-1e-5 / (1 + 1e-5), (1 - 1e-5) / (1 + 1e-5)]]], rtol=1e-6)
    # (their quirk: pixels at a positive minimum are zeroed, then shifted by that minimum)
    np.testing.assert_allclose(relu_each.numpy(), [[[(1.5 - 1 - 1e-5) / (0.5 + 1e-5),
                                                     (0 - 1 - 1e-5) / (0.5 + 1e-5)]]], rtol=1e-5)
    with pytest.raises(ValueError, match="norm must be 'minmax' or 'clamp_sum'"):
        normalise_cam_sum(total, 'relu')


@pytest.mark.parametrize('config,expected', [
    ('configs/mctformer/mctformer-v2_deit-s_1xb64-60e_voc12aug-224.py',
     dict(scales=(1.0, ), sizes=None, flip=True, interpolation='bicubic', norm='minmax')),
    ('configs/doei/tscam_voc.py',
     dict(scales=None, sizes=((224, 224), ), flip=False, interpolation='bilinear', norm='minmax')),
    ('configs/doei/transcam_voc.py',
     dict(scales=None, sizes=((256, 256), (512, 512), (768, 768)), flip=True, interpolation='bicubic',
          norm='clamp_sum')),
])
def test_configs_default_to_their_authors_protocol(config, expected):
    cfg = cam_generation_cfg(Config.fromfile(str(ROOT / config)), '/tmp/unused')
    loop = cfg.test_cfg
    assert {k: (tuple(map(tuple, loop[k])) if k == 'sizes' and loop[k] else
                tuple(loop[k]) if k == 'scales' and loop[k] else loop[k]) for k in expected} == expected
    relu = loop['cam_cfg'].get('relu')
    assert relu is (None if 'mctformer' in config else False)  # TS-CAM / TransCAM: raw maps
    # the DOEI paper's 5 scales are a named option; --scales replaces fixed sizes
    ms5 = cam_generation_cfg(Config.fromfile(str(ROOT / config)), '/tmp/unused', protocol='ms5').test_cfg
    assert tuple(ms5['scales']) == (0.5, 0.75, 1.0, 1.25, 1.5) and ms5['sizes'] is None and ms5['flip']
    sc = cam_generation_cfg(Config.fromfile(str(ROOT / config)), '/tmp/unused', scales=[0.5, 1.0]).test_cfg
    assert tuple(sc['scales']) == (0.5, 1.0) and sc['sizes'] is None
    with pytest.raises(KeyError, match="unknown CAM protocol 'ms6'"):
        cam_generation_cfg(Config.fromfile(str(ROOT / config)), '/tmp/unused', protocol='ms6')
