"""FBP/WBP: ASTRA agreement, quantitative scale, filters and tilt weights."""

import numpy as np
import pytest
from recon_phantoms import corr

from tomoml.data import TiltSeries
from tomoml.errors import ConfigError
from tomoml.reconstruct import filter_response, forward_project, reconstruct, tilt_weights
from tomoml.reconstruct._astra import reference_slices


def test_fbp_matches_astra_cpu_fbp_within_1_percent(phantom):
    angles = np.linspace(-90, 90, 60, endpoint=False)  # full range: ASTRA's pi/n weights are right
    p = forward_project(phantom, angles)
    mine = reconstruct(TiltSeries(p, angles), "fbp", padding="zero").data
    ref = reference_slices(p, angles, phantom.shape[0], algorithm="FBP")
    assert np.linalg.norm(mine - ref) / np.linalg.norm(ref) < 0.01


def test_fbp_of_full_range_data_recovers_densities(phantom):
    angles = np.linspace(-90, 90, 90, endpoint=False)
    vol = reconstruct(TiltSeries(forward_project(phantom, angles), angles), "fbp").data
    inside = phantom > 0.5
    assert np.median(vol[inside] / phantom[inside]) == pytest.approx(1.0, abs=0.03)
    assert corr(vol, phantom) > 0.97


def test_tilt_weights_make_uneven_sampling_match_even_sampling(phantom):
    from tomoml.reconstruct.fbp import filter_projections
    from tomoml.reconstruct.sparse_cpu import SliceMatrix, SparseSlabOperator

    even = np.arange(-60, 61, 2.0)
    uneven = np.concatenate([np.arange(-60, 0, 1.0), np.arange(0, 61, 4.0)])  # dense on one side
    ref = reconstruct(TiltSeries(forward_project(phantom, even), even), "wbp").data
    p = forward_project(phantom, uneven)
    weighted = reconstruct(TiltSeries(p, uneven), "wbp").data
    # the same without the tilt weights: every tilt counts alike
    w = tilt_weights(uneven)
    q = filter_projections(p, uneven) / w[:, None, None] * w.mean()
    op = SparseSlabOperator(SliceMatrix(uneven, 64, 64), phantom.shape[1])
    flat = op.domain_to_volume(op.T(op.projections_to_range(q)))
    assert corr(weighted, ref) > 0.99
    assert corr(weighted, ref) > corr(flat, ref) + 0.01


def test_tilt_weights_follow_uneven_steps():
    w = tilt_weights([-60, -30, 0, 10, 20, 30, 60])
    expected = np.deg2rad([30, 30, 20, 10, 10, 20, 30])
    np.testing.assert_allclose(w, expected)
    # order of the input does not matter
    np.testing.assert_allclose(tilt_weights([0, -60, 60]), np.deg2rad([60, 60, 60]))


def test_windowed_filters_attenuate_high_frequencies_only():
    n_fft, ramp = filter_response(64, "ramp")
    for name in ("shepp-logan", "cosine", "hann"):
        _, h = filter_response(64, name)
        assert h[1] == pytest.approx(ramp[1], rel=0.01)
        assert h[-1] < 0.7 * ramp[-1]
    assert n_fft == 128


def test_unknown_filter_is_a_config_error(limited_series):
    with pytest.raises(ConfigError, match="filter"):
        reconstruct(limited_series, "fbp", filter="butterworth")
