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
