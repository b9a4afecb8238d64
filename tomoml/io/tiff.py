"""TIFF stacks through ``tifffile``.

A multi-page TIFF is read as ``(pages, y, x)``: ``(z, y, x)`` for a volume, ``(n_tilts, y, x)``
for a tilt series. The pixel size comes, in this order, from

1. the tomoml record that :func:`write_tiff` puts in the ImageJ ``Info`` field;
2. ImageJ metadata: the ``unit`` (nm, µm/micron, Å, ...) and the XResolution tag (pixels per
   unit); ``spacing`` is the z step;
3. the TIFF XResolution with ResolutionUnit centimetre or inch, when that gives a size below
   10 µm (the 72-dpi default of image editors means "not calibrated").

Otherwise it is ``None`` and the caller's ``pixel_size_A`` is needed.
Files are written as ImageJ hyperstacks (float32, uint8 or uint16) with the pixel size in nm,
so Fiji shows the right scale bar.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tomoml.errors import InputError, OutputError
from tomoml.io._atomic import atomic_path
from tomoml.io._common import require_file

__all__ = ["TiffContents", "read_tiff", "write_tiff"]

logger = logging.getLogger(__name__)

# length of one unit in ångström
_UNITS_A = {
    "a": 1.0, "å": 1.0, "angstrom": 1.0, "angstroms": 1.0, "\\u00c5": 1.0,
    "nm": 10.0, "nanometer": 10.0, "nanometers": 10.0, "nanometre": 10.0,
    "um": 1e4, "µm": 1e4, "μm": 1e4, "micron": 1e4, "microns": 1e4, "micrometer": 1e4,
    "\\u00b5m": 1e4, "mm": 1e7, "cm": 1e8, "m": 1e10, "pm": 0.01,
}
_MAX_PLAUSIBLE_A = 1e5  # 10 µm: a larger "pixel" is an editor's default dpi, not a calibration
_TOMOML_KEY = "tomoml"


@dataclass(frozen=True, eq=False)
class TiffContents:
    """What :func:`read_tiff` found: data ``(pages, y, x)`` (2D for one page), the pixel size in
    ångström (``None`` if the file has none) and the tomoml record (angles, labels flag)."""

    data: np.ndarray
    pixel_size_A: float | None
    info: dict = field(default_factory=dict)


def _ratio(value) -> float | None:
    if isinstance(value, tuple) and len(value) == 2:
        num, den = value
        return float(num) / float(den) if den else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _pixel_size(tif, info: dict) -> float | None:
    if "pixel_size_A" in info:
        return float(info["pixel_size_A"])
    page = tif.pages.first
    tags = page.tags
    xres = _ratio(tags["XResolution"].value) if "XResolution" in tags else None
    ij = tif.imagej_metadata or {}
    unit = str(ij.get("unit", "")).strip().lower()
    if unit and xres:
        if unit in _UNITS_A:
            return _UNITS_A[unit] / xres
        logger.info("%s: unknown ImageJ unit %r; pixel size not taken from the file",
                    tif.filehandle.path, unit)
        return None
    if xres and "ResolutionUnit" in tags:
        res_unit = int(tags["ResolutionUnit"].value)
        length = {2: 2.54e8, 3: 1e8}.get(res_unit)
        if length and length / xres < _MAX_PLAUSIBLE_A:
            return length / xres
    return None


def read_tiff(path: str | os.PathLike, *, mmap: bool | None = None) -> TiffContents:
    """Read a TIFF stack.

    Parameters
    ----------
    path : path-like
        ``.tif`` / ``.tiff`` file (multi-page, or one ImageJ hyperstack).
    mmap : bool or None
        Memory-map the pixels when the file allows it (uncompressed, contiguous); ``None``
        does so above 1 GiB. Falls back to reading when it cannot.

    Returns
    -------
    TiffContents

    Raises
    ------
    InputError
        Missing or unreadable file, colour (RGB) images.
    """
    import tifffile

    from tomoml.io._common import MMAP_AUTO_BYTES

    p = require_file(path, "TIFF file")
    if mmap is None:
        mmap = p.stat().st_size > MMAP_AUTO_BYTES
    try:
        with tifffile.TiffFile(p) as tif:
            ij = tif.imagej_metadata or {}
            info = {}
            if isinstance(ij.get("Info"), str):
                try:
                    info = json.loads(ij["Info"]).get(_TOMOML_KEY, {})
                except (ValueError, AttributeError):
                    info = {}
            pixel = _pixel_size(tif, info)
            series = tif.series[0]
            if series.keyframe.samplesperpixel > 1:
                raise InputError(f"{p}: colour TIFF ({series.keyframe.samplesperpixel} samples "
                                 "per pixel); tomoml needs greyscale images")
            data = None
            if mmap:
                try:
                    data = tifffile.memmap(p, mode="r")
                except ValueError:
                    logger.info("%s: cannot be memory-mapped (compressed or tiled); reading it",
                                p)
            if data is None:
                data = series.asarray()
    except InputError:
        raise
    except Exception as err:  # tifffile raises many types for damaged files
        raise InputError(f"{p}: unreadable TIFF file ({type(err).__name__}: {str(err).strip()})") from None
    data = np.asarray(data) if not isinstance(data, np.memmap) else data
    if data.ndim > 3:
        squeezed = data.squeeze()
        if squeezed.ndim > 3:
            raise InputError(f"{p}: TIFF holds a {data.ndim}D hyperstack {data.shape}; tomoml "
                             "reads one channel of (pages, y, x)")
        data = squeezed
    if data.dtype.byteorder not in ("=", "|") and not isinstance(data, np.memmap):
        data = data.astype(data.dtype.newbyteorder("="))
    if info.get("is_labels") and np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.int32)  # labels above 65535 were stored as float32
    return TiffContents(data=data, pixel_size_A=pixel, info=info)


def write_tiff(data: np.ndarray, path: str | os.PathLike, *, pixel_size_A: float = 1.0,
               force: bool = False, angles_deg=None, tilt_axis_deg: float | None = None,
               origin_A=None) -> Path:
    """Write a ``(pages, y, x)`` stack as an ImageJ TIFF, atomically.

    Parameters
    ----------
    data : (z, y, x) ndarray
        float data are written as float32; integer labels as uint8 or uint16 (float32 above
        65535, flagged as labels in the tomoml record).
    path : path-like
        Output ``.tif``/``.tiff``.
    pixel_size_A : float
        Pixel size in ångström, written as ImageJ resolution in nm (and the z spacing).
    force : bool
        Replace an existing file.
    angles_deg : (n,) array_like, optional
        Tilt angles, stored in the tomoml record and as ImageJ slice labels.
    tilt_axis_deg : float, optional
        Stored in the tomoml record.
    origin_A : (3,) tuple, optional
        Stored in the tomoml record (``(z, y, x)`` ångström).

    Returns
    -------
    Path
    """
    import tifffile

    out = Path(path)
    arr = np.asarray(data)
    is_labels = bool(np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool)
    if is_labels:
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        if lo < 0:
            raise OutputError(f"{out}: negative label values ({lo}) cannot be written to TIFF")
        arr = arr.astype(np.uint8 if hi < 256 else np.uint16 if hi < 65536 else np.float32)
    else:
        arr = arr.astype(np.float32, copy=False)
    record: dict = {"pixel_size_A": float(pixel_size_A), "is_labels": is_labels}
    metadata: dict = {"axes": "ZYX" if arr.ndim == 3 else "YX", "unit": "nm",
                      "spacing": pixel_size_A / 10.0}
    if angles_deg is not None:
        ang = [float(a) for a in np.asarray(angles_deg).reshape(-1)]
        record["angles_deg"] = ang
        metadata["Labels"] = [f"tilt {a:+.2f} deg" for a in ang]
    if tilt_axis_deg is not None:
        record["tilt_axis_deg"] = float(tilt_axis_deg)
    if origin_A is not None:
        record["origin_A"] = [float(v) for v in origin_A]
    metadata["Info"] = json.dumps({_TOMOML_KEY: record})
    px_per_nm = 10.0 / pixel_size_A
    with atomic_path(out, force=force) as tmp:
        tifffile.imwrite(tmp, arr, imagej=True, resolution=(px_per_nm, px_per_nm),
                         metadata=metadata)
    return out
