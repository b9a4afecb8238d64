"""Blockwise inference: same answer as one block, bounded memory, out-of-memory retry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomoml.data import Volume
from tomoml.segment.inference import iter_blocks, predict, segment
from tomoml.segment.unet import SegmentationModel

SMALL = {"name": "monai.UNet", "channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1,
         "norm": "batch", "dropout": 0.0}


@pytest.fixture
def model():
    m = SegmentationModel.create(2, architecture=SMALL, patch_size=16, seed=0)
    m.network.eval()
    return m


def test_blocks_tile_the_volume_exactly_once():
    shape = (37, 20, 45)
    count = np.zeros(shape, int)
    for read, write, inner in iter_blocks(shape, (16, 20, 16), (8, 8, 8)):
        count[write] += 1
        for r, w, i in zip(read, write, inner, strict=True):
            assert r.start + i.start == w.start and r.start + i.stop == w.stop
    assert np.all(count == 1)


def test_blockwise_inference_matches_single_block_inference(model):
    vol = np.random.default_rng(0).normal(size=(48, 32, 40)).astype(np.float32)
    whole, pw = predict(model, vol, roi_size=16, overlap=0.5, probabilities_out=True)
    # a budget far below the volume forces many blocks with margins
    blocks, pb = predict(model, vol, roi_size=16, overlap=0.5, block_voxels=24**3,
                         probabilities_out=True)
    # the margin (half a window) gives every voxel its context; blending weights differ only
    # where windows meet block borders, so probabilities agree to well within a percent
    assert np.abs(pw - pb).max() < 0.02
    assert np.mean(whole == blocks) > 0.995


def test_memory_mapped_output_is_filled(model, tmp_path):
    vol = np.random.default_rng(1).normal(size=(24, 24, 24)).astype(np.float32)
    labels, _ = predict(model, vol, roi_size=16, out=tmp_path / "lab.npy")
    assert isinstance(labels, np.memmap)
    np.testing.assert_array_equal(np.load(tmp_path / "lab.npy"), predict(model, vol,
                                                                         roi_size=16)[0])


class _OomAbove:
    """Wraps a network; raises a (simulated) CUDA out-of-memory error for windows > limit."""

    def __init__(self, net, limit):
        self.net, self.limit, self.calls = net, limit, []

    def __call__(self, x):
        self.calls.append(tuple(x.shape))
        if max(x.shape[2:]) > self.limit or x.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)

    def to(self, device):
        return self

    def eval(self):
        return self


def test_out_of_memory_retries_with_fewer_then_smaller_windows(model):
    vol = np.random.default_rng(2).normal(size=(48, 40, 40)).astype(np.float32)
    wrapped = SegmentationModel(network=_OomAbove(model.network, 16), architecture=SMALL,
                                classes=model.classes, patch_size=(16, 16, 16))
    labels, _ = predict(wrapped, vol, roi_size=32, sw_batch_size=4)
    ref, _ = predict(model, vol, roi_size=16, sw_batch_size=1)
    np.testing.assert_array_equal(labels, ref)
    shapes = wrapped.network.calls
    assert shapes[0][0] == 4 and max(shapes[0][2:]) == 32  # first try: 4 windows of 32^3
    assert max(shapes[-1][2:]) == 16 and shapes[-1][0] == 1


def test_segment_keeps_volume_metadata_and_rejects_bad_input(model):
    vol = Volume(np.random.default_rng(3).normal(size=(16, 16, 16)).astype(np.float32),
                 voxel_size_A=7.5, origin_A=(1.0, 2.0, 3.0))
    out = segment(vol, model=model, device="cpu")
    assert isinstance(out, Volume) and out.voxel_size_A == 7.5 and out.origin_A == (1, 2, 3)
    assert out.data.dtype == np.uint8
    from tomoml.errors import InputError

    with pytest.raises(InputError, match="3D"):
        segment(np.zeros((4, 4)), model=model)


def test_fast_argmax_matches_torch_argmax_including_ties():
    from tomoml.segment.inference import _argmax

    g = torch.Generator().manual_seed(0)
    logits = torch.randint(0, 3, (4, 6, 7, 8), generator=g).float()  # many ties
    view = logits[:, 1:5, :, 2:]
    np.testing.assert_array_equal(_argmax(view).numpy(), view.argmax(0).numpy())


def test_window_plan_covers_each_axis_with_the_fewest_windows():
    from tomoml.segment.inference import plan_windows

    roi, overlap = plan_windows((256, 100, 300))
    assert roi[1] == 104 and overlap[1] == 0.0  # one window, padded to a multiple of 8
    assert roi[0] == 136  # 256 = two windows of 136 overlapping by 16
    for n, r, o in zip((256, 300), (roi[0], roi[2]), (overlap[0], overlap[2]), strict=True):
        step = int(r * (1 - o))
        n_windows = -(-(n - r) // step) + 1
        assert r <= 144 and r % 8 == 0
        assert (n_windows - 1) * step + r >= n and r - step >= 16  # covered, overlapping
        assert n_windows == -(-(n - 16) // (144 - 16))  # the fewest windows of <= 144


def test_instance_normalised_model_gets_windows_near_its_training_patch():
    from tomoml.segment.inference import auto_window_limit

    inst = SegmentationModel.create(2, architecture=dict(SMALL, norm="instance"), patch_size=24,
                                    seed=0)
    batch = SegmentationModel.create(2, architecture=SMALL, patch_size=24, seed=0)
    assert auto_window_limit(inst) == 32 and auto_window_limit(batch) == 144
    seen = []
    net = inst.network.eval()

    class Recorder(torch.nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape[2:]))
            return net(x)

    inst.network = Recorder()
    predict(inst, np.zeros((40, 56, 72), np.float32))
    assert seen and max(max(s) for s in seen) <= 32  # not one 40x56x72 window


@pytest.mark.gpu
def test_default_model_on_cuda_labels_like_the_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from tomoml.synthetic import sponge

    ph = sponge((48, 48, 48), kind="spinodal", seed=3)
    vol = (ph.volume + np.random.default_rng(0).normal(0, 0.3, ph.volume.shape)).astype(np.float32)
    cpu = segment(vol, device="cpu")
    gpu = segment(vol, device="cuda")
    assert np.mean(cpu == gpu) > 0.995
