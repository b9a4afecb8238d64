"""Noise2Void: blind-spot training on a single noisy volume (Krull et al., 2019).

Some voxels of each patch are replaced by a random neighbour and the network is trained to
predict their original values from the rest; since it never sees the value it must predict,
it cannot learn the identity, and with noise independent from voxel to voxel it learns the
signal. Tomographic noise is partly correlated between neighbours (ramp filter, streaks), which
Noise2Void cannot remove: use Noise2Noise on even/odd halves when they exist.
"""

from __future__ import annotations

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
from tomoml.errors import ConfigError

__all__ = ["train_n2v", "blind_spot_mask", "blind_spot_batches"]


def blind_spot_mask(rng: np.random.Generator, patches: np.ndarray, *, cell: int = 4,
                    radius: int | None = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mask one voxel per ``cell``³ block of each patch and replace it by another voxel's value.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the masked positions and replacement offsets.
    patches : (B, z, y, x) ndarray
        Patches; not modified.
    cell : int
        One voxel is masked in every ``cell``³ block (stratified: ``1 / cell**3`` of the voxels).
    radius : int, optional
        The replacement comes from the ``(2 radius + 1)``³ neighbourhood, never the voxel itself
        (the original Noise2Void). ``None``: from a random voxel anywhere in the patch, which
        carries no information on the masked voxel's noise even when the noise is correlated
        between neighbours (measured on simulated FBP tomograms: no better than ``2``, as the
        unmasked neighbours still carry that noise).

    Returns
    -------
    masked : (B, z, y, x) ndarray
        The patches with the masked voxels replaced.
    mask : (B, z, y, x) ndarray of float32
        1 at the masked voxels (where the loss is computed), 0 elsewhere.
    """
    b, *shape = patches.shape
    shape = np.asarray(shape)
    if radius is not None and np.any(shape < 2 * radius + 1):
        raise ConfigError(f"patch {tuple(shape)} too small for the blind-spot radius {radius}")
    grids = [np.arange(0, n, cell) for n in shape]
    base = np.stack(np.meshgrid(*grids, indexing="ij"), axis=-1).reshape(-1, 3)
    n_cells = base.shape[0]
    pos = base[None] + rng.integers(0, cell, size=(b, n_cells, 3))
    pos = np.minimum(pos, shape - 1)
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
    bi = np.repeat(np.arange(b), n_cells)
    p = pos.reshape(-1, 3)
    s = src.reshape(-1, 3)
    masked = patches.copy()
    masked[bi, p[:, 0], p[:, 1], p[:, 2]] = patches[bi, s[:, 0], s[:, 1], s[:, 2]]
    mask = np.zeros(patches.shape, np.float32)
    mask[bi, p[:, 0], p[:, 1], p[:, 2]] = 1.0
    return masked, mask


def blind_spot_batches(volume: np.ndarray, patch: Sequence[int], *, cell: int = 4,
                       radius: int | None = 2):
    """A batch maker of Noise2Void triples (masked patch, original patch, mask)."""

    def make_batch(rng: np.random.Generator, region, n: int, augment: bool):
        corners = random_corners(rng, region, patch, n)
        flips = random_flips(rng, n) if augment else np.zeros((n, 3), bool)
        clean = np.stack([cut(volume, c, patch, f) for c, f in zip(corners, flips, strict=True)])
        masked, mask = blind_spot_mask(rng, clean, cell=cell, radius=radius)
        return masked[:, None], clean[:, None], mask[:, None]

    return make_batch


def train_n2v(volume, *, epochs: int = TrainSettings.epochs,
              steps_per_epoch: int = TrainSettings.steps_per_epoch,
              patch: int | Sequence[int] | None = None, batch: int = TrainSettings.batch,
              lr: float = TrainSettings.lr, val_fraction: float = TrainSettings.val_fraction,
              patience: int = TrainSettings.patience, seed: int = 0, device: str = "auto",
              max_minutes: float | None = None,
              channels: Sequence[int] = (16, 32, 64), num_res_units: int = 1,
              residual: bool = False,
              cell: int = 4, radius: int | None = 2, model: DenoiseModel | None = None) -> DenoiseModel:
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

    make_batch = blind_spot_batches(data, patch, cell=cell, radius=radius)

    dev = resolve_device(device, engine="torch")
    net = init_network(architecture, settings.seed,
                       init_from=None if model is None else model.network)
    net, record = fit(net, make_batch, regions, settings, device=dev, desc="n2v training")
    record["data_shape"] = list(v.shape)
    record["validation_axis"] = regions.axis
    record["blind_spot"] = {"cell": int(cell), "radius": None if radius is None else int(radius)}
    record["fine_tuned_from"] = None if model is None else model.training.get("data_shape")
    return DenoiseModel(network=net, architecture=architecture, method="n2v", patch=patch,
                        normalisation=norm, training=record)
