"""simulate_tilt_series: geometry, noise statistics, even/odd consistency, known misalignment."""

import numpy as np
import pytest
from scipy import ndimage

from tomoml.errors import ConfigError
from tomoml.reconstruct import forward_project
from tomoml.synthetic import porous_particle, simulate_tilt_series, tilt_angles


@pytest.fixture(scope="module")
def particle():
    return porous_particle((40, 48, 48), seed=0)


def _corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_tilt_angles_include_both_ends():
    a = tilt_angles((-60, 60, 2))
    assert a.size == 61 and a[0] == -60 and a[-1] == 60
    assert tilt_angles((-70, 70, 1)).size == 141
    with pytest.raises(ConfigError, match="within -90..90"):
        tilt_angles((-95, 60, 2))
    with pytest.raises(ConfigError, match="step > 0"):
        tilt_angles((-60, 60, 0))


def test_noiseless_series_equals_forward_projection(particle):
    sim = simulate_tilt_series(particle, tilt_range=(-60, 60, 15))
    expected = forward_project(particle.volume, np.arange(-60, 61, 15.0))
    np.testing.assert_array_equal(sim.tilts.data, expected)
    np.testing.assert_array_equal(sim.ideal, expected)
    assert sim.even is sim.tilts and sim.odd is sim.tilts


def test_noiseless_blur_is_a_gaussian_filter_of_each_image(particle):
    sim = simulate_tilt_series(particle, tilt_range=(-30, 30, 30), blur_sigma=1.5)
    expected = ndimage.gaussian_filter(sim.ideal, (0, 1.5, 1.5), mode="nearest")
    np.testing.assert_allclose(sim.tilts.data, expected, atol=1e-4)


def test_counts_are_poisson_with_the_dose():
    # a uniform slab: every pixel of every (0 degree) image has the same expected count
    vol = np.full((16, 32, 32), 0.05, np.float32)
    dose, mu = 400.0, 1.0
    sim = simulate_tilt_series(vol, angles_deg=np.zeros(20), dose=dose, contrast=mu, seed=1)
    expected = dose * np.exp(-mu * 16 * 0.05)
    counts = dose * np.exp(-mu * sim.tilts.data.astype(np.float64))
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-2 * expected)  # integers
    assert counts.mean() == pytest.approx(expected, rel=0.005)
    assert counts.var() == pytest.approx(expected, rel=0.05)  # Poisson: variance = mean
    half = dose / 2 * np.exp(-mu * sim.even.data.astype(np.float64))
    assert half.var() == pytest.approx(expected / 2, rel=0.05)


def test_projection_noise_falls_as_one_over_sqrt_dose():
    vol = np.zeros((8, 32, 32), np.float32)
    stds = [simulate_tilt_series(vol, angles_deg=np.zeros(10), dose=d, contrast=0.5,
                                 seed=0).tilts.data.std() for d in (100.0, 1600.0)]
    # std of -log(N/dose)/mu ~ 1/(mu sqrt(dose)): 16x the dose, a quarter of the noise
    assert stds[0] == pytest.approx(1 / (0.5 * np.sqrt(100)), rel=0.05)
    assert stds[0] / stds[1] == pytest.approx(4.0, rel=0.05)


def test_full_series_counts_are_even_plus_odd_counts(particle):
    sim = simulate_tilt_series(particle, tilt_range=(-60, 60, 20), dose=300, seed=3)
    mu, dose = sim.contrast, sim.dose
    n_full = dose * np.exp(-mu * sim.tilts.data.astype(np.float64))
    n_even = dose / 2 * np.exp(-mu * sim.even.data.astype(np.float64))
    n_odd = dose / 2 * np.exp(-mu * sim.odd.data.astype(np.float64))
    np.testing.assert_allclose(n_full, n_even + n_odd, rtol=1e-4, atol=1e-3)


def test_even_and_odd_noise_are_independent_and_unbiased(particle):
    sim = simulate_tilt_series(particle, tilt_range=(-60, 60, 10), dose=2000, seed=4)
    ne, no = sim.even.data - sim.ideal, sim.odd.data - sim.ideal
    assert abs(_corr(ne, no)) < 0.03
    assert _corr(sim.even.data, sim.odd.data) > 0.9
    assert abs(float(ne.mean())) < 0.05 * float(ne.std())


def test_default_contrast_lets_the_thickest_ray_transmit_exp_minus_one(particle):
    sim = simulate_tilt_series(particle, tilt_range=(-60, 60, 30))
    assert np.exp(-sim.contrast * sim.ideal.max()) == pytest.approx(np.exp(-1), rel=1e-6)


@pytest.mark.parametrize("axis", [5.0, 90.0])
def test_true_xf_maps_the_raw_images_back_to_the_ideal_ones(axis):
    p = porous_particle((48, 64, 64), seed=1, radius=18)
    n = 7
    shifts = np.array([[10.0, -10.0], [-10.0, 10.0], [10.0, 10.0], [0.0, 0.0],
                       [-10.0, -10.0], [5.0, -7.0], [-3.0, 8.0]])
    sim = simulate_tilt_series(p, tilt_range=(-60, 60, 20), shifts_dydx=shifts,
                               tilt_axis_deg=axis, seed=0)
    assert sim.tilts.n_tilts == n
    raw = sim.tilts.data
    assert _corr(raw, sim.ideal) < 0.9  # really misaligned
    aligned = sim.true_xf.apply(raw)
    inner = (slice(None), slice(12, -12), slice(12, -12))
    for i in range(n):
        assert _corr(aligned[i][inner[1:]], sim.ideal[i][inner[1:]]) > 0.99, i
    np.testing.assert_array_equal(sim.true_shifts_dydx, shifts)


def test_tilt_axis_truth_is_kept_while_the_series_says_zero(particle):
    sim = simulate_tilt_series(particle, tilt_range=(-60, 60, 30), tilt_axis_deg=12.5)
    assert sim.tilts.tilt_axis_deg == 0.0 and sim.even.tilt_axis_deg == 0.0
    assert sim.true_tilt_axis_deg == 12.5
    shifts, axis = sim.true_xf.to_alignment()
    assert axis == pytest.approx(12.5)


def test_random_shifts_are_zero_mean_with_the_given_sigma(particle):
    sim = simulate_tilt_series(particle, tilt_range=(-70, 70, 0.5), shift_sigma=3.0, seed=2)
    s = sim.true_shifts_dydx
    np.testing.assert_allclose(s.mean(axis=0), 0.0, atol=1e-9)
    assert s.std(axis=0) == pytest.approx([3.0, 3.0], rel=0.15)


def test_same_seed_same_series_other_seed_other_noise(particle):
    kw = dict(tilt_range=(-60, 60, 30), dose=100, shift_sigma=2.0)
    a = simulate_tilt_series(particle, seed=7, **kw)
    b = simulate_tilt_series(particle, seed=7, **kw)
    c = simulate_tilt_series(particle, seed=8, **kw)
    np.testing.assert_array_equal(a.tilts.data, b.tilts.data)
    np.testing.assert_array_equal(a.true_shifts_dydx, b.true_shifts_dydx)
    assert not np.array_equal(a.tilts.data, c.tilts.data)


def test_pixel_size_travels_into_the_series(particle):
    sim = simulate_tilt_series(particle, tilt_range=(-60, 60, 60), pixel_size_A=3.2)
    assert sim.tilts.pixel_size_A == sim.even.pixel_size_A == 3.2


@pytest.mark.parametrize("kw, match", [
    (dict(dose=-5), "dose"), (dict(shift_sigma=-1), "shift_sigma"),
    (dict(blur_sigma=float("nan")), "blur_sigma"), (dict(contrast=0), "contrast"),
    (dict(shifts_dydx=np.zeros((2, 2))), "shifts_dydx"),
])
def test_bad_arguments_raise_config_errors(particle, kw, match):
    with pytest.raises(ConfigError, match=match):
        simulate_tilt_series(particle, tilt_range=(-60, 60, 60), **kw)
