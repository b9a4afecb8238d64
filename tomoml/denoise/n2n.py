"""Noise2Noise on two independent half-dose reconstructions (even/odd tilts or frames).

As in cryoCARE (Buchholz et al., 2019): the even and odd halves of a tilt series are
reconstructed separately; they show the same object with independent noise, so a network
trained to predict one half from the other learns the expected signal and no noise
(Lehtinen et al., 2018). Unlike Noise2Void this also removes spatially correlated noise
(the FBP ramp-filter texture and streaks), because the two halves' noise is independent.
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
from tomoml.errors import InputError

__all__ = ["train_n2n", "pair_batches"]

#: Noise2Noise trains longer than TrainSettings' defaults (Noise2Void keeps 60 epochs of 25
#: steps with patience 6: it got worse when trained longer). Its target is the other half's
#: noise, a floor under the loss that at low dose is nearly all of it: on the 128³ gyroid at
#: 10 e⁻/px per tilt the validation loss fell only from 0.987 to 0.9835 (normalised units) and
#: was still falling by ~1e-5 an epoch when a relative threshold of 1e-4 had counted 20 epochs
#: without progress. So any lower validation loss counts (N2N_MIN_IMPROVEMENT), and the
#: schedule is long: at most 160 epochs of 50 steps, patience 40. Measured with
#: benchmarks/denoise.py (2 CPU threads, flip average, PSNR against the noiseless FBP) on the
#: gyroid at 10 e⁻/px: 22.98 dB with 60 epochs, patience 20 and the 1e-4 threshold (stopped
#: at 53); 23.17 with threshold 0 (60 epochs); 23.37 with up to 100 (stopped at 89); 23.79 dB
#: with 160 and patience 40 (best epoch 155, 7.1 min with channels-last convolutions) — the
#: Gaussian filter's best is 22.26 dB. On the porous particle at 10 e⁻/px threshold 0 alone
#: gave 35.23 instead of 34.87 dB. A cosine learning-rate decay over 60 epochs (23.11) and a
#: moving average of the weights (22.78) did not help.
N2N_EPOCHS = 160
N2N_STEPS_PER_EPOCH = 50
N2N_PATIENCE = 40
N2N_MIN_IMPROVEMENT = 0.0


def pair_batches(even: np.ndarray, odd: np.ndarray, patch: Sequence[int]):
    """A batch maker of Noise2Noise pairs: the same box, with the same flips, from both halves.

    Each pair goes even -> odd or odd -> even at random, so the network sees both halves as
    input and as target (the halves are exchangeable).
    """

    def make_batch(rng: np.random.Generator, region, n: int, augment: bool):
        corners = random_corners(rng, region, patch, n)
        flips = random_flips(rng, n) if augment else np.zeros((n, 3), bool)
        direction = rng.integers(0, 2, size=n)  # 0: even -> odd, 1: odd -> even
        halves = (even, odd)
        xs = np.stack([cut(halves[d], c, patch, f)
                       for d, c, f in zip(direction, corners, flips, strict=True)])
        ys = np.stack([cut(halves[1 - d], c, patch, f)
                       for d, c, f in zip(direction, corners, flips, strict=True)])
        return xs[:, None], ys[:, None], None

    return make_batch


def train_n2n(even, odd, *, epochs: int = N2N_EPOCHS,
              steps_per_epoch: int = N2N_STEPS_PER_EPOCH,
              patch: int | Sequence[int] | None = None, batch: int = TrainSettings.batch,
              lr: float = TrainSettings.lr, val_fraction: float = TrainSettings.val_fraction,
              patience: int = N2N_PATIENCE, seed: int = 0, device: str = "auto",
              max_minutes: float | None = None,
              channels: Sequence[int] = (16, 32, 64), num_res_units: int = 1,
              residual: bool = False,
              model: DenoiseModel | None = None) -> DenoiseModel:
    """Train a Noise2Noise denoiser on the even/odd half reconstructions of one tomogram.

    Random patch pairs at the same place in both halves train the network to map even to odd
    and odd to even (each batch mixes both directions), with random flips along z, y and x.

    Parameters
    ----------
    even, odd : (z, y, x) ndarray or Volume
        Reconstructions from the even and the odd tilts (or frames): same geometry,
        independent noise.
    epochs, steps_per_epoch, batch, lr, val_fraction, patience, max_minutes
        See :class:`tomoml.denoise.training.TrainSettings`; here at most 160 epochs of 50 steps
        and a patience of 40 epochs by default (``N2N_EPOCHS``, ``N2N_STEPS_PER_EPOCH``,
        ``N2N_PATIENCE``), and any decrease of the validation loss counts
        (``N2N_MIN_IMPROVEMENT``). About 7 minutes on 2 CPU cores, whatever the volume's size.
    patch : int or (3,) ints, optional
        Training patch ``(z, y, x)``, multiples of 4; default 32 (or the fine-tuned model's).
        Axes shorter than the patch are fitted to the volume.
    seed : int
        Seeds everything random in training; the same seed gives the same model on a CPU.
    device : {"auto", "cpu", "cuda"}
        Where to train; ``"auto"`` uses a CUDA GPU when there is one (with mixed precision).
    channels : sequence of int
        Feature channels per U-Net level (MONAI ``UNet``, stride 2 between levels).
    num_res_units : int
        Residual units per level of the MONAI ``UNet`` (1: two convolutions per level).
    residual : bool
        Predict a correction added to the input (trains faster than predicting the volume).
    model : DenoiseModel, optional
        Start from this model's weights, architecture and patch (fine-tuning).

    Returns
    -------
    DenoiseModel
        The trained model (weights of the epoch with the lowest validation loss).

    Examples
    --------
    >>> model = train_n2n(even, odd, epochs=20, seed=0)          # doctest: +SKIP
    >>> clean = model.predict(even=even, odd=odd)                # doctest: +SKIP
    """
    from tomoml._device import resolve_device

    e = as_array(even, "even")
    o = as_array(odd, "odd")
    if e.shape != o.shape:
        raise InputError(f"even {e.shape} and odd {o.shape} half volumes must have the same shape")
    settings = TrainSettings(epochs=int(epochs), steps_per_epoch=int(steps_per_epoch),
                             batch=int(batch), lr=float(lr), val_fraction=float(val_fraction),
                             patience=int(patience), seed=int(seed), max_minutes=max_minutes,
                             min_improvement=N2N_MIN_IMPROVEMENT)
    architecture, patch, regions = prepare(model, patch, e.shape, settings, channels, num_res_units,
                                          residual)
    norm = Normalisation.of(e, o)
    halves = (norm.apply(e), norm.apply(o))

    make_batch = pair_batches(*halves, patch)

    dev = resolve_device(device, engine="torch")
    net = init_network(architecture, settings.seed,
                       init_from=None if model is None else model.network)
    net, record = fit(net, make_batch, regions, settings, device=dev, desc="n2n training")
    record["data_shape"] = list(e.shape)
    record["validation_axis"] = regions.axis
    record["fine_tuned_from"] = None if model is None else model.training.get("data_shape")
    return DenoiseModel(network=net, architecture=architecture, method="n2n", patch=patch,
                        normalisation=norm, training=record)
