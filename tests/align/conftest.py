"""Simulated misaligned tilt series with known shifts and tilt-axis angle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tomoml.align.metrics import shift_error
from tomoml.data import TiltSeries  # noqa: F401  (type of Simulated.raw)


@dataclass
class Simulated:
    volume: np.ndarray
    clean: np.ndarray          # aligned projections (axis along y, no shifts)
    raw: TiltSeries            # misaligned: rotated by the axis angle and shifted
    shifts_dydx: np.ndarray    # the shifts that align raw (after rotation by -axis)
    axis_deg: float


def simulate(n: int = 64, n_tilts: int = 41, *, axis_deg: float = 3.0, max_shift: float = 10.0,
             dose: float | None = 2000.0, seed: int = 0, radius: float | None = None,
             tilt_range=(-60.0, 60.0)) -> Simulated:
    """A porous particle (tomoml.synthetic) seen with uniform random shifts up to ``max_shift``."""
    from tomoml.synthetic import porous_particle, simulate_tilt_series

    rng = np.random.default_rng(seed + 1)
    angles = np.linspace(tilt_range[0], tilt_range[1], n_tilts)
    shifts = rng.uniform(-max_shift, max_shift, size=(n_tilts, 2))
    phantom = porous_particle((n, n, n), seed=seed, radius=radius)
    sim = simulate_tilt_series(phantom, angles_deg=angles, shifts_dydx=shifts,
                               tilt_axis_deg=axis_deg, dose=dose, seed=seed)
    return Simulated(sim.volume, sim.ideal, sim.tilts, shifts, axis_deg)


gauge_free_rmse = shift_error


@pytest.fixture(scope="session")
def small_axis_series() -> Simulated:
    return simulate(axis_deg=4.0, seed=3, dose=1e5)


@pytest.fixture(scope="session")
def stem_axis_series() -> Simulated:
    return simulate(axis_deg=88.5, seed=4, dose=1e5)


@pytest.fixture(scope="session")
def gauge_rmse():
    """:func:`gauge_free_rmse`, as a fixture (test modules here are not a package)."""
    return gauge_free_rmse


@pytest.fixture(scope="session")
def bead_series() -> Simulated:
    """A faint particle with 12 gold beads (dense 1.5-voxel balls) around it."""
    from tomoml.synthetic import porous_particle, simulate_tilt_series

    n, n_tilts, axis = 64, 41, -2.5
    rng = np.random.default_rng(11)
    vol = 0.3 * porous_particle((n, n, n), seed=11, radius=18).volume
    zz, yy, xx = np.mgrid[:n, :n, :n] - (n - 1) / 2
    for _ in range(12):
        r, phi = rng.uniform(8, 22), rng.uniform(0, 2 * np.pi)
        bz, bx, by = r * np.sin(phi), r * np.cos(phi), rng.uniform(-20, 20)
        vol[(zz - bz) ** 2 + (yy - by) ** 2 + (xx - bx) ** 2 <= 1.5**2] = 8.0
    angles = np.linspace(-60, 60, n_tilts)
    shifts = rng.uniform(-8, 8, size=(n_tilts, 2))
    sim = simulate_tilt_series(vol, angles_deg=angles, shifts_dydx=shifts, tilt_axis_deg=axis,
                               dose=5000.0, seed=11)
    return Simulated(vol, sim.ideal, sim.tilts, shifts, axis)
