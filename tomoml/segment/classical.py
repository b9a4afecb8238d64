"""Classical segmentation baselines (scikit-image): global and local thresholds, watershed.

All functions take a ``(z, y, x)`` density volume (material bright) and return labels:
``uint8`` phases for thresholds (0 = pore / background), ``int32`` object ids for the
watershed. ``sigma`` applies a Gaussian pre-smoothing (in voxels) before thresholding; noisy
tomograms need it (``best_gaussian_otsu`` finds the best one when the truth is known).
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi

from tomoml.errors import ConfigError, InputError

__all__ = [
    "otsu", "multi_otsu", "local_threshold", "watershed_split", "best_gaussian_otsu", "smooth",
    "CLASSICAL_METHODS",
]

log = logging.getLogger(__name__)

CLASSICAL_METHODS = ("otsu", "multiotsu", "local", "watershed")

_MAX_SAMPLES = 8_000_000  # voxels used to find a global threshold in a big volume


def _check(volume) -> np.ndarray:
    from tomoml.data import Volume

    arr = np.asarray(volume.data if isinstance(volume, Volume) else volume)
    if arr.ndim != 3:
        raise InputError(f"volume must be 3D (z, y, x), got shape {arr.shape}")
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"volume must hold numbers, got dtype {arr.dtype}")
    return arr


def smooth(volume: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """Gaussian smoothing with ``sigma`` voxels (float32; the input itself when ``sigma`` is 0)."""
    arr = _check(volume)
    if sigma < 0:
        raise ConfigError(f"sigma must be >= 0 voxels, got {sigma}")
    if sigma == 0:
        return arr.astype(np.float32, copy=False)
    return ndi.gaussian_filter(arr.astype(np.float32, copy=False), sigma)


def _sample(arr: np.ndarray) -> np.ndarray:
    step = max(1, int(np.ceil((arr.size / _MAX_SAMPLES) ** (1 / 3))))
    return np.asarray(arr[::step, ::step, ::step]).ravel()


def otsu(volume: np.ndarray, *, sigma: float = 0.0) -> np.ndarray:
    """Two phases by Otsu's threshold (maximum between-class variance).

    Parameters
    ----------
    volume : (z, y, x) ndarray
        Densities, material bright.
    sigma : float
        Gaussian pre-smoothing in voxels (0 = none).

    Returns
    -------
    (z, y, x) ndarray of uint8
        1 where the (smoothed) density is above the threshold, else 0.

    References
    ----------
    N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. SMC 9 (1979).
    """
    from skimage.filters import threshold_otsu

    img = smooth(volume, sigma)
    t = threshold_otsu(_sample(img))
    return (img > t).astype(np.uint8)


def multi_otsu(volume: np.ndarray, *, classes: int = 3, sigma: float = 0.0) -> np.ndarray:
    """``classes`` phases by multi-level Otsu thresholds (labels 0 .. classes-1, by density)."""
    from skimage.filters import threshold_multiotsu

    if not 2 <= classes <= 6:
        raise ConfigError(f"classes must be between 2 and 6 for multi-Otsu, got {classes}")
    img = smooth(volume, sigma)
    thresholds = threshold_multiotsu(_sample(img), classes=classes)
    return np.digitize(img, bins=thresholds).astype(np.uint8)


def local_threshold(volume: np.ndarray, *, block_size: int = 31, offset: float = 0.0,
                    sigma: float = 0.0) -> np.ndarray:
    """Two phases by a local (Gaussian-weighted mean) threshold.

    Each voxel is compared with the Gaussian-weighted mean of its ``block_size``-voxel
    neighbourhood minus ``offset``; this follows slow intensity gradients (uneven thickness,
    beam hardening, a reconstruction's cupping) that defeat one global threshold.
    """
    from skimage.filters import threshold_local

    if block_size < 3 or block_size % 2 == 0:
        raise ConfigError(f"block_size must be an odd number >= 3, got {block_size}")
    img = smooth(volume, sigma)
    t = threshold_local(img, block_size=block_size, method="gaussian", offset=offset)
    return (img > t).astype(np.uint8)


def watershed_split(binary: np.ndarray, *, min_distance: int = 3,
                    footprint: int | None = None, sigma: float = 0.0) -> np.ndarray:
    """Split touching particles: watershed of the distance transform from its peaks.

    Parameters
    ----------
    binary : (z, y, x) ndarray
        Foreground mask (nonzero = particle). Use :func:`otsu` or :func:`segment` first.
    min_distance : int
        Minimum distance in voxels between particle centres (peaks of the distance map).
    footprint : int, optional
        Edge of the cubic footprint of the peak search (default ``2 * min_distance + 1``).
    sigma : float
        Gaussian smoothing of the distance map before the peak search (suppresses spurious
        peaks on rough surfaces).

    Returns
    -------
    (z, y, x) ndarray of int32
        0 = background, 1..N = particles.
    """
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    mask = _check(binary) > 0
    if min_distance < 1:
        raise ConfigError(f"min_distance must be >= 1 voxel, got {min_distance}")
    dist = ndi.distance_transform_edt(mask).astype(np.float32)
    if sigma > 0:
        dist = ndi.gaussian_filter(dist, sigma)
    size = footprint or 2 * min_distance + 1
    comp, _ = ndi.label(mask)
    peaks = peak_local_max(dist, min_distance=min_distance, labels=comp,
                           footprint=np.ones((size,) * 3, dtype=bool), exclude_border=False)
    markers = np.zeros(mask.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    labels = watershed(-dist, markers, mask=mask)
    log.info("watershed: %d particles", len(peaks))
    return labels.astype(np.int32, copy=False)


def best_gaussian_otsu(volume: np.ndarray, truth: np.ndarray, *,
                       sigmas=(0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
                       ) -> tuple[np.ndarray, float, float]:
    """Otsu after the Gaussian that gives the best material Dice against ``truth`` (an oracle
    baseline for benchmarks). Returns ``(labels, sigma, dice)``."""
    truth = np.asarray(truth) > 0
    best = (None, 0.0, -1.0)
    for s in sigmas:
        lab = otsu(volume, sigma=s)
        p = lab > 0
        d = 2.0 * np.count_nonzero(p & truth) / max(1, p.sum() + truth.sum())
        if d > best[2]:
            best = (lab, float(s), float(d))
    return best  # type: ignore[return-value]
