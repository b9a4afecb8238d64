"""Sliding-window inference: exact for an identity network, blocks without seams."""

from __future__ import annotations

import numpy as np
import pytest


def _identity_model(patch=(16, 16, 16)):
    import torch

    from tomoml.denoise import DenoiseModel, Normalisation

    return DenoiseModel(network=torch.nn.Identity(), architecture={"class": "identity"},
                        method="n2v", patch=patch, normalisation=Normalisation(0.0, 1.0))


@pytest.mark.parametrize("max_block_voxels", [2**26, 20 * 40])
def test_identity_network_reproduces_the_input_in_one_block_or_many(max_block_voxels):
    from tomoml.denoise import predict

    v = np.random.default_rng(0).normal(5, 2, (20, 40, 36)).astype(np.float32)
    out = predict(_identity_model(), v, device="cpu", max_block_voxels=max_block_voxels)
    np.testing.assert_allclose(out, v, atol=1e-4)


def test_halves_are_averaged_after_the_network():
    from tomoml.denoise import predict

    rng = np.random.default_rng(1)
    e = rng.normal(size=(16, 24, 20)).astype(np.float32)
    o = rng.normal(size=(16, 24, 20)).astype(np.float32)
    out = predict(_identity_model(), even=e, odd=o, device="cpu")
    np.testing.assert_allclose(out, (e + o) / 2, atol=1e-4)


def test_blocks_match_whole_volume_inference(n2n_model, noisy_case, n2n_output):
    from tomoml.denoise import predict

    _, even, odd = noisy_case
    out = predict(n2n_model, even=even, odd=odd, device="cpu", max_block_voxels=48 * 48 * 24)
    # Windows fall on a different grid near block edges; a margin of one window keeps the
    # difference far below the noise left in the result.
    assert np.abs(out - n2n_output).max() < 0.05 * n2n_output.std()


def test_predict_rejects_one_half_alone():
    from tomoml.denoise import predict
    from tomoml.errors import InputError

    with pytest.raises(InputError, match="even and odd"):
        predict(_identity_model(), even=np.zeros((16, 16, 16), np.float32), device="cpu")


def _skewed_conv():
    """A 3x3x3 convolution with a lopsided kernel: its output changes under every flip."""
    import torch

    conv = torch.nn.Conv3d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.arange(27, dtype=torch.float32).reshape(1, 1, 3, 3, 3) / 27)
    return conv.eval()


def test_flip_mean_is_the_mean_of_the_eight_flipped_passes():
    import itertools

    import torch

    from tomoml.denoise.inference import flip_mean

    net = _skewed_conv()
    x = torch.from_numpy(np.random.default_rng(2).normal(size=(2, 1, 8, 10, 12)).astype(np.float32))
    with torch.no_grad():
        expected = sum(torch.flip(net(torch.flip(x, a)), a) if a else net(x)
                       for n in range(4) for a in itertools.combinations((2, 3, 4), n)) / 8
        out = flip_mean(net, x)
        # for this kernel, the mean of the flips is the convolution with the kernel's mean value
        uniform = torch.nn.functional.conv3d(x, torch.full((1, 1, 3, 3, 3), 13 / 27), padding=1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(out, uniform, atol=1e-5, rtol=0)
    assert (net(x) - out).abs().max() > 0.1  # the flips do change this network's output


def test_flip_average_is_default_and_can_be_turned_off():
    import torch

    from tomoml.denoise import DenoiseModel, Normalisation, predict

    model = DenoiseModel(network=_skewed_conv(), architecture={"class": "conv"}, method="n2v",
                         patch=(16, 16, 16), normalisation=Normalisation(0.0, 1.0))
    v = np.random.default_rng(3).normal(size=(20, 24, 28)).astype(np.float32)
    kernel = model.network.weight.detach()
    with torch.no_grad():
        x = torch.from_numpy(v)[None, None]
        single = torch.nn.functional.conv3d(x, kernel, padding=1)[0, 0].numpy()
        flipped = torch.nn.functional.conv3d(x, torch.full_like(kernel, 13 / 27),
                                             padding=1)[0, 0].numpy()
    # Away from the volume's border (zero padding); the z-score normalisation of predict adds
    # a constant (the kernel does not sum to 1), hence the spread of the difference.
    def err(a, b):
        return float(np.std((a - b)[(slice(1, -1),) * 3]))

    default = predict(model, v, device="cpu")
    off = predict(model, v, device="cpu", flip_average=False)
    assert err(default, flipped) < 0.25 * err(off, flipped)  # (window edges: zero padding)
    assert err(off, single) < 0.25 * err(default, single)
