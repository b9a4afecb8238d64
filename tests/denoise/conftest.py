"""A tiny simulated case: a sharp-edged phantom and two halves with independent noise."""

from __future__ import annotations

import numpy as np
import pytest


def _phantom(n: int = 48) -> np.ndarray:
    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[:n, :n, :n].astype(np.float32)
    v = np.zeros((n, n, n), np.float32)
    for _ in range(30):
        c = rng.uniform(5, n - 5, 3)
        r = rng.uniform(2.5, 7)
        v[(z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 < r * r] = rng.uniform(0.4, 1.0)
    return v


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op thread: reproducible timings on a shared CI machine (restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def noisy_case():
    """(truth, even, odd): the same 48^3 phantom with independent Gaussian noise in each half."""
    truth = _phantom()
    rng = np.random.default_rng(1)
    sigma = 0.35
    even = truth + rng.normal(0, sigma, truth.shape).astype(np.float32)
    odd = truth + rng.normal(0, sigma, truth.shape).astype(np.float32)
    return truth, even, odd


@pytest.fixture(scope="session")
def n2n_model(noisy_case):
    from tomoml.denoise import train_n2n

    _, even, odd = noisy_case
    return train_n2n(even, odd, epochs=8, steps_per_epoch=10, patch=16, batch=6, seed=0,
                     device="cpu", val_fraction=0.34)


@pytest.fixture(scope="session")
def n2n_output(n2n_model, noisy_case):
    from tomoml.denoise import predict

    _, even, odd = noisy_case
    return predict(n2n_model, even=even, odd=odd, device="cpu")
