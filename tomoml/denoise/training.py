"""The training loop shared by Noise2Noise and Noise2Void: patches, flips, validation, stopping.

The two methods differ only in how a batch is made (:class:`BatchMaker`); everything else —
patch sampling from a training region, a held-out validation region, flips, Adam with a
plateau schedule, early stopping on the validation loss, mixed precision on a GPU — lives here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tomoml.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    """Training settings (recorded in the model sidecar).

    Parameters
    ----------
    epochs : int
        Maximum number of epochs; each is ``steps_per_epoch`` optimiser steps.
    steps_per_epoch : int
        Optimiser steps (batches) per epoch; validation runs after each epoch.
    batch : int
        Patches per batch.
    lr : float
        Initial Adam learning rate; halved when the validation loss stops improving.
    val_fraction : float
        Fraction of the longest axis held out (a slab at its end) for validation; 0 disables
        validation and early stopping.
    val_batches : int
        Fixed validation batches drawn once from the held-out slab.
    patience : int
        Stop after this many epochs without a lower validation loss (the best weights are kept).
    min_improvement : float
        Relative decrease of the validation loss that counts as an improvement, for early
        stopping and for halving the learning rate (0: any decrease).
    seed : int
        Seeds patch positions, flips, masks and the initial weights; same seed, same model.
    max_minutes : float, optional
        Stop after the epoch during which this much wall-clock time has passed (a budget on a
        slow or shared machine; the model then depends on the machine's speed).
    """

    epochs: int = 60
    steps_per_epoch: int = 25
    batch: int = 8
    lr: float = 3e-3
    val_fraction: float = 0.1
    val_batches: int = 4
    patience: int = 6
    min_improvement: float = 1e-4
    seed: int = 0
    max_minutes: float | None = None

    def check(self) -> None:
        for name in ("steps_per_epoch", "batch", "val_batches", "patience"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if int(self.epochs) < 1:
            raise ConfigError(f"epochs must be >= 1 to train (apply a saved model without "
                              f"training instead), got {self.epochs}")
        if not (0.0 <= self.val_fraction < 0.5):
            raise ConfigError(f"val_fraction must be in [0, 0.5), got {self.val_fraction}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(f"max_minutes must be > 0, got {self.max_minutes}")
        if not (self.lr > 0):
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if not (0.0 <= self.min_improvement < 1.0):
            raise ConfigError(f"min_improvement must be in [0, 1), got {self.min_improvement}")


def as_patch(patch: int | Sequence[int], shape: Sequence[int], multiple: int) -> tuple[int, ...]:
    """Patch size ``(z, y, x)``: an int or three, each a multiple of ``multiple`` that fits.

    An axis shorter than the patch (a thin tomogram) gets the largest multiple that fits.
    """
    p = (int(patch),) * 3 if np.isscalar(patch) else tuple(int(v) for v in patch)
    if len(p) != 3 or min(p) < multiple:
        raise ConfigError(f"patch must be one size or three (z, y, x), each >= {multiple}, got {patch}")
    out = []
    for size, n in zip(p, shape, strict=True):
        size = min(size, n) // multiple * multiple
        if size < multiple:
            raise ConfigError(
                f"volume shape {tuple(shape)} is too small for this network (each axis needs "
                f">= {multiple} voxels)")
        out.append(size)
    if tuple(out) != p:
        log.info("patch %s reduced to %s to fit the volume %s", p, tuple(out), tuple(shape))
    return tuple(out)


@dataclass(frozen=True)
class Regions:
    """Training and validation boxes: a slab at the end of the longest axis is held out."""

    train: tuple[slice, slice, slice]
    val: tuple[slice, slice, slice] | None
    axis: int


def split_regions(shape: Sequence[int], patch: Sequence[int], val_fraction: float) -> Regions:
    """Hold out a slab (``val_fraction`` of the longest axis, at least one patch) for validation.

    Patches never straddle the boundary, so no validation voxel is ever trained on. When the
    volume is too small for two disjoint regions validation is switched off (with a warning).
    """
    full = tuple(slice(0, int(n)) for n in shape)
    if val_fraction <= 0:
        return Regions(full, None, -1)
    axis = int(np.argmax(shape))
    n, p = int(shape[axis]), int(patch[axis])
    width = max(p, math.ceil(val_fraction * n))
    if n - width < p:
        log.warning("volume axis %d (%d voxels) too short for a held-out validation slab with "
                    "patch %d; training without validation or early stopping", axis, n, p)
        return Regions(full, None, -1)
    train = list(full)
    val = list(full)
    train[axis] = slice(0, n - width)
    val[axis] = slice(n - width, n)
    return Regions(tuple(train), tuple(val), axis)


def random_corners(rng: np.random.Generator, region: tuple[slice, ...], patch: Sequence[int],
                   n: int) -> np.ndarray:
    """``n`` random patch corners ``(z, y, x)`` with the whole patch inside ``region``."""
    lo = np.array([s.start for s in region])
    hi = np.array([s.stop for s in region]) - np.asarray(patch)
    return lo + rng.integers(0, hi - lo + 1, size=(n, 3))


def random_flips(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, 3)`` booleans: flip axis z, y, x of each patch.

    Flips only, never 90° rotations: the missing wedge lies along z (beam) around the tilt axis
    y, and is symmetric under any flip of z, y or x, so flipped patches are patches the
    microscope could have recorded. A 90° rotation would turn the wedge (and its elongation and
    streaks) into a direction the data never have, and the network would learn to produce it.
    """
    return rng.integers(0, 2, size=(n, 3)).astype(bool)


def cut(volume: np.ndarray, corner: Sequence[int], patch: Sequence[int],
        flips: Sequence[bool]) -> np.ndarray:
    """The patch at ``corner`` with ``flips`` applied (float32, contiguous)."""
    z, y, x = (int(c) for c in corner)
    a = volume[z:z + patch[0], y:y + patch[1], x:x + patch[2]]
    axes = tuple(i for i in range(3) if flips[i])
    if axes:
        a = np.flip(a, axis=axes)
    return np.ascontiguousarray(a, dtype=np.float32)


# A batch maker returns (inputs, targets, mask or None), each (B, 1, z, y, x) float32 numpy.
BatchMaker = Callable[[np.random.Generator, tuple[slice, ...], int, bool],
                      tuple[np.ndarray, np.ndarray, np.ndarray | None]]


def init_network(architecture: dict[str, Any], seed: int, init_from=None):
    """Build the network with weights drawn from ``seed`` (global RNG state left untouched)."""
    import torch

    from tomoml.denoise.model import build_network

    # MONAI layers draw their initial weights from torch's global generator; fork_rng restores
    # the caller's state afterwards, so seeding here changes nothing outside this function.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = build_network(architecture)
    if init_from is not None:
        net.load_state_dict(init_from.state_dict())
    return net


def mixed_precision(enabled: bool):
    """float16 autocast on a CUDA device; a no-op context everywhere else."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext()
    import torch

    return torch.autocast("cuda", dtype=torch.float16)


def memory_format(device: str):
    """The tensor layout for the network's weights and inputs on ``device``.

    On a CPU, channels-last (``torch.channels_last_3d``) lets oneDNN run the 3D convolutions
    about twice as fast: one training step of the default U-Net on 8 patches of 32³ took 51 ms
    instead of 101 ms on 2 threads (torch 2.13), a 128³ forward pass 0.26 s instead of 0.32 s.
    Elsewhere the default layout (not measured on a GPU: cuDNN's choice is kept).
    """
    import torch

    return torch.channels_last_3d if device == "cpu" else torch.contiguous_format


def fit(net, make_batch: BatchMaker, regions: Regions, settings: TrainSettings, *,
        device: str, desc: str) -> tuple[Any, dict[str, Any]]:
    """Train ``net`` in place; return it (best validation weights) and the training record."""
    import torch

    settings.check()
    rng = np.random.default_rng(settings.seed)
    val_rng = np.random.default_rng([settings.seed, 1])
    layout = memory_format(device)
    net = net.to(device, memory_format=layout)
    amp = device == "cuda"  # mixed precision only where it exists; never autocast on a CPU
    scaler = torch.amp.GradScaler("cuda") if amp else None
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=max(1, settings.patience // 2 - 1),
        threshold=settings.min_improvement)

    def to_dev(a):
        return None if a is None else torch.from_numpy(a).to(device, non_blocking=True,
                                                             memory_format=layout)

    def loss_of(x, y, m):
        with mixed_precision(amp):
            pred = net(x)
        err = (pred.float() - y) ** 2
        return err.mean() if m is None else (err * m).sum() / m.sum().clamp_min(1.0)

    val_set = []
    if regions.val is not None:
        val_set = [make_batch(val_rng, regions.val, settings.batch, False)
                   for _ in range(settings.val_batches)]

    history: list[dict[str, float]] = []
    best = (math.inf, -1)
    best_state = None
    stale = 0
    out_of_time = False
    t0 = time.perf_counter()
    from tomoml._progress import bar

    with bar(total=settings.epochs * settings.steps_per_epoch, desc=desc, unit="step") as pbar:
        for epoch in range(settings.epochs):
            net.train()
            running = 0.0
            for _ in range(settings.steps_per_epoch):
                x, y, m = (to_dev(a) for a in make_batch(rng, regions.train, settings.batch, True))
                loss = loss_of(x, y, m)
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                running += float(loss.detach())
                pbar.update(1)
                pbar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
            train_loss = running / settings.steps_per_epoch
            record = {"epoch": epoch + 1, "train_loss": train_loss,
                      "lr": float(opt.param_groups[0]["lr"])}
            if val_set:
                net.eval()
                with torch.no_grad():
                    val_loss = float(np.mean([float(loss_of(*(to_dev(a) for a in b)))
                                              for b in val_set]))
                record["val_loss"] = val_loss
                sched.step(val_loss)
                pbar.set_postfix(loss=f"{train_loss:.4f}", val=f"{val_loss:.4f}")
                if val_loss < best[0] * (1 - settings.min_improvement):
                    best, stale = (val_loss, epoch + 1), 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
            history.append(record)
            log.info("%s epoch %d: %s", desc, epoch + 1, record)
            if val_set and stale >= settings.patience:
                log.info("%s: early stop after epoch %d (best epoch %d)", desc, epoch + 1, best[1])
                break
            if (settings.max_minutes is not None
                    and time.perf_counter() - t0 > 60 * settings.max_minutes):
                log.info("%s: time budget of %g min spent after epoch %d", desc,
                         settings.max_minutes, epoch + 1)
                out_of_time = True
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    net.to("cpu", memory_format=torch.contiguous_format)
    seconds = time.perf_counter() - t0
    record = {
        "settings": asdict(settings), "device": device, "mixed_precision": amp,
        "epochs_run": len(history), "best_epoch": best[1] if best_state is not None else len(history),
        "best_val_loss": best[0] if best_state is not None else None,
        "stopped_early": bool(val_set) and len(history) < settings.epochs and not out_of_time,
        "out_of_time": out_of_time,
        "train_seconds": round(seconds, 2), "torch_threads": torch.get_num_threads(),
        "history": history,
    }
    return net, record


def as_array(volume, name: str) -> np.ndarray:
    """A float32 ``(z, y, x)`` array from an ndarray or :class:`~tomoml.data.Volume`."""
    from tomoml.data import Volume
    from tomoml.errors import InputError

    if volume is None:
        raise InputError(f"{name}: no volume given")
    if isinstance(volume, Volume):
        data = volume.data
        if volume.is_labels:
            raise InputError(f"{name}: a label volume cannot be denoised; give densities")
        return np.asarray(data, dtype=np.float32)
    return np.asarray(Volume(np.asarray(volume), source=name).data, dtype=np.float32)


def prepare(model, patch, shape: Sequence[int], settings: TrainSettings, channels,
            num_res_units: int, residual: bool):
    """Resolve the architecture (new or the fine-tuned model's), the patch and the regions."""
    from tomoml.denoise.model import default_architecture, size_multiple

    settings.check()
    if model is not None:
        architecture = model.architecture
        patch = model.patch if patch is None else patch
    else:
        architecture = default_architecture(channels, residual=residual,
                                            num_res_units=num_res_units)
    patch = as_patch(32 if patch is None else patch, shape, size_multiple(architecture))
    regions = split_regions(shape, patch, settings.val_fraction)
    return architecture, patch, regions
