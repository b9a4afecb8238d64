"""Gatan DigitalMicrograph ``.dm3``/``.dm4`` tilt series, read with ``rosettasciio``.

Two layouts are common:

- one 3D file, images stacked along the first axis (Gatan tomography acquisition, or a stack
  built in DigitalMicrograph);
- a folder of 2D files, one per tilt, each with its stage alpha tilt in the microscope tags.

Metadata used (rosettasciio's ``original_metadata`` keeps DigitalMicrograph's tag names):

- pixel size: the calibration (``scale`` and ``units``) of the image x axis, converted to Å;
- tilt angles of a 3D stack, in this order: the Gatan tomography tags
  ``ImageTags > Tomography > Tomography setup > Tilt angles`` (minimum, maximum and step, in
  degrees); or the stack axis when it is calibrated in degrees (``offset + i * scale``);
- tilt angle of a 2D image: ``Microscope Info > Stage Position > Stage Alpha``
  (rosettasciio's ``Acquisition_instrument.TEM.Stage.tilt_alpha``).

DM files hold no tilt-axis direction tomoml can trust; pass ``tilt_axis_deg`` where needed.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tomoml.errors import InputError
from tomoml.io._common import DM_SUFFIXES, TiltMetadata, require_file

__all__ = ["DmContents", "read_dm", "read_dm_folder", "dm_tilt_metadata"]

logger = logging.getLogger(__name__)

_UNITS_A = {"pm": 0.01, "a": 1.0, "å": 1.0, "angstrom": 1.0, "nm": 10.0, "um": 1e4, "µm": 1e4,
            "μm": 1e4, "micron": 1e4, "mm": 1e7, "m": 1e10}
_DEG_UNITS = {"deg", "degree", "degrees", "°", "º"}


@dataclass(frozen=True, eq=False)
class DmContents:
    """Data ``(n, y, x)`` (2D ``(y, x)`` for one image) and the metadata found."""

    data: np.ndarray
    meta: TiltMetadata


def _slug(key: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(key).lower()).strip("_")


def _find(tree, *path: str):
    """Walk nested dicts by slugged keys ("Tomography setup" == "Tomography_setup")."""
    node = tree
    for want in path:
        if not isinstance(node, dict):
            return None
        match = [v for k, v in node.items() if _slug(k) == want]
        if not match:
            return None
        node = match[0]
    return node


def _image_tags(original_metadata: dict) -> dict:
    tags = _find(original_metadata, "imagelist", "taggroup0", "imagetags")
    return tags if isinstance(tags, dict) else {}


def _float(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def dm_tilt_metadata(signal: dict, *, source: str = "DM file") -> TiltMetadata:
    """Pixel size and tilt angles from one rosettasciio signal dictionary.

    Parameters
    ----------
    signal : dict
        One element of ``rsciio.digitalmicrograph.file_reader(path)``: keys ``data``,
        ``axes`` (list of dicts with ``scale``, ``offset``, ``units``, ``size``, ``navigate``),
        ``metadata`` and ``original_metadata``.
    source : str
        Name used in messages.

    Returns
    -------
    TiltMetadata
        ``angles_deg`` (one per image of a 3D stack, or one for a 2D image), ``pixel_size_A``;
        ``None`` where absent.

    Raises
    ------
    InputError
        When the tomography tags describe a different number of tilts than the stack holds.
    """
    axes = list(signal.get("axes") or [])
    shape = tuple(np.shape(signal.get("data"))) if signal.get("data") is not None else ()
    n_images = shape[0] if len(shape) == 3 else 1
    # pixel size from the x axis (the last, non-navigation axis)
    pixel = None
    image_axes = [a for a in axes if not a.get("navigate", False)] or axes
    if image_axes:
        x_ax = image_axes[-1]
        unit = str(x_ax.get("units") or "").strip().lower()
        scale = _float(x_ax.get("scale"))
        if unit in _UNITS_A and scale and scale > 0:
            pixel = scale * _UNITS_A[unit]
        elif unit:
            logger.info("%s: x calibration unit %r is not a length; pixel size not used",
                        source, unit)
    angles = None
    tags = _image_tags(signal.get("original_metadata") or {})
    tilt = _find(tags, "tomography", "tomography_setup", "tilt_angles")
    if len(shape) == 3 and isinstance(tilt, dict):
        lo = _float(_find(tilt, "minimum_tilt_angle_deg"))
        hi = _float(_find(tilt, "maximum_tilt_angle_deg"))
        step = _float(_find(tilt, "tilt_angle_step_deg"))
        if lo is not None and step:
            angles = lo + step * np.arange(n_images)
            if hi is not None and abs(angles[-1] - hi) > abs(step) / 2:
                n_tags = int(round((hi - lo) / step)) + 1
                raise InputError(f"{source}: DM tomography tags give {n_tags} tilts "
                                 f"({lo:g}..{hi:g} step {step:g}) for {n_images} images; "
                                 "pass the angles with --angles")
    if angles is None and len(shape) == 3 and axes:
        stack_ax = axes[0]
        if str(stack_ax.get("units") or "").strip().lower() in _DEG_UNITS:
            off = _float(stack_ax.get("offset")) or 0.0
            scale = _float(stack_ax.get("scale"))
            if scale:
                angles = off + scale * np.arange(n_images)
    if angles is None and len(shape) == 2:
        alpha = _find(signal.get("metadata") or {}, "acquisition_instrument", "tem", "stage",
                      "tilt_alpha")
        if alpha is None:
            alpha = _find(tags, "microscope_info", "stage_position", "stage_alpha")
        alpha = _float(alpha)
        if alpha is not None:
            angles = np.array([alpha])
    return TiltMetadata(angles_deg=angles, pixel_size_A=pixel, tilt_axis_deg=None,
                        origin="DM metadata")


def _read_signals(path: Path) -> list[dict]:
    from rsciio.digitalmicrograph import file_reader

    try:
        signals = file_reader(str(path))
    except Exception as err:  # rosettasciio raises many types for damaged files
        raise InputError(f"{path}: unreadable DigitalMicrograph file "
                         f"({type(err).__name__}: {str(err).strip()})") from None
    signals = [s for s in signals if np.ndim(s.get("data")) >= 2]
    if not signals:
        raise InputError(f"{path}: DigitalMicrograph file holds no image")
    return signals


def read_dm(path: str | os.PathLike) -> DmContents:
    """Read a ``.dm3``/``.dm4`` image or stack and its tilt metadata.

    The largest image in the file is used (DM files may also hold thumbnails or overlays).

    Returns
    -------
    DmContents

    Raises
    ------
    InputError
        Missing or unreadable file, colour (RGB) data, or inconsistent tomography tags.
    """
    p = require_file(path, "DigitalMicrograph file")
    signals = _read_signals(p)
    signal = max(signals, key=lambda s: np.size(s["data"]))
    data = np.asarray(signal["data"])
    if data.dtype.names is not None:
        raise InputError(f"{p}: colour (RGB) DigitalMicrograph image; tomoml needs greyscale")
    if np.iscomplexobj(data):
        raise InputError(f"{p}: complex DigitalMicrograph data are not supported")
    return DmContents(data=data, meta=dm_tilt_metadata(signal, source=str(p)))


def read_dm_folder(folder: str | os.PathLike) -> DmContents:
    """Stack a folder of 2D ``.dm3``/``.dm4`` images, one per tilt, sorted by stage alpha tilt.

    Raises
    ------
    InputError
        No DM files, images of different sizes, or a file without a stage tilt.
    """
    from tomoml._progress import track

    d = require_file(folder, "folder of DM images", directory_ok=True)
    files = sorted(f for f in d.iterdir() if f.suffix.lower() in DM_SUFFIXES)
    if not files:
        raise InputError(f"{d}: folder holds no .dm3/.dm4 files")
    images, angles, pixels = [], [], []
    for f in track(files, desc="reading DM images", unit="file"):
        c = read_dm(f)
        if c.data.ndim != 2:
            raise InputError(f"{f}: expected one 2D image per file in a folder, got {c.data.shape}")
        if c.meta.angles_deg is None:
            raise InputError(f"{f}: no stage tilt (Stage Alpha) in the DM tags; "
                             "stack the images yourself and pass --angles")
        if images and c.data.shape != images[0].shape:
            raise InputError(f"{f}: image shape {c.data.shape} differs from "
                             f"{files[0].name} {images[0].shape}")
        images.append(c.data)
        angles.append(float(c.meta.angles_deg[0]))
        if c.meta.pixel_size_A:
            pixels.append(c.meta.pixel_size_A)
    order = np.argsort(angles, kind="stable")
    data = np.stack([images[i] for i in order])
    meta = TiltMetadata(angles_deg=np.asarray(angles)[order],
                        pixel_size_A=float(np.median(pixels)) if pixels else None,
                        origin="DM metadata")
    return DmContents(data=data, meta=meta)
