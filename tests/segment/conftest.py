"""Shared tiny data for the segmentation tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _single_thread():
    """Keep torch to one thread: the test machine is shared, and results stay reproducible."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def two_spheres(shape=(40, 40, 40), radius=8.0, gap=-2.0):
    """Two touching balls along x (overlapping by ``-gap`` voxels): a binary mask."""
    zz, yy, xx = np.indices(shape, dtype=np.float32)
    c = np.array(shape, dtype=np.float32) / 2
    dx = radius + gap / 2
    a = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - (c[2] - dx)) ** 2 <= radius**2
    b = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - (c[2] + dx)) ** 2 <= radius**2
    return a, b
