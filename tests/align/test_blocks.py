"""The building blocks: registration, coarse cross-correlation, axis estimation, the CLI."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import ndimage

from tomoml.align import (
    coarse_align,
    estimate_tilt_axis,
    register_translation,
    rotate_shifts,
    wrap_axis_angle,
)


def _texture(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.standard_normal((n, n)), 2.0)


def test_register_translation_finds_subpixel_shift_within_0p1_px():
    # A compact object (inside the edge taper), as a specimen in a tilt image.
    yy, xx = np.mgrid[:64, :64] - 31.5
    ref = _texture() * np.exp(-(yy**2 + xx**2) / (2 * 12.0**2))
    true = np.array([3.3, -5.7])
    mov = ndimage.shift(ref, -true, order=3)  # shifting mov by +true gives ref
    reg = register_translation(ref, mov, max_shift=10)
    assert np.allclose(reg.shift_dydx, true, atol=0.1), reg.shift_dydx
    assert reg.peak > 0.8 and not reg.at_limit


def test_register_translation_flags_shift_beyond_search_range():
    ref = _texture()
    mov = ndimage.shift(ref, (-12.0, 0.0), order=1, mode="wrap")
    reg = register_translation(ref, mov, max_shift=5)
    assert reg.at_limit


def test_coarse_xcorr_recovers_shifts_within_1px_at_known_axis(small_axis_series, gauge_rmse):
    s = small_axis_series
    shifts, peaks = coarse_align(s.raw.data, s.raw.angles_deg, tilt_axis_deg=s.axis_deg)
    assert gauge_rmse(shifts, s.shifts_dydx, s.raw.angles_deg) < 1.0
    assert peaks.min() > 0.3


def test_coarse_xcorr_warns_when_shifts_exceed_max_shift(small_axis_series, caplog):
    s = small_axis_series
    with caplog.at_level(logging.WARNING, logger="tomoml.align.xcorr"):
        coarse_align(s.raw.data, s.raw.angles_deg, tilt_axis_deg=s.axis_deg, max_shift=2)
    assert "beyond the search range" in caplog.text


@pytest.mark.parametrize(("which", "hint"), [("small", 0.0), ("stem", 90.0)])
def test_common_line_estimate_within_5_deg_for_any_axis(which, hint, request):
    s = request.getfixturevalue(f"{which}_axis_series")
    theta, score = estimate_tilt_axis(s.raw.data, hint_deg=hint)
    assert abs(theta - s.axis_deg) < 5.0, theta  # coarse; refine_tilt_axis searches +-10 deg
    assert score > 0.3


def test_wrap_axis_angle_picks_representative_near_hint():
    assert wrap_axis_angle(181.0, 0.0) == pytest.approx(1.0)
    assert wrap_axis_angle(-88.0, 90.0) == pytest.approx(92.0)
    assert wrap_axis_angle(45.0, 0.0) == pytest.approx(45.0)


def test_rotate_shifts_keeps_aligned_images_fixed():
    from tomoml.io.imod import XfTransforms

    img = _texture(48)[None]
    sh = np.array([[2.0, -3.0]])
    a = XfTransforms.from_alignment(sh, 10.0).apply(img, order=3)
    b0 = XfTransforms.from_alignment(rotate_shifts(sh, 2.0), 12.0).apply(img, order=3)
    # The aligned frame turns by -2 deg: undo that and compare with the first.
    b = XfTransforms.from_alignment(np.zeros((1, 2)), -2.0).apply(b0, order=3)
    c = (slice(12, -12), slice(12, -12))
    assert np.abs(a[0][c] - b[0][c]).max() < 0.05 * np.abs(a).max()


def test_cli_align_writes_stack_and_xf_and_refuses_overwrite(tmp_path, small_axis_series,
                                                            capsys):
    from tomoml import io as tio
    from tomoml.cli import main

    s = small_axis_series
    tio.write_tilt_series(s.raw, tmp_path / "t.mrc")
    tio.write_angles(s.raw.angles_deg, tmp_path / "t.tlt")
    args = ["align", str(tmp_path / "t.mrc"), "--angles", str(tmp_path / "t.tlt"),
            "-o", str(tmp_path / "t.ali"), "--xf", str(tmp_path / "t.xf"), "--method", "xcorr"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "tilt axis" in out and "reprojection residual" in out
    xf = tio.read_xf(tmp_path / "t.xf")
    shifts, theta = xf.to_alignment()
    assert abs(theta - s.axis_deg) < 1.0
    ali = tio.read_tilt_series(tmp_path / "t.ali", tmp_path / "t.tlt")
    assert ali.shape == s.raw.shape
    assert main(args) != 0  # exists, no --force


def test_fiducial_alignment_recovers_shifts_and_axis(bead_series, gauge_rmse):
    from tomoml.align import align

    s = bead_series
    r = align(s.raw, method="fiducials")
    assert gauge_rmse(r.shifts_dydx, s.shifts_dydx, s.raw.angles_deg) <= 0.3
    assert abs(r.tilt_axis_deg - s.axis_deg) <= 0.3


def test_detect_fiducials_finds_a_bead_to_a_tenth_of_a_pixel():
    from tomoml.align.fiducials import detect_fiducials

    yy, xx = np.mgrid[:48, :48]
    img = 0.05 * _texture(48) + 5 * np.exp(-((yy - 20.3) ** 2 + (xx - 30.6) ** 2) / (2 * 1.5**2))
    found = detect_fiducials(img, bead_radius_px=2.0)
    assert found.shape == (1, 2)
    assert np.allclose(found[0], (20.3, 30.6), atol=0.1), found


def test_fiducial_alignment_without_beads_is_an_input_error(small_axis_series):
    from tomoml.align.fiducials import solve_fiducial_alignment
    from tomoml.errors import InputError

    with pytest.raises(InputError, match="beads"):
        solve_fiducial_alignment(np.zeros((1, 41, 2)), small_axis_series.raw.angles_deg, (64, 64))


def test_coarse_xcorr_handles_neighbour_shifts_over_20px(gauge_rmse):
    from tomoml.synthetic import porous_particle, simulate_tilt_series

    rng = np.random.default_rng(5)
    angles = np.linspace(-60, 60, 31)
    shifts = rng.choice([-1, 1], size=(31, 2)) * rng.uniform(9, 13, size=(31, 2))
    sim = simulate_tilt_series(porous_particle((64, 64, 64), seed=5, radius=14),
                               angles_deg=angles, shifts_dydx=shifts, dose=5000.0, seed=5)
    assert np.abs(np.diff(shifts, axis=0)).max() > 20
    est, _ = coarse_align(sim.tilts.data, angles, max_shift=28)
    assert gauge_rmse(est, shifts, angles) < 1.0
