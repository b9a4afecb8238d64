"""Denoised volumes are closer to the truth than the input and than the best Gaussian filter."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_n2n_correlates_better_with_truth_than_input_and_best_gaussian(noisy_case, n2n_output):
    truth, even, odd = noisy_case
    mean = (even + odd) / 2
    best_gauss = max(corr(ndi.gaussian_filter(mean, s), truth) for s in np.arange(0.3, 3.01, 0.1))
    c_in = corr(mean, truth)
    c_out = corr(n2n_output, truth)
    assert c_in < 0.72
    assert c_out > c_in + 0.2
    assert c_out > best_gauss + 0.005, (c_out, best_gauss)


def test_n2n_output_keeps_the_grey_levels(noisy_case, n2n_output):
    truth, _, _ = noisy_case
    # Normalisation is undone: the result is in the input's units, not z-scores.
    assert abs(float(n2n_output.mean()) - float(truth.mean())) < 0.03
    assert n2n_output.dtype == np.float32 and n2n_output.shape == truth.shape


def test_n2v_single_volume_improves_on_the_input(noisy_case):
    from tomoml.denoise import predict, train_n2v

    truth, even, _ = noisy_case
    model = train_n2v(even, epochs=3, steps_per_epoch=8, patch=16, batch=4, seed=0,
                      device="cpu", val_fraction=0.34)
    out = predict(model, even, device="cpu")
    assert model.method == "n2v"
    assert corr(out, truth) > corr(even, truth) + 0.05
