"""Training a 3D segmenter on labelled volumes: full or sparse labels, fine-tuning, validation Dice.

Sparse labels: mark every voxel you did not annotate with ``ignore_label`` (default 255). Such
voxels contribute neither to the loss (masked Dice + cross-entropy) nor to the validation Dice.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tomoml.data import Volume
from tomoml.errors import ConfigError, InputError
from tomoml.segment.unet import SegmentationModel, _as_patch, _class_names, normalize_intensity

__all__ = ["train_segmenter", "masked_dice_ce_loss", "dice_per_class", "TrainingHistory"]

log = logging.getLogger(__name__)


@dataclass
class TrainingHistory:
    """Loss per epoch and validation Dice per epoch (one value per class, NaN where absent)."""

    loss: list[float]
    val_dice: list[list[float]]
    best_epoch: int
    seconds: float


def dice_per_class(pred: np.ndarray, truth: np.ndarray, n_classes: int, *,
                   ignore_label: int | None = None) -> np.ndarray:
    """Dice ``2|P ∩ T| / (|P| + |T|)`` of each class; voxels where ``truth == ignore_label`` are
    left out. A class absent from both prediction and truth gets NaN.
    """
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise InputError(f"prediction shape {pred.shape} != truth shape {truth.shape}")
    valid = truth != ignore_label if ignore_label is not None else np.ones(truth.shape, bool)
    out = np.full(n_classes, np.nan)
    for c in range(n_classes):
        p = (pred == c) & valid
        t = (truth == c) & valid
        denom = int(p.sum()) + int(t.sum())
        if denom:
            out[c] = 2.0 * int((p & t).sum()) / denom
    return out


def masked_dice_ce_loss(logits, target, *, ignore_label: int | None = 255,
                        lambda_dice: float = 1.0, lambda_ce: float = 1.0):
    """Dice + cross-entropy loss where voxels labelled ``ignore_label`` count for nothing.

    MONAI's ``DiceCELoss`` has no ignore label, so the same two terms are built here from
    ``monai.losses.DiceLoss`` (on softmax probabilities and one-hot targets, both zeroed at the
    ignored voxels) and a cross-entropy averaged over the valid voxels only.

    Parameters
    ----------
    logits : (B, C, z, y, x) tensor
    target : (B, 1, z, y, x) integer tensor
    """
    import torch
    import torch.nn.functional as F
    from monai.losses import DiceLoss

    n_classes = logits.shape[1]
    target = target.long()
    if ignore_label is None:
        valid = torch.ones_like(target, dtype=torch.bool)
    else:
        valid = target != ignore_label
    safe = torch.where(valid, target, torch.zeros_like(target))
    validf = valid.to(logits.dtype)
    n_valid = validf.sum()
    if n_valid == 0:
        return logits.sum() * 0.0
    ce = F.cross_entropy(logits, safe[:, 0], reduction="none")
    ce = (ce * validf[:, 0]).sum() / n_valid
    probs = torch.softmax(logits, dim=1) * validf
    onehot = F.one_hot(safe[:, 0], n_classes).permute(0, 4, 1, 2, 3).to(logits.dtype) * validf
    dice = DiceLoss(include_background=True, softmax=False, to_onehot_y=False, batch=True)(
        probs, onehot)
    return lambda_dice * dice + lambda_ce * ce


def _as_arrays(items, what: str) -> list[np.ndarray]:
    if isinstance(items, np.ndarray | Volume | str | os.PathLike):
        items = [items]
    out = []
    for it in items:
        if isinstance(it, Volume):
            out.append(np.asarray(it.data))
        elif isinstance(it, str | os.PathLike):
            from tomoml.io import read_volume  # type: ignore[attr-defined]

            out.append(np.asarray(read_volume(Path(it)).data))
        else:
            arr = np.asarray(it)
            if arr.ndim != 3:
                raise InputError(f"{what}: each volume must be 3D (z, y, x), got shape {arr.shape}")
            out.append(arr)
    if not out:
        raise InputError(f"{what}: no volumes given")
    return out


def _split_validation(labels: np.ndarray, val_fraction: float, ignore_label: int
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """Split one label volume into training and validation labels along one axis.

    The validation part is the last ``val_fraction`` of the annotated positions along ``z``
    (along ``y`` or ``x`` when all annotations share one ``z``); each part has the other's
    voxels set to ``ignore_label``, so no annotated voxel is used for both.
    """
    if val_fraction <= 0:
        return labels, None
    annotated = labels != ignore_label
    for axis in (0, 1, 2):
        other = tuple(a for a in (0, 1, 2) if a != axis)
        positions = np.flatnonzero(annotated.any(axis=other))
        if positions.size >= 2:
            break
    else:
        return labels, None
    n_val = max(1, int(round(positions.size * val_fraction)))
    if n_val >= positions.size:
        n_val = positions.size - 1
    cut = positions[-n_val]
    index = [slice(None)] * 3
    train, val = labels.copy(), labels.copy()
    index[axis] = slice(cut, None)
    train[tuple(index)] = ignore_label
    index[axis] = slice(0, cut)
    val[tuple(index)] = ignore_label
    return train, val


class _UniformSampler:
    """Random training patches centred near annotated voxels drawn uniformly (each volume
    weighted by the square root of its annotated voxels)."""

    def __init__(self, images, labels, patch, ignore_label, rng):
        self.patch = np.array(patch)
        self.rng = rng
        self.images, self.labels, self.coords, self.weights = [], [], [], []
        for im, lab in zip(images, labels, strict=True):
            pad = [(0, max(0, int(p) - n)) for p, n in zip(self.patch, im.shape, strict=True)]
            if any(p[1] for p in pad):
                im = np.pad(im, pad, mode="reflect" if min(im.shape) > 1 else "edge")
                lab = np.pad(lab, pad, constant_values=ignore_label)
            idx = np.flatnonzero(lab.reshape(-1) != ignore_label)
            if idx.size == 0:
                continue
            if idx.size > 200_000:
                idx = rng.choice(idx, 200_000, replace=False)
            self.images.append(im)
            self.labels.append(lab)
            self.coords.append(np.stack(np.unravel_index(idx, lab.shape), axis=1))
            self.weights.append(float(idx.size) ** 0.5)
        if not self.images:
            raise InputError("labels: no annotated voxels (every voxel is the ignore label)")
        w = np.array(self.weights)
        self.p = w / w.sum()

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        k = int(self.rng.choice(len(self.images), p=self.p))
        im, lab, coords = self.images[k], self.labels[k], self.coords[k]
        c = coords[int(self.rng.integers(len(coords)))]
        jitter = self.rng.integers(-self.patch // 4, self.patch // 4 + 1)
        start = np.clip(c + jitter - self.patch // 2, 0, np.array(im.shape) - self.patch)
        sl = tuple(slice(int(s), int(s + p)) for s, p in zip(start, self.patch, strict=True))
        return im[sl], lab[sl]


class _BalancedSampler:
    """Random training patches centred near annotated voxels, class-balanced: a class is drawn
    uniformly, then one of its voxels (as MONAI's ``RandCropByLabelClasses``), so sparse
    annotations and rare phases are seen as often as the background."""

    def __init__(self, images, labels, patch, ignore_label, rng, max_per_class=100_000):
        self.patch = np.array(patch)
        self.rng = rng
        self.images, self.labels = [], []
        self.coords: dict[int, list[tuple[int, np.ndarray]]] = {}
        for im, lab in zip(images, labels, strict=True):
            pad = [(0, max(0, int(p) - n)) for p, n in zip(self.patch, im.shape, strict=True)]
            if any(p[1] for p in pad):
                im = np.pad(im, pad, mode="reflect" if min(im.shape) > 1 else "edge")
                lab = np.pad(lab, pad, constant_values=ignore_label)
            flat = lab.reshape(-1)
            k = len(self.images)
            for c in np.unique(flat):
                if c == ignore_label:
                    continue
                idx = np.flatnonzero(flat == c)
                if idx.size > max_per_class:
                    idx = rng.choice(idx, max_per_class, replace=False)
                self.coords.setdefault(int(c), []).append(
                    (k, np.stack(np.unravel_index(idx, lab.shape), axis=1)))
            self.images.append(im)
            self.labels.append(lab)
        if not self.coords:
            raise InputError("labels: no annotated voxels (every voxel is the ignore label)")
        self.classes = sorted(self.coords)

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.classes[int(self.rng.integers(len(self.classes)))]
        per_volume = self.coords[c]
        sizes = np.array([len(v[1]) for v in per_volume], dtype=float) ** 0.5
        k, coords = per_volume[int(self.rng.choice(len(per_volume), p=sizes / sizes.sum()))]
        im, lab = self.images[k], self.labels[k]
        centre = coords[int(self.rng.integers(len(coords)))]
        jitter = self.rng.integers(-self.patch // 4, self.patch // 4 + 1)
        start = np.clip(centre + jitter - self.patch // 2, 0, np.array(im.shape) - self.patch)
        sl = tuple(slice(int(s), int(s + p)) for s, p in zip(start, self.patch, strict=True))
        return im[sl], lab[sl]


def _mean_dice(dice: np.ndarray) -> float:
    """Mean Dice of the non-background classes present (of all present classes when no
    foreground class is; -inf when none is): the score that picks the best epoch."""
    dice = np.asarray(dice, dtype=float)
    for part in (dice[1:], dice):
        if np.isfinite(part).any():
            return float(part[np.isfinite(part)].mean())
    return -np.inf


def _plain(x):
    """A plain tensor: MONAI's MetaTensor would route every training op through its slow
    ``__torch_function__``."""
    import torch

    return x.as_tensor() if hasattr(x, "as_tensor") else torch.as_tensor(x)


def _augmentations(seed: int):
    """MONAI dictionary transforms: flips and 90° turns in the x-y plane only (the missing
    wedge is along z, so z must stay z), intensity gain, shift, contrast, blur and noise."""
    from monai import transforms as T

    xf = T.Compose([
        T.RandFlipd(keys=["image", "label"], prob=0.5, spatial_axis=1),
        T.RandFlipd(keys=["image", "label"], prob=0.5, spatial_axis=2),
        T.RandFlipd(keys=["image", "label"], prob=0.5, spatial_axis=0),
        T.RandRotate90d(keys=["image", "label"], prob=0.5, spatial_axes=(1, 2)),
        T.RandScaleIntensityd(keys="image", factors=0.2, prob=0.5),
        T.RandShiftIntensityd(keys="image", offsets=0.1, prob=0.5),
        T.RandAdjustContrastd(keys="image", gamma=(0.7, 1.5), prob=0.3),
        T.RandGaussianSmoothd(keys="image", sigma_x=(0.0, 0.8), sigma_y=(0.0, 0.8),
                              sigma_z=(0.0, 0.8), prob=0.2),
        T.RandGaussianNoised(keys="image", std=0.05, prob=0.2),
    ])
    xf.set_random_state(seed=seed)
    return xf


def _predict_small(model: SegmentationModel, image_norm: np.ndarray, device: str) -> np.ndarray:
    """Argmax labels of a normalised volume (sliding windows of the training patch size)."""
    import torch
    from monai.inferers import sliding_window_inference

    from tomoml.segment.inference import auto_window_limit

    x = torch.from_numpy(np.ascontiguousarray(image_norm, dtype=np.float32))[None, None].to(device)
    # the largest windows segment() will use with this model (64 for 48^3 patches)
    limit = auto_window_limit(model)
    roi = tuple(min(limit, n) for n in image_norm.shape)
    roi = tuple(max(16, r - r % 8) for r in roi)
    with torch.no_grad():
        logits = sliding_window_inference(x, roi, 2, model.network, overlap=0.25, mode="gaussian",
                                          padding_mode="reflect")
    return logits.argmax(1)[0].cpu().numpy().astype(np.uint8)


def _load_init(init, classes: list[str], patch, seed: int) -> SegmentationModel:
    base = None
    if init is not None and str(init).lower() != "none":
        base = init if isinstance(init, SegmentationModel) else SegmentationModel.load(init)
    if base is None:
        return SegmentationModel.create(classes, patch_size=patch, seed=seed)
    model = base.copy()
    if list(base.classes) != list(classes):
        # Different classes: keep every weight whose shape fits, start the output layer fresh.
        fresh = SegmentationModel.create(classes, architecture=base.architecture,
                                         patch_size=patch, normalization=base.normalization,
                                         seed=seed)
        state = fresh.network.state_dict()
        for k, v in base.network.state_dict().items():
            if k in state and state[k].shape == v.shape:
                state[k] = v
        fresh.network.load_state_dict(state)
        model = fresh
    model.patch_size = _as_patch(patch)
    model.classes = list(classes)
    return model


def train_segmenter(images, labels, *, classes: int | Sequence[str] | None = None,
                    ignore_label: int = 255, epochs: int = 20,
                    patch: int | tuple[int, int, int] = 48, init="default",
                    val_fraction: float = 0.2, validation=None, seed: int = 0,
                    device: str = "auto", batch_size: int = 2,
                    steps_per_epoch: int | None = None, learning_rate: float | None = None,
                    augment: bool = True, sampling: str = "balanced",
                    time_limit_s: float | None = None) -> SegmentationModel:
    """Train (or fine-tune) a 3D U-Net on labelled volumes.

    Parameters
    ----------
    images : ndarray, Volume, path, or a list of them
        The tomograms (densities, any intensity scale: each is normalised by its percentiles).
    labels : same kind as ``images``
        Integer labels ``0..classes-1`` of the same shapes; voxels equal to ``ignore_label`` are
        not annotated (sparse labels: annotate a few slices, leave the rest ``ignore_label``).
    classes : int or list of str, optional
        Number of classes or their names; default: the largest label + 1 (at least 2).
    ignore_label : int
        Label value of unannotated voxels (default 255); they affect neither loss nor Dice.
    epochs : int
        Passes of ``steps_per_epoch`` optimisation steps each; validation after every epoch,
        the weights of the epoch with the best validation Dice are kept.
    patch : int or (z, y, x)
        Training patch size in voxels (a multiple of 8, at least 16).
    init : "default", path, SegmentationModel or None
        Weights to start from. ``"default"`` fine-tunes the shipped model (recommended for
        2-class pore/material data); ``None`` trains from scratch.
    val_fraction : float
        Fraction of each volume's annotated slices (the last along ``z``) held out for the
        validation Dice; 0 disables validation.
    validation : (images, labels), optional
        Separate validation volumes; replaces the ``val_fraction`` split.
    seed : int
        Seeds weight initialisation, patch sampling and augmentation.
    device : {"auto", "cpu", "cuda"}
    batch_size, steps_per_epoch, learning_rate :
        Optimiser settings; defaults: 2, about one pass over the annotated voxels (4..50),
        2e-3 from scratch and 5e-4 when fine-tuning.
    augment : bool
        Random flips/turns in x-y, intensity gain/shift/contrast, blur and noise (MONAI).
    sampling : {"balanced", "uniform"}
        Patch centres: a class drawn uniformly, then one of its annotated voxels (rare phases
        and sparse annotations are seen often), or any annotated voxel.
    time_limit_s : float, optional
        Stop after the epoch during which this many seconds have passed.

    Returns
    -------
    SegmentationModel
        The trained model; ``model.info["val_dice"]`` holds the best validation Dice per class
        and ``model.info["history"]`` the loss and Dice per epoch.
    """
    import torch

    from tomoml._device import resolve_device
    from tomoml._progress import bar

    ims = _as_arrays(images, "images")
    labs = _as_arrays(labels, "labels")
    if len(ims) != len(labs):
        raise InputError(f"{len(ims)} image volumes but {len(labs)} label volumes")
    for i, (im, lab) in enumerate(zip(ims, labs, strict=True)):
        if im.shape != lab.shape:
            raise InputError(f"volume {i}: image shape {im.shape} != labels shape {lab.shape}")
        if not np.issubdtype(lab.dtype, np.integer):
            if not np.all(np.mod(lab, 1) == 0):
                raise InputError(f"labels {i}: not integer labels (dtype {lab.dtype})")
    labs = [np.asarray(lab).astype(np.int64) for lab in labs]
    max_label = max(int(lab[lab != ignore_label].max(initial=0)) for lab in labs)
    if any((lab < 0).any() for lab in labs):
        raise InputError("labels: negative label values")
    names = _class_names(max(2, max_label + 1) if classes is None else
                         (classes if isinstance(classes, int) else list(classes)))
    if max_label >= len(names):
        raise ConfigError(f"labels go up to {max_label} but classes={len(names)}; "
                          f"use --classes {max_label + 1} or mark the extra label as ignored")
    if not 0 <= val_fraction < 1:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}")
    patch = _as_patch(patch)
    dev = resolve_device(device)
    model = _load_init(init, names, patch, seed)
    # an untrained SegmentationModel (a custom architecture) counts as training from scratch
    fine_tune = init is not None and str(init).lower() != "none" and not (
        isinstance(init, SegmentationModel) and "epochs" not in init.info)
    net = model.network.to(dev)

    norm_ims = [normalize_intensity(im, model.normalization) for im in ims]
    if validation is not None:
        v_ims = [normalize_intensity(im, model.normalization)
                 for im in _as_arrays(validation[0], "validation images")]
        v_labs = [np.asarray(v).astype(np.int64) for v in
                  _as_arrays(validation[1], "validation labels")]
        train_labs = labs
    else:
        train_labs, v_ims, v_labs = [], [], []
        for im, lab in zip(norm_ims, labs, strict=True):
            tr, va = _split_validation(lab, val_fraction, ignore_label)
            train_labs.append(tr)
            if va is not None and (va != ignore_label).any():
                v_ims.append(im)
                v_labs.append(va)
    rng = np.random.default_rng(seed)
    if sampling not in ("balanced", "uniform"):
        raise ConfigError(f"sampling must be 'balanced' or 'uniform', got {sampling!r}")
    sampler = (_BalancedSampler if sampling == "balanced" else _UniformSampler)(
        norm_ims, train_labs, patch, ignore_label, rng)
    if steps_per_epoch is None:
        n_annot = sum(int((lab != ignore_label).sum()) for lab in train_labs)
        steps_per_epoch = int(np.clip(math.ceil(n_annot / (np.prod(patch) * batch_size)), 4, 50))
    lr = learning_rate if learning_rate is not None else (5e-4 if fine_tune else 2e-3)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    total = max(1, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total,
                                                pct_start=0.1 if fine_tune else 0.15)
    xf = _augmentations(seed) if augment else None

    def batch():
        xs, ys = [], []
        for _ in range(batch_size):
            im, lab = sampler.sample()
            d = {"image": torch.from_numpy(np.ascontiguousarray(im, dtype=np.float32))[None],
                 "label": torch.from_numpy(np.ascontiguousarray(lab))[None]}
            if xf is not None:
                d = xf(d)
            xs.append(_plain(d["image"]).float())
            ys.append(_plain(d["label"]).long())
        return torch.stack(xs).to(dev), torch.stack(ys).to(dev)

    def validate() -> np.ndarray:
        if not v_ims:
            return np.full(len(names), np.nan)
        net.eval()
        inter = np.zeros(len(names))
        denom = np.zeros(len(names))
        for im, lab in zip(v_ims, v_labs, strict=True):
            pred = _predict_small(model, im, dev)
            valid = lab != ignore_label
            for c in range(len(names)):
                p = (pred == c) & valid
                t = (lab == c) & valid
                inter[c] += (p & t).sum()
                denom[c] += p.sum() + t.sum()
        net.train()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, 2 * inter / np.maximum(denom, 1), np.nan)

    t0 = time.perf_counter()
    history = TrainingHistory(loss=[], val_dice=[], best_epoch=-1, seconds=0.0)
    best_score, best_state, d0 = -np.inf, None, None
    if v_ims and fine_tune:  # the starting point competes too: never return a worse model
        d0 = validate()
        best_score = _mean_dice(d0)
        best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        log.info("validation Dice before training: %s", np.round(d0, 4).tolist())
    net.train()
    with bar(total=total, desc="train-segmenter", unit="step") as pbar:
        for epoch in range(epochs):
            losses = []
            for _ in range(steps_per_epoch):
                x, y = batch()
                opt.zero_grad(set_to_none=True)
                loss = masked_dice_ce_loss(net(x), y, ignore_label=ignore_label)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                pbar.update()
                pbar.set_postfix(loss=f"{losses[-1]:.3f}")
            dice = validate()
            history.loss.append(float(np.mean(losses)))
            history.val_dice.append([float(v) for v in dice])
            score = _mean_dice(dice) if v_ims else -float(np.mean(losses))
            log.info("epoch %d: loss %.4f, validation Dice %s", epoch + 1, history.loss[-1],
                     np.round(dice, 4).tolist())
            if score > best_score:
                best_score, history.best_epoch = score, epoch
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            if time_limit_s is not None and time.perf_counter() - t0 > time_limit_s:
                log.info("time limit reached after epoch %d", epoch + 1)
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    history.seconds = time.perf_counter() - t0
    model.network = net.cpu()
    if history.best_epoch >= 0:
        best = history.val_dice[history.best_epoch]
    else:  # no epoch beat the starting weights, which are returned
        best = [float(v) for v in d0] if v_ims and fine_tune else None
    model.info = {
        **{k: v for k, v in model.info.items() if k not in ("history", "val_dice")},
        "trained_from": "scratch" if not fine_tune else str(
            init if not isinstance(init, SegmentationModel) else "model"),
        "epochs": len(history.loss), "steps_per_epoch": steps_per_epoch,
        "batch_size": batch_size, "seed": seed, "ignore_label": ignore_label,
        "val_dice": best, "history": {"loss": history.loss, "val_dice": history.val_dice,
                                      "best_epoch": history.best_epoch,
                                      "seconds": round(history.seconds, 1)},
    }
    return model


def _info(model: SegmentationModel) -> dict[str, Any]:
    return model.info
