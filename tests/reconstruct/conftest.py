"""Fixtures for the reconstruction tests (phantoms in recon_phantoms.py)."""

import numpy as np
import pytest
from recon_phantoms import blob_phantom

from tomoml.data import TiltSeries
from tomoml.reconstruct import forward_project


@pytest.fixture(scope="session")
def phantom():
    return blob_phantom()


@pytest.fixture(scope="session")
def limited_series(phantom):
    """41 tilts over ±60° (3° steps), noiseless."""
    angles = np.arange(-60, 61, 3.0)
    return TiltSeries(forward_project(phantom, angles), angles, pixel_size_A=4.0)
