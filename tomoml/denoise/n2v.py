"""Noise2Void: blind-spot training on a single noisy volume (Krull et al., 2019), structured.

Some voxels of each patch are masked and the network is trained to predict their original
values from the rest; since it never sees the value it must predict, it cannot learn the
identity, and if nothing it sees carries that voxel's noise, it learns the signal.

With noise independent from voxel to voxel, masking the voxel alone is enough (the original
Noise2Void, ``blind_spot=0``). Reconstruction noise is not: in single-axis tilt FBP/WBP
(tilt axis y) the ramp filter anti-correlates neighbours along x and the back-projection
spreads each projection's noise over the x-z plane, so a voxel's noise is predictable from its
x-z neighbours, and the original Noise2Void learns to reproduce it (measured: +0.02 dB over
its input on a simulated FBP tomogram). Each y row, however, is reconstructed from its own detector row,
whose noise is independent of the others'. The structured blind spot (structN2V, Broaddus et
al., 2020) therefore masks the whole box over which the noise is correlated — estimated from
the volume by :func:`estimate_blind_spot` (±1–2 voxels in z, ±2 in x, 0 in y measured on
simulated FBP) —
and the network predicts the voxel from the other y rows and the farther x-z context. Where
even/odd halves can be reconstructed, Noise2Noise (:func:`tomoml.denoise.train_n2n`) needs no
assumption on the noise and remains the first choice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from tomoml.denoise.model import DenoiseModel, Normalisation
from tomoml.denoise.training import (
    TrainSettings,
    as_array,
    cut,
    fit,
    init_network,
    prepare,
    random_corners,
    random_flips,
)
from tomoml.errors import ConfigError, InputError

__all__ = ["train_n2v", "blind_spot_mask", "blind_spot_batches", "estimate_blind_spot"]

log = logging.getLogger(__name__)


def estimate_blind_spot(volume, *, threshold: float = 0.1, sigma: float = 2.0,
                        max_extent: int = 6, max_voxels: int = 96**3) -> tuple[int, int, int]:
    """Estimate the extent ``(kz, ky, kx)`` over which the noise of a volume is correlated.

    The noise is taken as the high-pass residual ``v - gaussian(v, sigma)`` (in a noisy
    tomogram it is mostly noise); its autocorrelation, normalised to 1 at lag 0, is read along
    z, y and x, and the extent along an axis is the number of consecutive lags ``1, 2, ...``
    at which its magnitude is at least ``threshold`` (negative correlation, as the ramp filter
    of FBP gives along x, makes a voxel's noise just as predictable from its neighbours).

    Parameters
    ----------
    volume : (z, y, x) ndarray or Volume
        The noisy volume.
    threshold : float
        Correlation below which neighbours count as independent.
    sigma : float
        Gaussian (voxels) whose smoothed copy is subtracted; the residual keeps the noise at
        scales below ``sigma`` and little of a smooth signal.
    max_extent : int
        Upper bound on each extent.
    max_voxels : int
        A larger volume is estimated on its central box of about this many voxels.

    Returns
    -------
    (kz, ky, kx) tuple of int
        Voxels on each side of a voxel over which its noise is correlated; ``(0, 0, 0)`` for
        noise independent from voxel to voxel. For single-axis tilt FBP (tilt axis y) ``ky``
        is 0: each y row is reconstructed from its own projection rows.

    References
    ----------
    Broaddus, C. et al. (2020) Removing structured noise with self-supervised blind-spot
    networks. ISBI 2020, 159-163.
    """
    from scipy import ndimage as ndi

    from tomoml.data import Volume

    v = volume.data if isinstance(volume, Volume) else np.asarray(volume)
    if v.ndim != 3:
        raise InputError(f"volume: expected a (z, y, x) array, got shape {v.shape}")
    if v.size > max_voxels:  # a central box keeps the FFT cheap on a large tomogram
        side = max_voxels ** (1 / 3)
        box = [min(n, max(16, int(side))) for n in v.shape]
        v = v[tuple(slice((n - b) // 2, (n - b) // 2 + b) for n, b in zip(v.shape, box, strict=True))]
    v = v.astype(np.float64)
    r = v - ndi.gaussian_filter(v, sigma, mode="reflect")
    r -= r.mean()
    # Wiener-Khinchin: the autocorrelation is the inverse FFT of the power spectrum; padding
    # to twice the size makes it linear (no wrap-around across opposite faces).
    pad = [2 * n for n in r.shape]
    f = np.fft.rfftn(r, s=pad, axes=(0, 1, 2))
    acf = np.fft.irfftn(np.abs(f) ** 2, s=pad, axes=(0, 1, 2))
    if not acf[0, 0, 0] > 0:
        return (0, 0, 0)
    counts = np.fft.irfftn(np.abs(np.fft.rfftn(np.ones(r.shape), s=pad, axes=(0, 1, 2))) ** 2,
                           s=pad, axes=(0, 1, 2))
    acf = acf / np.maximum(counts, 1.0)  # mean product per pair of voxels at each lag
    acf /= acf[0, 0, 0]
    extent = []
    for axis in range(3):
        lags = [0, 0, 0]
        k = 0
        while k < min(max_extent, r.shape[axis] // 4):
            lags[axis] = k + 1
            if abs(acf[tuple(lags)]) < threshold:
                break
            k += 1
        extent.append(k)
    return tuple(int(k) for k in extent)


def blind_spot_mask(rng: np.random.Generator, patches: np.ndarray, *, cell: int = 4,
                    radius: int | None = 2,
                    extent: Sequence[int] = (0, 0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """Mask voxels of each patch on a stratified grid; the loss is computed at them only.

    With ``extent = (0, 0, 0)`` (the original Noise2Void) one voxel per ``cell``³ block is
    replaced by another voxel's value. With an extent (structured Noise2Void), the whole box of
    ``(2 kz + 1, 2 ky + 1, 2 kx + 1)`` voxels around each masked voxel — the neighbourhood over
    which its noise is correlated, see :func:`estimate_blind_spot` — is replaced by values of
    random voxels anywhere in the patch, so that nothing left in the input carries that voxel's
    noise; the grid spacing along each axis is then ``cell + 2 k``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the masked positions and replacement offsets.
    patches : (B, z, y, x) ndarray
        Patches; not modified.
    cell : int
        One voxel is masked in every block of ``cell + 2 k`` voxels along each axis
        (stratified: ``1 / cell**3`` of the voxels when the extent is 0).
    radius : int, optional
        Single-voxel masking only: the replacement comes from the ``(2 radius + 1)``³
        neighbourhood, never the voxel itself (the original Noise2Void). ``None``: from a random
        voxel anywhere in the patch.
    extent : (kz, ky, kx) sequence of int
        Half-size of the masked box around each masked voxel; ``(0, 0, 0)``: one voxel.

    Returns
    -------
    masked : (B, z, y, x) ndarray
        The patches with the masked voxels (and their boxes) replaced.
    mask : (B, z, y, x) ndarray of float32
        1 at the masked voxels (where the loss is computed), 0 elsewhere (also in the boxes).
    """
    b, *shape = patches.shape
    shape = np.asarray(shape)
    ext = np.asarray([int(k) for k in extent])
    if ext.shape != (3,) or (ext < 0).any():
        raise ConfigError(f"blind-spot extent must be three integers >= 0 (z, y, x), got {extent}")
    structured = bool(ext.any())
    if not structured and radius is not None and np.any(shape < 2 * radius + 1):
        raise ConfigError(f"patch {tuple(shape)} too small for the blind-spot radius {radius}")
    if np.any(shape < 2 * ext + 1):
        raise ConfigError(f"patch {tuple(shape)} too small for the blind-spot extent {tuple(ext)}")
    step = int(cell) + 2 * ext
    grids = [np.arange(0, n, s) for n, s in zip(shape, step, strict=True)]
    base = np.stack(np.meshgrid(*grids, indexing="ij"), axis=-1).reshape(-1, 3)
    n_cells = base.shape[0]
    pos = base[None] + rng.integers(0, step, size=(b, n_cells, 3))
    pos = np.minimum(pos, shape - 1)
    bi = np.repeat(np.arange(b), n_cells)
    p = pos.reshape(-1, 3)
    masked = patches.copy()
    if structured:
        # every voxel of each box, clipped to the patch (duplicates at the border are harmless)
        offs = np.stack(np.meshgrid(*[np.arange(-k, k + 1) for k in ext], indexing="ij"),
                        axis=-1).reshape(-1, 3)
        boxes = np.clip(p[:, None, :] + offs[None], 0, shape - 1).reshape(-1, 3)
        bb = np.repeat(bi, offs.shape[0])
        src = rng.integers(0, shape, size=boxes.shape)
        masked[bb, boxes[:, 0], boxes[:, 1], boxes[:, 2]] = \
            patches[bb, src[:, 0], src[:, 1], src[:, 2]]
    else:
        if radius is None:
            src = rng.integers(0, shape, size=pos.shape)
        else:
            offs = rng.integers(-radius, radius + 1, size=(b, n_cells, 3))
            zero = ~offs.any(axis=-1)
            while zero.any():
                offs[zero] = rng.integers(-radius, radius + 1, size=(int(zero.sum()), 3))
                zero = ~offs.any(axis=-1)
            src = pos + offs
            src = np.where((src < 0) | (src >= shape), pos - offs, src)  # reflect at the border
        same = (src == pos).all(axis=-1)
        src[same] = (src[same] + 1) % shape  # never the voxel itself
        s = src.reshape(-1, 3)
        masked[bi, p[:, 0], p[:, 1], p[:, 2]] = patches[bi, s[:, 0], s[:, 1], s[:, 2]]
    mask = np.zeros(patches.shape, np.float32)
    mask[bi, p[:, 0], p[:, 1], p[:, 2]] = 1.0
    return masked, mask


def blind_spot_batches(volume: np.ndarray, patch: Sequence[int], *, cell: int = 4,
                       radius: int | None = 2, extent: Sequence[int] = (0, 0, 0)):
    """A batch maker of Noise2Void triples (masked patch, original patch, mask)."""

    def make_batch(rng: np.random.Generator, region, n: int, augment: bool):
        corners = random_corners(rng, region, patch, n)
        flips = random_flips(rng, n) if augment else np.zeros((n, 3), bool)
        clean = np.stack([cut(volume, c, patch, f) for c, f in zip(corners, flips, strict=True)])
        masked, mask = blind_spot_mask(rng, clean, cell=cell, radius=radius, extent=extent)
        return masked[:, None], clean[:, None], mask[:, None]

    return make_batch


def _as_extent(blind_spot) -> tuple[int, int, int]:
    if np.isscalar(blind_spot):
        blind_spot = (blind_spot,) * 3
    try:
        ext = tuple(int(k) for k in blind_spot)
    except (TypeError, ValueError):
        ext = ()
    if len(ext) != 3 or min(ext) < 0:
        raise ConfigError(f"blind_spot must be 'auto', one integer or three (kz, ky, kx), each "
                          f">= 0, got {blind_spot!r}")
    return ext


def train_n2v(volume, *, epochs: int = TrainSettings.epochs,
              steps_per_epoch: int = TrainSettings.steps_per_epoch,
              patch: int | Sequence[int] | None = None, batch: int = TrainSettings.batch,
              lr: float = TrainSettings.lr, val_fraction: float = TrainSettings.val_fraction,
              patience: int = TrainSettings.patience, seed: int = 0, device: str = "auto",
              max_minutes: float | None = None,
              channels: Sequence[int] = (16, 32, 64), num_res_units: int = 1,
              residual: bool = False,
              blind_spot: str | int | Sequence[int] = "auto", cell: int = 4,
              radius: int | None = 2, model: DenoiseModel | None = None) -> DenoiseModel:
    """Train a Noise2Void (blind-spot) denoiser on a single noisy volume.

    Parameters
    ----------
    volume : (z, y, x) ndarray or Volume
        The noisy reconstruction.
    epochs, steps_per_epoch, batch, lr, val_fraction, patience, max_minutes, patch, seed, device
    channels, num_res_units
        As in :func:`tomoml.denoise.train_n2n`.
    residual : bool
        Off by default: a residual network sees the replaced value at the masked voxel through
        the skip and would learn to copy the neighbour.
    blind_spot : "auto", int or (kz, ky, kx)
        Half-size of the masked box around each masked voxel (structured Noise2Void, see
        :func:`blind_spot_mask`). ``"auto"`` (default): estimated from the volume by
        :func:`estimate_blind_spot` (the extent of the noise's correlation: ``(0, 0, 0)`` for
        independent noise, ``(1, 0, 2)`` or ``(2, 0, 2)`` on simulated FBP tomograms), reduced
        to fit the patch. ``0``: the original single-voxel Noise2Void.
    cell, radius
        Blind-spot masking, see :func:`blind_spot_mask`.
    model : DenoiseModel, optional
        Start from this model (fine-tuning).

    Returns
    -------
    DenoiseModel
    """
    from tomoml._device import resolve_device

    v = as_array(volume, "volume")
    settings = TrainSettings(epochs=int(epochs), steps_per_epoch=int(steps_per_epoch),
                             batch=int(batch), lr=float(lr), val_fraction=float(val_fraction),
                             patience=int(patience), seed=int(seed), max_minutes=max_minutes)
    architecture, patch, regions = prepare(model, patch, v.shape, settings, channels, num_res_units,
                                          residual)
    norm = Normalisation.of(v)
    data = norm.apply(v)

    estimated = isinstance(blind_spot, str)
    if estimated:
        if blind_spot != "auto":
            raise ConfigError(f"blind_spot must be 'auto', one integer or three, got {blind_spot!r}")
        extent = estimate_blind_spot(data)
        fit_ = tuple(min(k, (p - 1) // 2) for k, p in zip(extent, patch, strict=True))
        if fit_ != extent:
            log.warning("n2v: estimated blind-spot extent %s reduced to %s to fit the patch %s",
                        extent, fit_, tuple(patch))
            extent = fit_
        log.info("n2v: blind-spot extent (z, y, x) estimated from the data: %s", extent)
    else:
        extent = _as_extent(blind_spot)
    make_batch = blind_spot_batches(data, patch, cell=cell, radius=radius, extent=extent)

    dev = resolve_device(device, engine="torch")
    net = init_network(architecture, settings.seed,
                       init_from=None if model is None else model.network)
    net, record = fit(net, make_batch, regions, settings, device=dev, desc="n2v training")
    record["data_shape"] = list(v.shape)
    record["validation_axis"] = regions.axis
    record["blind_spot"] = {"extent_zyx": list(extent), "estimated": estimated,
                            "cell": int(cell),
                            "radius": None if radius is None else int(radius)}
    record["fine_tuned_from"] = None if model is None else model.training.get("data_shape")
    return DenoiseModel(network=net, architecture=architecture, method="n2v", patch=patch,
                        normalisation=norm, training=record)
