"""Simulated misaligned tilt series with known shifts and tilt-axis angle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy import ndimage

from tomoml.data import TiltSeries
from tomoml.io.imod import XfTransforms
from tomoml.reconstruct import forward_project


@dataclass
class Simulated:
    volume: np.ndarray
    clean: np.ndarray          # aligned projections (axis along y, no shifts)
    raw: TiltSeries            # misaligned: rotated by the axis angle and shifted
    shifts_dydx: np.ndarray    # the shifts that align raw (after rotation by -axis)
    axis_deg: float


def particle_phantom(n: int = 64, *, seed: int = 0, radius: float = 0.3) -> np.ndarray:
    """A porous particle: a ball of random blobs with pores, densities 0..1, background 0."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.mgrid[:n, :n, :n].astype(np.float32) - (n - 1) / 2
    r = np.sqrt(zz**2 + yy**2 + xx**2) / n
    noise = ndimage.gaussian_filter(rng.standard_normal((n, n, n)).astype(np.float32), 2.0)
    vol = ((noise > 0.0) & (r < radius)).astype(np.float32)
    vol += ((r < radius + 0.04) & (r > radius)).astype(np.float32) * 0.5
    return ndimage.gaussian_filter(vol, 0.7)


def simulate(n: int = 64, n_tilts: int = 41, *, axis_deg: float = 3.0, max_shift: float = 10.0,
             noise: float = 0.0, seed: int = 0, tilt_range=(-60.0, 60.0)) -> Simulated:
    rng = np.random.default_rng(seed + 1)
    vol = particle_phantom(n, seed=seed)
    angles = np.linspace(tilt_range[0], tilt_range[1], n_tilts)
    clean = forward_project(vol, angles)
    shifts = rng.uniform(-max_shift, max_shift, size=(n_tilts, 2))
    xf = XfTransforms.from_alignment(shifts, axis_deg)
    raw = xf.inverse().apply(clean, order=3, mode="constant")
    if noise:
        raw = raw + noise * float(clean.std()) * rng.standard_normal(raw.shape).astype(np.float32)
    return Simulated(vol, clean, TiltSeries(raw, angles), shifts, axis_deg)


def gauge_free_rmse(est: np.ndarray, true: np.ndarray, angles_deg: np.ndarray) -> float:
    """Shift RMSE after removing what no aligner can know: a common offset and a rigid
    translation of the specimen (dx = x0 cos t + z0 sin t)."""
    d = np.asarray(est, float) - np.asarray(true, float)
    t = np.deg2rad(angles_deg)
    dy = d[:, 0] - d[:, 0].mean()
    basis = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, d[:, 1], rcond=None)
    dx = d[:, 1] - basis @ coef
    return float(np.sqrt(np.mean(dy**2 + dx**2)))


@pytest.fixture(scope="session")
def small_axis_series() -> Simulated:
    return simulate(axis_deg=4.0, seed=3, noise=0.05)


@pytest.fixture(scope="session")
def stem_axis_series() -> Simulated:
    return simulate(axis_deg=88.5, seed=4, noise=0.05)
