"""Test volumes with known geometry: binary balls and Gaussian blobs."""

from __future__ import annotations

import numpy as np


def ball(shape, center_zyx, radius):
    """Binary ball (uint8) of ``radius`` voxels around ``center_zyx``."""
    z, y, x = np.indices(shape, dtype=np.float32)
    cz, cy, cx = center_zyx
    return (((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) <= radius ** 2).astype(np.uint8)


def gaussian_blob(shape, center_zyx, sigma):
    """Density exp(-r^2 / 2 sigma^2): the iso-surface at level L is a sphere of radius
    sigma * sqrt(-2 ln L)."""
    z, y, x = np.indices(shape, dtype=np.float32)
    cz, cy, cx = center_zyx
    r2 = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2
    return np.exp(-r2 / (2 * sigma ** 2)).astype(np.float32)
