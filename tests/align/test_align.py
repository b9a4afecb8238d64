"""End-to-end alignment on simulated series with known shifts and tilt-axis angle."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from tomoml.align import align, check_tilt_series
from tomoml.data import TiltSeries
from tomoml.errors import ConfigError, InputError
from tomoml.io.imod import XfTransforms


def _reconstruction_correlation(raw: TiltSeries, xf, true_xf) -> float:
    """Correlation of the reconstructions (tomoml.reconstruct, FBP) of the raw series with our
    .xf and with the true one, after moving ours by the rigid translation that no aligner can
    know."""
    from tomoml.reconstruct import reconstruct

    ts = raw.replace(tilt_axis_deg=0.0)
    rec = reconstruct(ts, "fbp", xf=xf).data
    rec_true = reconstruct(ts, "fbp", xf=true_xf).data
    shift, _, _ = phase_cross_correlation(rec_true, rec, upsample_factor=10)
    rec = ndimage.shift(rec, shift, order=1)
    c = tuple(slice(8, -8) for _ in range(3))
    return float(np.corrcoef(rec[c].ravel(), rec_true[c].ravel())[0, 1])


@pytest.fixture(scope="module")
def small_axis_result(small_axis_series):
    s = small_axis_series
    return align(s.raw.replace(tilt_axis_deg=0.0))


@pytest.fixture(scope="module")
def stem_axis_result(stem_axis_series):
    s = stem_axis_series
    return align(s.raw.replace(tilt_axis_deg=90.0))


@pytest.mark.parametrize("which", ["small", "stem"])
def test_align_recovers_shifts_within_half_pixel(which, request, gauge_rmse):
    s = request.getfixturevalue(f"{which}_axis_series")
    r = request.getfixturevalue(f"{which}_axis_result")
    rmse = gauge_rmse(r.shifts_dydx, s.shifts_dydx, s.raw.angles_deg)
    assert rmse <= 0.5, rmse


@pytest.mark.parametrize("which", ["small", "stem"])
def test_align_recovers_tilt_axis_within_0p3_deg(which, request):
    s = request.getfixturevalue(f"{which}_axis_series")
    r = request.getfixturevalue(f"{which}_axis_result")
    assert abs(r.tilt_axis_deg - s.axis_deg) <= 0.3, (r.tilt_axis_deg, s.axis_deg)


@pytest.mark.parametrize("which", ["small", "stem"])
def test_reconstruction_with_xf_matches_unshifted_within_2_percent(which, request):
    s = request.getfixturevalue(f"{which}_axis_series")
    r = request.getfixturevalue(f"{which}_axis_result")
    true_xf = XfTransforms.from_alignment(s.shifts_dydx, s.axis_deg)
    corr = _reconstruction_correlation(s.raw, r.xf, true_xf)
    assert corr >= 0.98, corr


def test_aligned_stack_is_xf_applied_to_raw(small_axis_series, small_axis_result):
    r = small_axis_result
    again = r.xf.apply(small_axis_series.raw.data, order=3)
    assert np.allclose(again, r.aligned.data, atol=1e-4)
    shifts, theta = r.xf.to_alignment()
    assert np.allclose(shifts, r.shifts_dydx) and theta == pytest.approx(r.tilt_axis_deg)
    assert r.aligned.tilt_axis_deg == 0.0


def test_projection_matching_converges_with_report(small_axis_result):
    hist = small_axis_result.history
    assert len(hist) >= 2
    assert hist[-1].rms_update_px < 0.1
    assert {h.binning for h in hist} >= {1, 2}
    assert 0 < small_axis_result.residual < 0.2


def test_too_few_tilts_is_an_input_error(small_axis_series):
    raw = small_axis_series.raw
    few = TiltSeries(raw.data[:4], raw.angles_deg[:4])
    with pytest.raises(InputError, match="at least 5"):
        align(few)


def test_blank_image_is_an_input_error_naming_it(small_axis_series):
    raw = small_axis_series.raw
    data = raw.data.copy()
    data[7] = 3.0
    with pytest.raises(InputError, match="7"):
        check_tilt_series(raw.replace(data=data))


def test_unknown_method_is_a_config_error(small_axis_series):
    with pytest.raises(ConfigError, match="method"):
        align(small_axis_series.raw, method="magic")
