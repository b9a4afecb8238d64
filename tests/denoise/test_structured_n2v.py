"""Structured Noise2Void: the extent estimate, the masked boxes, and a gain on an FBP tomogram."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi


def _ramp(n: int = 20) -> np.ndarray:
    return np.arange(n**3, dtype=np.float32).reshape(n, n, n)


def test_estimated_extent_is_zero_for_white_noise():
    from tomoml.denoise import estimate_blind_spot

    w = np.random.default_rng(0).normal(size=(48, 48, 48)).astype(np.float32)
    assert estimate_blind_spot(w) == (0, 0, 0)


def test_noise_smoothed_along_x_only_extends_along_x_only():
    from tomoml.denoise import estimate_blind_spot

    w = np.random.default_rng(1).normal(size=(48, 48, 48)).astype(np.float32)
    # Gaussian sigma 1 along x: correlation exp(-d^2/4) = 0.78, 0.37, 0.105, 0.018 at d = 1..4,
    # the high-pass residual lowers it slightly: above 0.1 up to lag 2.
    kz, ky, kx = estimate_blind_spot(ndi.gaussian_filter1d(w, 1.0, axis=2))
    assert (kz, ky) == (0, 0) and kx == 2
    assert estimate_blind_spot(ndi.gaussian_filter1d(w, 1.0, axis=0)) == (2, 0, 0)


def test_structured_mask_replaces_the_whole_box_and_scores_only_its_centre():
    from tomoml.denoise import blind_spot_mask

    n = 24
    v = _ramp(n)[None]
    masked, mask = blind_spot_mask(np.random.default_rng(0), v, cell=4, extent=(1, 0, 2))
    centres = np.argwhere(mask[0] > 0)
    # grid spacing cell + 2k: 6 along z, 4 along y, 8 along x -> 4 x 6 x 3 centres
    assert len(centres) == 4 * 6 * 3
    changed = masked[0] != v[0]
    for z, y, x in centres:
        box = changed[max(z - 1, 0):z + 2, y, max(x - 2, 0):x + 3]
        assert box.mean() > 0.9  # replaced (a random source may rarely be the voxel itself)
    # nothing outside the boxes is touched, and the loss mask is the centres only
    inside = ndi.binary_dilation(mask[0] > 0, structure=np.ones((3, 1, 5), bool))
    assert not changed[~inside].any()
    assert mask.sum() == len(centres)
    # replacements come from anywhere in the patch, not from the neighbourhood
    src = masked[0][inside & changed].astype(int)
    dst = v[0][inside & changed].astype(int)
    assert np.mean(np.abs(src // (n * n) - dst // (n * n)) > 2) > 0.5


def test_zero_extent_is_the_original_single_voxel_mask():
    from tomoml.denoise import blind_spot_mask

    v = _ramp(16)[None]
    a = blind_spot_mask(np.random.default_rng(3), v, cell=4, radius=2)
    b = blind_spot_mask(np.random.default_rng(3), v, cell=4, radius=2, extent=(0, 0, 0))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_bad_blind_spot_is_a_config_error(noisy_case):
    from tomoml.denoise import blind_spot_mask, train_n2v
    from tomoml.errors import ConfigError

    with pytest.raises(ConfigError, match="extent"):
        blind_spot_mask(np.random.default_rng(0), _ramp(8)[None], extent=(5, 0, 0))
    with pytest.raises(ConfigError, match="blind_spot"):
        train_n2v(noisy_case[1], blind_spot=(1, 2))
    with pytest.raises(ConfigError, match="blind_spot"):
        train_n2v(noisy_case[1], blind_spot="wide")


@pytest.fixture(scope="module")
def fbp_case():
    """(noisy FBP, noiseless FBP) of a 48^3 porous particle, ±60°/2°, dose 50 e/px/tilt."""
    from tomoml.reconstruct import reconstruct
    from tomoml.synthetic import make_phantom, simulate_tilt_series

    n = 48
    ph = make_phantom("porous_particle", (n, n, n), seed=2)
    noisy, clean = (
        reconstruct(simulate_tilt_series(ph, tilt_range=(-60, 60, 2), dose=dose, seed=2).tilts,
                    method="fbp", thickness=n, device="cpu").data
        for dose in (50.0, None))
    return noisy, clean


def _corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_fbp_noise_extent_lies_in_xz_planes(fbp_case):
    from tomoml.denoise import estimate_blind_spot

    kz, ky, kx = estimate_blind_spot(fbp_case[0])
    # ramp filter along x, back-projection in x-z; each y row has its own projection noise
    assert ky == 0 and kx >= 1 and kz >= 1


def test_structured_n2v_denoises_fbp_where_single_voxel_n2v_does_not(fbp_case):
    from tomoml.denoise import predict, train_n2v

    noisy, clean = fbp_case
    kw = dict(epochs=20, steps_per_epoch=10, patch=24, batch=4, seed=0, device="cpu",
              val_fraction=0)
    structured = train_n2v(noisy, blind_spot="auto", **kw)
    single = train_n2v(noisy, blind_spot=0, **kw)
    assert structured.training["blind_spot"]["estimated"] is True
    assert structured.training["blind_spot"]["extent_zyx"][1] == 0
    c_in = _corr(noisy, clean)
    c_struct = _corr(predict(structured, noisy, device="cpu"), clean)
    c_single = _corr(predict(single, noisy, device="cpu"), clean)
    # measured: input 0.52, single-voxel 0.65 (it learns the correlated noise), structured 0.89
    assert c_struct > c_in + 0.25, (c_in, c_struct)
    assert c_struct > c_single + 0.15, (c_single, c_struct)


def test_estimated_extent_is_reduced_to_fit_a_small_patch():
    from tomoml.denoise import estimate_blind_spot, train_n2v

    w = np.random.default_rng(2).normal(size=(32, 32, 32)).astype(np.float32)
    v = ndi.gaussian_filter1d(w, 3.0, axis=2)
    assert estimate_blind_spot(v)[2] > 3
    m = train_n2v(v, epochs=1, steps_per_epoch=1, patch=8, batch=1, device="cpu",
                  val_fraction=0)
    assert m.training["blind_spot"]["extent_zyx"] == [0, 0, 3]  # (8 - 1) // 2
