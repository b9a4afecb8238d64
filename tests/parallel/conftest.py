"""Small volumes with known answers for the chunked/distributed tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi


@pytest.fixture(scope="session")
def random_field() -> np.ndarray:
    """A smooth random float32 field (40, 37, 33): odd sizes so chunks never divide evenly."""
    rng = np.random.default_rng(7)
    return ndi.gaussian_filter(rng.standard_normal((40, 37, 33)), 1.5).astype(np.float32)


@pytest.fixture(scope="session")
def porous_labels() -> np.ndarray:
    """Two-phase labels (0 pore, 1 and 2 solid) with many objects, tunnels and cavities:
    a thresholded random field, so the Euler characteristic is far from 1 or 2."""
    rng = np.random.default_rng(3)
    f = ndi.gaussian_filter(rng.standard_normal((42, 45, 38)), 1.2)
    labels = (f > 0.0).astype(np.uint8)
    labels[f > 0.12] = 2
    return labels


@pytest.fixture(scope="session")
def tilt_series():
    """A 41-tilt parallel-beam series of a (24, 70, 40) phantom (block + noise + ball)."""
    from tomoml.data import TiltSeries
    from tomoml.reconstruct import forward_project

    rng = np.random.default_rng(0)
    vol = np.zeros((24, 70, 40), np.float32)
    vol[6:18, 8:60, 8:32] = 1.0
    z, y, x = np.mgrid[:24, :70, :40]
    vol[(z - 12) ** 2 + (y - 40) ** 2 + (x - 20) ** 2 < 36] = 2.0
    vol += 0.2 * rng.random(vol.shape, dtype=np.float32)
    angles = np.arange(-60.0, 61.0, 3.0)
    return TiltSeries(forward_project(vol, angles), angles, pixel_size_A=5.0)
