"""Alignment (.xf) input: shifts and tilt-axis rotation of the raw images are undone."""

import numpy as np
import pytest
from recon_phantoms import corr

from tomoml.data import TiltSeries
from tomoml.io import XfTransforms
from tomoml.reconstruct import TomoGeometry, forward_project, reconstruct


def _raw_from_aligned(aligned: np.ndarray, xf: XfTransforms) -> np.ndarray:
    """What the microscope recorded, given the aligned images and the .xf that aligns them."""
    return xf.inverse().apply(aligned, order=3, mode="constant")


def _blob_volume(n=48, ny=48, z=8, y=5, x=-6):
    """A Gaussian blob (sigma 1.5 voxels) centred at (z, y, x) from the centre."""
    zz, yy, xx = np.mgrid[:n, :ny, :n]
    c, cy = (n - 1) / 2, (ny - 1) / 2
    r2 = (zz - c - z) ** 2 + (yy - cy - y) ** 2 + (xx - c - x) ** 2
    return np.exp(-r2 / (2 * 1.5**2)).astype(np.float32)


@pytest.fixture(scope="module")
def series_and_shifts():
    from scipy import ndimage

    n = 48
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    vol = ((z / 0.6) ** 2 + y**2 + (x - 4) ** 2 < 14**2).astype(np.float32)
    vol = ndimage.gaussian_filter(vol, 1.0)
    angles = np.arange(-60, 61, 4.0)
    aligned = forward_project(vol, angles)
    rng = np.random.default_rng(3)
    shifts = rng.normal(0, 3, (angles.size, 2))
    return vol, angles, aligned, shifts


def test_xf_shifts_are_undone(series_and_shifts):
    vol, angles, aligned, shifts = series_and_shifts
    xf = XfTransforms.from_alignment(shifts, 0.0)
    raw = TiltSeries(_raw_from_aligned(aligned, xf), angles)
    ref = reconstruct(TiltSeries(aligned, angles), "sirt", iterations=5).data
    fixed = reconstruct(raw, "sirt", iterations=5, xf=xf).data
    unfixed = reconstruct(raw, "sirt", iterations=5).data
    assert corr(fixed, ref) > 0.99
    assert corr(unfixed, ref) < corr(fixed, ref) - 0.02


def test_tilt_axis_rotation_from_xf_is_undone(series_and_shifts):
    vol, angles, aligned, shifts = series_and_shifts
    xf = XfTransforms.from_alignment(shifts, 7.0)
    raw = TiltSeries(_raw_from_aligned(aligned, xf), angles)
    ref = reconstruct(TiltSeries(aligned, angles), "fbp").data
    fixed = reconstruct(raw, "fbp", xf=xf).data
    core = (slice(8, 40),) * 3  # corners lose data to the rotation
    assert corr(fixed[core], ref[core]) > 0.98


def test_tilt_axis_of_the_series_is_undone_without_xf(series_and_shifts):
    vol, angles, aligned, _ = series_and_shifts
    xf = XfTransforms.from_alignment(np.zeros((angles.size, 2)), -5.0)
    raw = TiltSeries(_raw_from_aligned(aligned, xf), angles, tilt_axis_deg=-5.0)
    ref = reconstruct(TiltSeries(aligned, angles), "fbp").data
    core = (slice(8, 40),) * 3
    assert corr(reconstruct(raw, "fbp").data[core], ref[core]) > 0.98


def test_gpu_geometry_vectors_put_a_point_where_the_xf_moves_it():
    # The GPU engine never resamples: its parallel3d_vec vectors must predict where a point
    # lands on the raw (unaligned) image. Checked here on the CPU against XfTransforms.apply.
    vol = _blob_volume()
    angles = np.array([-50.0, -10.0, 0.0, 35.0])
    shifts = np.array([[2.0, -3.0], [0.5, 4.0], [-2.0, 1.0], [3.0, 3.0]])
    xf = XfTransforms.from_alignment(shifts, 12.0)
    raw = _raw_from_aligned(forward_project(vol, angles), xf)
    geom = TomoGeometry.from_tilts(TiltSeries(raw, angles), xf=xf)
    pred = geom.detector_position([[8, 5, -6]])[:, 0]  # (n, 2) row, col
    rows, cols = np.mgrid[: raw.shape[1], : raw.shape[2]]
    for img, (r, c) in zip(raw, pred, strict=True):
        w = np.clip(img, 0, None)
        assert (w * rows).sum() / w.sum() == pytest.approx(r, abs=0.1)
        assert (w * cols).sum() / w.sum() == pytest.approx(c, abs=0.1)


def test_aligned_geometry_vectors_follow_the_conventions():
    geom = TomoGeometry([30.0], (41, 9, 41), (9, 41))
    row, col = geom.detector_position([[10, 2, 0]])[0, 0]
    assert col - 20 == pytest.approx(10 * np.sin(np.deg2rad(30)))
    assert row - 4 == pytest.approx(2)
