"""The trained denoiser: a small MONAI 3D U-Net, its normalisation and its file format.

A model is saved as two files side by side: ``NAME.pt`` holds the PyTorch ``state_dict`` only
(no pickled code, loaded with ``weights_only=True``) and ``NAME.json`` the sidecar: the
architecture and its arguments, the patch size, the normalisation, the training settings and
history, and the tomoml version (CONVENTIONS.md, "models").
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tomoml.errors import InputError

log = logging.getLogger(__name__)

FORMAT = "tomoml-denoise-model"
FORMAT_VERSION = 1

# Only these constructors may be named by a sidecar: a JSON file never chooses arbitrary code.
_ARCHITECTURES = ("UNet", "BasicUNet")

#: Default network: 3 levels (16, 32, 64 channels), no normalisation layers. Instance/batch norm
#: would make the output depend on the window a voxel falls in (seams in sliding-window
#: inference) and on the batch; a denoiser must keep absolute grey values, so none is used.
DEFAULT_UNET = {
    "spatial_dims": 3, "in_channels": 1, "out_channels": 1,
    "channels": [16, 32, 64], "strides": [2, 2], "num_res_units": 0, "norm": None,
}


def tomoml_version() -> str:
    """The installed tomoml version (``"unknown"`` when run from an uninstalled tree)."""
    try:
        from importlib.metadata import version

        return version("tomoml")
    except Exception:  # noqa: BLE001 - metadata missing in an uninstalled checkout
        return "unknown"


def build_network(architecture: dict[str, Any]):
    """Build the torch module a sidecar's ``architecture`` entry describes.

    Parameters
    ----------
    architecture : dict
        ``{"class": "UNet" | "BasicUNet", "kwargs": {...}, "residual": bool}``. With
        ``residual`` the network predicts a correction added to its input (as CARE/cryoCARE do):
        it starts from the identity, which trains faster on a few CPU minutes.
    """
    import torch
    from monai.networks import nets

    name = architecture.get("class")
    if name not in _ARCHITECTURES:
        raise InputError(f"model architecture must be one of {_ARCHITECTURES}, got {name!r}")
    kwargs = dict(architecture.get("kwargs", {}))
    if name == "UNet":
        for key in ("channels", "strides"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
    elif "features" in kwargs:
        kwargs["features"] = tuple(kwargs["features"])
    core = getattr(nets, name)(**kwargs)

    class _Residual(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return x + self.inner(x)

    if architecture.get("residual", False):
        return _Residual(core)
    return torch.nn.Sequential(core)  # same state_dict prefix ("0." vs "inner.") per kind


def default_architecture(channels=(16, 32, 64), *, residual: bool = True,
                         num_res_units: int = 0, norm: str | None = None) -> dict[str, Any]:
    """The architecture entry for a MONAI ``UNet`` with ``channels`` per level (stride 2)."""
    channels = [int(c) for c in channels]
    if len(channels) < 2 or min(channels) < 1:
        raise InputError(f"channels must list at least 2 positive widths, got {channels}")
    kwargs = dict(DEFAULT_UNET, channels=channels, strides=[2] * (len(channels) - 1),
                  num_res_units=int(num_res_units), norm=norm)
    return {"class": "UNet", "kwargs": kwargs, "residual": bool(residual)}


def size_multiple(architecture: dict[str, Any]) -> int:
    """Patch edges must be multiples of this (the product of the U-Net strides)."""
    kwargs = architecture.get("kwargs", {})
    if architecture.get("class") == "BasicUNet":
        return 16
    return int(np.prod(kwargs.get("strides", [2, 2])))


@dataclass
class Normalisation:
    """Per-volume z-score: ``(v - mean) / std`` before the network, the inverse after.

    The statistics of the training data are recorded (``mean``, ``std``); at inference each
    input is normalised with its own statistics so a model trained on one tomogram can be applied
    to another with different grey levels.
    """

    mean: float
    std: float
    kind: str = "zscore"

    @classmethod
    def of(cls, *arrays: np.ndarray, max_samples: int = 4_000_000) -> Normalisation:
        """Pooled statistics of ``arrays`` (a strided subsample for large volumes, in float64)."""
        means, sq, counts = [], [], []
        for a in arrays:
            flat = np.asarray(a).reshape(-1)
            step = max(1, flat.size // max_samples)
            s = flat[::step].astype(np.float64)
            means.append(s.mean())
            sq.append(np.mean(s * s))
            counts.append(s.size)
        w = np.asarray(counts, dtype=np.float64) / np.sum(counts)
        mean = float(np.dot(w, means))
        var = float(np.dot(w, sq)) - mean * mean
        std = float(np.sqrt(max(var, 0.0)))
        if not np.isfinite(std) or std <= 0:
            raise InputError("volume is constant (standard deviation 0); nothing to denoise")
        return cls(mean=mean, std=std)

    def apply(self, a: np.ndarray) -> np.ndarray:
        return ((np.asarray(a, dtype=np.float32) - np.float32(self.mean))
                / np.float32(self.std)).astype(np.float32, copy=False)

    def invert(self, a: np.ndarray) -> np.ndarray:
        return (a * np.float32(self.std) + np.float32(self.mean)).astype(np.float32, copy=False)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean": self.mean, "std": self.std,
                "at_inference": "each input volume normalised with its own mean and std"}


@dataclass
class DenoiseModel:
    """A trained self-supervised denoiser.

    Attributes
    ----------
    network : torch.nn.Module
        The network (on the CPU unless moved); maps a normalised ``(B, 1, z, y, x)`` patch to
        its denoised version.
    architecture : dict
        What :func:`build_network` needs to rebuild ``network``.
    method : {"n2n", "n2v"}
        How it was trained: Noise2Noise on even/odd halves or Noise2Void on one volume.
    patch : (3,) tuple of int
        Training patch size ``(z, y, x)``; also the sliding-window size at inference.
    normalisation : Normalisation
        Statistics of the training data.
    training : dict
        Settings and history of the training (epochs, losses, seed, time, device).
    """

    network: Any
    architecture: dict[str, Any]
    method: str
    patch: tuple[int, int, int]
    normalisation: Normalisation
    training: dict[str, Any] = field(default_factory=dict)
    version: str = field(default_factory=tomoml_version)

    # ---- inference -------------------------------------------------------------------------
    def predict(self, volume=None, *, even=None, odd=None, device: str = "auto",
                overlap: float = 0.5, window_batch: int = 4, max_block_voxels: int = 2**26,
                combine: str = "halves", flip_average: bool = True):
        """Denoise ``volume`` (or the pair ``even``/``odd``); see :func:`tomoml.denoise.predict`."""
        from tomoml.denoise.inference import predict

        return predict(self, volume, even=even, odd=odd, device=device, overlap=overlap,
                       window_batch=window_batch, max_block_voxels=max_block_voxels,
                       combine=combine, flip_average=flip_average)

    # ---- files -----------------------------------------------------------------------------
    def sidecar(self) -> dict[str, Any]:
        """The JSON sidecar content (without the checksum of the weights file)."""
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "tomoml_version": self.version,
            "method": self.method,
            "architecture": {"library": "monai.networks.nets", **self.architecture},
            "patch": [int(p) for p in self.patch],
            "normalisation": self.normalisation.to_json(),
            "training": self.training,
        }

    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write ``PATH.pt`` (the state_dict) and ``PATH.json`` (the sidecar), atomically.

        ``path`` may end in ``.pt`` or have no suffix. Returns the ``.pt`` path.
        """
        from tomoml.io.models import save_network

        pt = save_network(self.network, _pt_path(path), self.sidecar(), force=force,
                          checksum=True)
        log.info("saved denoising model to %s (+ %s)", pt, pt.with_suffix(".json").name)
        return pt

    @classmethod
    def load(cls, path: str | os.PathLike) -> DenoiseModel:
        """Read a model written by :meth:`save` (give the ``.pt`` or the ``.json`` path)."""
        from tomoml.io.models import load_weights, read_sidecar

        pt = _pt_path(path)
        meta = read_sidecar(pt, fmt=FORMAT, version=FORMAT_VERSION, what="denoising model")
        arch = {k: v for k, v in meta["architecture"].items() if k != "library"}
        net = load_weights(build_network(arch), pt)
        norm = meta["normalisation"]
        return cls(network=net, architecture=arch, method=meta["method"],
                   patch=tuple(int(p) for p in meta["patch"]),
                   normalisation=Normalisation(mean=float(norm["mean"]), std=float(norm["std"]),
                                               kind=norm.get("kind", "zscore")),
                   training=meta.get("training", {}),
                   version=meta.get("tomoml_version", "unknown"))

    def __repr__(self) -> str:
        ch = self.architecture.get("kwargs", {}).get("channels")
        return (f"DenoiseModel(method={self.method!r}, {self.architecture.get('class')} "
                f"channels={ch}, patch={tuple(self.patch)})")


def _pt_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if p.suffix in (".pt", ".json"):
        return p.with_suffix(".pt")
    return p.with_name(p.name + ".pt")
