"""Classical baselines on phantoms with a known answer."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from tests.segment.conftest import two_spheres
from tomoml.segment.classical import local_threshold, multi_otsu, otsu, watershed_split
from tomoml.segment.training import dice_per_class


def _noisy_two_phase(seed=0, noise=0.35):
    rng = np.random.default_rng(seed)
    truth = ndi.gaussian_filter(rng.standard_normal((40, 40, 40)), 3) > 0
    img = truth.astype(np.float32) * 2.0 + 5.0 + rng.normal(0, noise, truth.shape)
    return img.astype(np.float32), truth.astype(np.uint8)


def test_otsu_recovers_a_two_phase_phantom():
    img, truth = _noisy_two_phase()
    lab = otsu(img)
    assert lab.dtype == np.uint8
    assert dice_per_class(lab, truth, 2)[1] > 0.99


def test_gaussian_presmoothing_rescues_otsu_from_heavy_noise():
    img, truth = _noisy_two_phase(noise=1.5)
    raw = dice_per_class(otsu(img), truth, 2)[1]
    smoothed = dice_per_class(otsu(img, sigma=1.5), truth, 2)[1]
    assert raw < 0.8
    assert smoothed > 0.93


def test_multi_otsu_separates_three_densities():
    rng = np.random.default_rng(1)
    truth = np.zeros((32, 32, 32), np.uint8)
    truth[:, :, 11:22] = 1
    truth[:, :, 22:] = 2
    img = np.choose(truth, [0.0, 1.0, 3.0]).astype(np.float32) + rng.normal(0, 0.15, truth.shape)
    lab = multi_otsu(img.astype(np.float32), classes=3)
    assert np.mean(lab == truth) > 0.99


def test_local_threshold_follows_an_intensity_ramp_that_defeats_otsu():
    img, truth = _noisy_two_phase(noise=0.2)
    ramp = np.linspace(0, 6, img.shape[2], dtype=np.float32)[None, None, :]
    img = img + ramp
    global_dice = dice_per_class(otsu(img), truth, 2)[1]
    local_dice = dice_per_class(local_threshold(img, block_size=15), truth, 2)[1]
    assert global_dice < 0.8
    assert local_dice > 0.9


def test_watershed_splits_two_touching_spheres():
    a, b = two_spheres()
    mask = a | b
    assert ndi.label(mask)[1] == 1
    lab = watershed_split(mask, min_distance=4)
    assert lab.max() == 2
    # each sphere is (almost all) one object
    for ball in (a, b):
        ids, counts = np.unique(lab[ball], return_counts=True)
        assert counts.max() / ball.sum() > 0.95
    assert np.all((lab > 0) == mask)
