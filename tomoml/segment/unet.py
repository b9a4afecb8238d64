"""The 3D U-Net segmenter: architecture, per-volume intensity normalisation, save and load.

A :class:`SegmentationModel` is a MONAI network plus everything needed to apply it to a new
volume: the architecture settings (to rebuild the network), the patch size it was trained on,
the intensity normalisation and the class names. It is stored as a PyTorch ``state_dict``
(``MODEL.pt``) with a JSON sidecar (``MODEL.json``) beside it (CONVENTIONS.md, "models").
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tomoml.errors import ConfigError

__all__ = [
    "SegmentationModel", "build_network", "normalize_intensity", "robust_percentiles",
    "DEFAULT_ARCHITECTURE", "DEFAULT_NORMALIZATION", "FORMAT_VERSION", "default_model_path",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1

#: A small MONAI UNet of plain strided convolutions (no residual units): the full-resolution
#: work is one transposed convolution, so CPU inference runs at several Mvoxel/s (residual
#: units cost ~5x at inference for a small gain); ~0.5 M parameters, about 2 MB on disk.
DEFAULT_ARCHITECTURE: dict[str, Any] = {
    "name": "monai.UNet",
    "channels": [16, 32, 64, 128],
    "strides": [2, 2, 2],
    "num_res_units": 0,
    "norm": "instance",
    "dropout": 0.0,
}

#: Per-volume robust normalisation: percentile ``low`` maps to 0, ``high`` to 1, then clipped.
#: This makes the model indifferent to the microscope's gain, offset and contrast.
DEFAULT_NORMALIZATION: dict[str, Any] = {
    "kind": "percentile", "low": 1.0, "high": 99.0, "clip": [-2.0, 3.0],
}

_MODELS_DIR = Path(__file__).resolve().parent / "models"


def default_model_path() -> Path:
    """Path of the shipped default model (``tomoml/segment/models/default.pt``)."""
    return _MODELS_DIR / "default.pt"


def build_network(architecture: dict[str, Any], in_channels: int, out_channels: int):
    """Build the MONAI network an architecture dict describes.

    Parameters
    ----------
    architecture : dict
        ``{"name": "monai.UNet", "channels": [...], "strides": [...], "num_res_units": int,
        "norm": str, "dropout": float}`` or ``{"name": "monai.BasicUNet", "features": [6 ints]}``.
    in_channels, out_channels : int
        Image channels (1 for a tomogram) and classes.
    """
    name = architecture.get("name")
    if name == "monai.UNet":
        from monai.networks.nets import UNet

        return UNet(
            spatial_dims=3, in_channels=in_channels, out_channels=out_channels,
            channels=tuple(architecture["channels"]), strides=tuple(architecture["strides"]),
            num_res_units=int(architecture.get("num_res_units", 2)),
            norm=architecture.get("norm", "instance"),
            dropout=float(architecture.get("dropout", 0.0)),
        )
    if name == "monai.BasicUNet":
        from monai.networks.nets import BasicUNet

        return BasicUNet(
            spatial_dims=3, in_channels=in_channels, out_channels=out_channels,
            features=tuple(architecture["features"]),
        )
    raise ConfigError(f"unknown segmentation architecture {name!r}; use monai.UNet or monai.BasicUNet")


def _subsample(volume: np.ndarray, max_samples: int) -> np.ndarray:
    """A strided view with at most ~``max_samples`` voxels (memory-mapped data stays on disk)."""
    step = max(1, int(np.ceil((volume.size / max_samples) ** (1 / 3))))
    return np.asarray(volume[::step, ::step, ::step])


def robust_percentiles(volume: np.ndarray, low: float, high: float,
                       max_samples: int = 4_000_000) -> tuple[float, float]:
    """Percentiles ``low`` and ``high`` of a volume (from a strided subsample when it is big)."""
    sample = _subsample(volume, max_samples).astype(np.float32, copy=False)
    lo, hi = np.percentile(sample, [low, high])
    if not hi > lo:  # a constant volume: avoid dividing by zero
        hi = lo + 1.0
    return float(lo), float(hi)


def normalize_intensity(volume: np.ndarray, normalization: dict[str, Any] | None = None, *,
                        levels: tuple[float, float] | None = None) -> np.ndarray:
    """Map a volume's robust intensity range to ``[0, 1]`` (float32, a new array).

    Parameters
    ----------
    volume : (z, y, x) ndarray
        Densities (any real dtype).
    normalization : dict, optional
        ``{"kind": "percentile", "low": 1, "high": 99, "clip": [-2, 3]}`` (the default).
    levels : (float, float), optional
        Precomputed intensity levels that map to 0 and 1 (e.g. from :func:`robust_percentiles`
        on the whole volume when normalising one slab of it).
    """
    norm = DEFAULT_NORMALIZATION if normalization is None else normalization
    if norm.get("kind") != "percentile":
        raise ConfigError(f"unknown intensity normalisation {norm.get('kind')!r}")
    if levels is None:
        levels = robust_percentiles(volume, norm["low"], norm["high"])
    lo, hi = levels
    out = (np.asarray(volume, dtype=np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    clip = norm.get("clip")
    if clip is not None:
        np.clip(out, clip[0], clip[1], out=out)
    return out


@dataclass
class SegmentationModel:
    """A trained 3D segmentation network and what is needed to apply it.

    Parameters
    ----------
    network : torch.nn.Module
        The MONAI network (``in_channels=1``, ``out_channels=len(classes)``).
    architecture : dict
        Settings that rebuild ``network`` (see :func:`build_network`).
    classes : list of str
        Class names; index = label value (0 = pore / background).
    patch_size : tuple of 3 ints
        Training patch size; inference windows default to a multiple of it.
    normalization : dict
        Intensity normalisation applied to every input volume.
    info : dict
        Free-form provenance (training data, seed, validation Dice, ...), saved in the sidecar.
    """

    network: Any
    architecture: dict[str, Any]
    classes: list[str]
    patch_size: tuple[int, int, int] = (64, 64, 64)
    normalization: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_NORMALIZATION))
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @classmethod
    def create(cls, classes: int | list[str] = 2, *, architecture: dict[str, Any] | None = None,
               patch_size: int | tuple[int, int, int] = 64,
               normalization: dict[str, Any] | None = None, seed: int | None = 0
               ) -> SegmentationModel:
        """A new, untrained model (weights initialised from ``seed``)."""
        import torch

        names = _class_names(classes)
        arch = dict(DEFAULT_ARCHITECTURE if architecture is None else architecture)
        if seed is not None:
            with torch.random.fork_rng(devices=[]):  # seed locally, never the global RNG
                torch.manual_seed(int(seed))
                net = build_network(arch, 1, len(names))
        else:
            net = build_network(arch, 1, len(names))
        return cls(network=net, architecture=arch, classes=names, patch_size=_as_patch(patch_size),
                   normalization=dict(DEFAULT_NORMALIZATION if normalization is None
                                      else normalization))

    def sidecar(self) -> dict[str, Any]:
        """The JSON sidecar content."""
        import tomoml

        return {
            "format": "tomoml.segmentation-model",
            "format_version": FORMAT_VERSION,
            "tomoml_version": getattr(tomoml, "__version__", "unknown"),
            "architecture": self.architecture,
            "in_channels": 1,
            "classes": list(self.classes),
            "patch_size": list(self.patch_size),
            "normalization": self.normalization,
            "info": self.info,
        }

    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write ``PATH.pt`` (state_dict) and ``PATH.json`` (sidecar) atomically."""
        from tomoml.io.models import save_network

        pt = Path(path)
        if pt.suffix != ".pt":
            pt = pt.with_suffix(".pt")
        return save_network(self.network, pt, self.sidecar(), force=force,
                            default=_json_default)

    @classmethod
    def load(cls, path: str | os.PathLike = "default") -> SegmentationModel:
        """Load a model saved by :meth:`save`; ``"default"`` loads the shipped default model."""
        from tomoml.io.models import load_weights, read_sidecar

        pt = default_model_path() if str(path) == "default" else Path(path)
        if pt.suffix != ".pt" and pt.with_suffix(".pt").exists():
            pt = pt.with_suffix(".pt")
        meta = read_sidecar(pt, fmt="tomoml.segmentation-model", version=FORMAT_VERSION,
                            what="segmentation model")
        net = load_weights(build_network(meta["architecture"], int(meta.get("in_channels", 1)),
                                         len(meta["classes"])), pt)
        return cls(network=net, architecture=meta["architecture"], classes=list(meta["classes"]),
                   patch_size=_as_patch(meta.get("patch_size", 64)),
                   normalization=meta.get("normalization", dict(DEFAULT_NORMALIZATION)),
                   info=meta.get("info", {}))

    def copy(self) -> SegmentationModel:
        """A deep copy (independent weights)."""
        import copy

        return SegmentationModel(network=copy.deepcopy(self.network),
                                 architecture=dict(self.architecture), classes=list(self.classes),
                                 patch_size=self.patch_size,
                                 normalization=dict(self.normalization), info=dict(self.info))

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.network.parameters())
        return (f"SegmentationModel({self.architecture.get('name')}, classes={self.classes}, "
                f"patch_size={self.patch_size}, parameters={n})")


def _class_names(classes: int | list[str]) -> list[str]:
    if isinstance(classes, int | np.integer):
        if classes < 2:
            raise ConfigError(f"classes must be >= 2, got {classes}")
        if classes == 2:
            return ["pore", "material"]
        return ["background"] + [f"phase{k}" for k in range(1, int(classes))]
    names = [str(c) for c in classes]
    if len(names) < 2:
        raise ConfigError(f"classes must name at least 2 classes, got {names}")
    return names


def _as_patch(patch) -> tuple[int, int, int]:
    if isinstance(patch, int | np.integer):
        p = (int(patch),) * 3
    else:
        p = tuple(int(v) for v in patch)
    if len(p) != 3 or min(p) < 16:
        raise ConfigError(f"patch size must be 3 ints >= 16, got {patch}")
    return p  # type: ignore[return-value]


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
