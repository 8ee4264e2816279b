"""What the TS-CAM and TransCAM tests share: their tiny backbones and one intra-op thread."""
import pytest
import torch

#: A 3-block, 64-wide ViT for 64 x 64 inputs (TS-CAM).
TSCAM_TINY = dict(arch=dict(embed_dims=64, num_layers=3, num_heads=2, feedforward_channels=256),
                  img_size=64, patch_size=16)

# Depth 6 has one block of each kind: the stage-1 coupling (down stride 4), the
# stride-2 entries of stages 2 and 3, and the last fusion block. Channel ratio 1/4
# (CNN 16/32/64 channels) rather than fewer base channels: the authors' conv head
# is built for 256 * channel_ratio inputs.
TRANSCAM_TINY = dict(arch=dict(embed_dims=64, channel_ratio=0.25, num_heads=2, depths=6), drop_path_rate=0.)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread avoids OpenMP
    threads spinning against other processes (measured: 16 s -> 1.3 s a training run).
    A module that imports it gets it for its tests."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
