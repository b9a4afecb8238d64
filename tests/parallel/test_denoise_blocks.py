"""denoise_blocks: chunks aligned to the sliding-window grid give predict's result bit for bit."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A small residual U-Net with seeded random weights (training is not what is tested)."""
    import torch

    from tomoml.denoise.model import (
        DenoiseModel,
        Normalisation,
        build_network,
        default_architecture,
    )

    torch.manual_seed(0)
    arch = default_architecture((8, 16))
    model = DenoiseModel(build_network(arch), arch, "n2v", (16, 16, 16), Normalisation(0.0, 1.0))
    return model.save(tmp_path_factory.mktemp("denoise_blocks") / "random")


@pytest.mark.parametrize("chunks", [16, 20, 33])
def test_chunked_denoising_equals_whole_volume_predict(model_path, chunks):
    from tomoml.denoise import DenoiseModel, predict
    from tomoml.parallel import denoise_blocks

    rng = np.random.default_rng(5)
    vol = rng.standard_normal((50, 44, 37)).astype(np.float32)  # sizes off the window grid
    expected = predict(DenoiseModel.load(model_path), vol, device="cpu")
    # sync: the chunks run in this thread, with its torch thread count (worker threads may
    # use another, which changes float rounding inside the convolutions, not the windows)
    out = denoise_blocks(vol, model_path, chunks=chunks, device="cpu", scheduler="sync")
    np.testing.assert_array_equal(out, expected)


def test_chunked_halves_equal_predict_of_even_and_odd(model_path, tmp_path):
    from tomoml.denoise import DenoiseModel, predict
    from tomoml.io import read_volume, write_zarr
    from tomoml.parallel import denoise_blocks

    rng = np.random.default_rng(6)
    even, odd = (rng.standard_normal((40, 36, 30)).astype(np.float32) for _ in range(2))
    expected = predict(DenoiseModel.load(model_path), even=even, odd=odd, device="cpu")
    write_zarr(even, tmp_path / "even.zarr", chunks=12)
    out = denoise_blocks(None, model_path, even=tmp_path / "even.zarr", odd=odd, chunks=16,
                         out=tmp_path / "out.mrc", voxel_size_A=4.0, scheduler="sync",
                         device="cpu")
    written = read_volume(out)
    assert written.voxel_size_A == pytest.approx(4.0)
    np.testing.assert_array_equal(written.data, expected)
