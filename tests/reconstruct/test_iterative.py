"""SIRT, CGLS and TV on the CPU engine: ASTRA agreement, convergence, constraints."""

import numpy as np
import pytest
from recon_phantoms import corr

from tomoml.data import TiltSeries
from tomoml.reconstruct import forward_project, reconstruct
from tomoml.reconstruct._astra import reference_slices


def test_sirt_matches_astra_cpu_sirt_within_1_percent(limited_series, phantom):
    mine = reconstruct(limited_series, "sirt", iterations=20).data
    ref = reference_slices(limited_series.data, limited_series.angles_deg, phantom.shape[0],
                           algorithm="SIRT", iterations=20)
    assert np.linalg.norm(mine - ref) / np.linalg.norm(ref) < 0.01


def test_sirt_residual_decreases_and_is_reported(limited_series):
    seen = []
    _, info = reconstruct(limited_series, "sirt", iterations=15, return_info=True,
                          callback=lambda s, k, r: seen.append((s, k, r)))
    res = info.residuals
    assert res.shape == (15,)
    assert np.all(np.diff(res) < 0)
    assert res[-1] < 0.5 * res[0]
    assert len(seen) == 15 and seen[-1][1] == 14


def test_cgls_residual_decreases_monotonically(limited_series):
    _, info = reconstruct(limited_series, "cgls", iterations=25, return_info=True)
    assert np.all(np.diff(info.residuals) <= 1e-7)
    assert info.residuals[-1] < 0.05


def test_cgls_converges_to_the_phantom_on_well_sampled_data(phantom):
    angles = np.linspace(-90, 90, 64, endpoint=False)
    ts = TiltSeries(forward_project(phantom, angles), angles)
    assert corr(reconstruct(ts, "cgls", iterations=30).data, phantom) > 0.99


def test_nonnegative_sirt_has_no_negative_voxels(limited_series):
    vol = reconstruct(limited_series, "sirt", iterations=10, nonnegative=True).data
    assert vol.min() >= 0
    free = reconstruct(limited_series, "sirt", iterations=10).data
    assert free.min() < 0  # so the constraint did something


def test_sirt_mask_keeps_voxels_outside_at_zero(limited_series, phantom):
    mask = np.zeros(phantom.shape, bool)
    mask[16:48] = True
    vol = reconstruct(limited_series, "sirt", iterations=10, mask=mask).data
    assert np.all(vol[~mask] == 0)
    assert corr(vol[mask], phantom[mask]) > 0.9


def test_tv_beats_sirt_on_noisy_missing_wedge_piecewise_constant_phantom(phantom):
    angles = np.arange(-60, 61, 4.0)
    p = forward_project(phantom, angles)
    rng = np.random.default_rng(0)
    p = p + rng.normal(0, 0.05 * p.std(), p.shape).astype(np.float32)
    ts = TiltSeries(p, angles)
    sirt = reconstruct(ts, "sirt", iterations=50).data
    tv, info = reconstruct(ts, "tv", iterations=100, return_info=True)
    assert corr(tv.data, phantom) > corr(sirt, phantom) + 0.02
    assert info.residuals.shape == (100,)


@pytest.mark.parametrize("slab", [3, 8])
def test_slab_size_does_not_change_the_result(limited_series, slab):
    ref = reconstruct(limited_series, "sirt", iterations=5, slab_size=8).data
    got = reconstruct(limited_series, "sirt", iterations=5, slab_size=slab).data
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
