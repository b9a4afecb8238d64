"""Shared pieces of the file readers: suffix tables, input checks, metadata record, NaN repair."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tomoml.errors import InputError

logger = logging.getLogger("tomoml.io")

MRC_SUFFIXES = (".mrc", ".st", ".ali", ".rec", ".map", ".mrcs", ".preali")
TIFF_SUFFIXES = (".tif", ".tiff")
DM_SUFFIXES = (".dm3", ".dm4")
ZARR_SUFFIXES = (".zarr",)

#: Files above this size are memory-mapped when ``mmap=None`` (automatic).
MMAP_AUTO_BYTES = 1 << 30


def format_of(path: Path, *, allowed: tuple[str, ...]) -> str:
    """``"mrc" | "tiff" | "dm" | "zarr"`` from the suffix, or an InputError naming the choices."""
    suffix = path.suffix.lower()
    table = {"mrc": MRC_SUFFIXES, "tiff": TIFF_SUFFIXES, "dm": DM_SUFFIXES, "zarr": ZARR_SUFFIXES}
    for fmt in allowed:
        if suffix in table[fmt]:
            return fmt
    known = " ".join(s for fmt in allowed for s in table[fmt])
    raise InputError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; "
                     f"expected one of: {known}")


def require_file(path: str | os.PathLike, what: str, *, directory_ok: bool = False) -> Path:
    """An existing, readable input path, or an InputError naming it."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file ({what})")
    if p.is_dir() and not directory_ok:
        raise InputError(f"{p}: is a directory, expected a {what} file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: file is not readable ({what})")
    return p


@dataclass(frozen=True)
class TiltMetadata:
    """Acquisition metadata found in a file; ``None`` where the file holds none.

    Attributes
    ----------
    angles_deg : (n,) ndarray or None
        Tilt angle of each image in degrees.
    pixel_size_A : float or None
        Pixel size in ångström.
    tilt_axis_deg : float or None
        Tilt-axis angle from the image y axis, counter-clockwise, degrees.
    origin : str
        Where the values came from, for log messages ("FEI extended header", "mdoc", ...).
    """

    angles_deg: np.ndarray | None = None
    pixel_size_A: float | None = None
    tilt_axis_deg: float | None = None
    origin: str = ""


def repair_nonfinite(array: np.ndarray, *, source: str | None = None) -> tuple[np.ndarray, int]:
    """Replace NaN and ±Inf by the median of the finite values.

    Parameters
    ----------
    array : ndarray
        Any real array (integer arrays cannot hold NaN and are returned as is).
    source : str, optional
        Name used in the warning and error messages (a path).

    Returns
    -------
    repaired : ndarray
        ``array`` itself when nothing needed repair, else a repaired copy.
    n_repaired : int
        Number of values replaced.

    Raises
    ------
    InputError
        If no value is finite.

    Examples
    --------
    >>> repair_nonfinite(np.array([1.0, np.nan, 3.0, np.inf]))[1]
    2
    """
    arr = np.asarray(array)
    if not np.issubdtype(arr.dtype, np.floating):
        return arr, 0
    bad = ~np.isfinite(arr)
    n_bad = int(np.count_nonzero(bad))
    if n_bad == 0:
        return arr, 0
    where = f"{source}: " if source else ""
    if n_bad == arr.size:
        raise InputError(f"{where}every value is NaN or Inf; nothing to repair from")
    fill = np.median(arr[~bad])
    out = np.array(arr, copy=True)
    out[bad] = fill
    logger.warning("%srepaired %d NaN/Inf values (%.3g%% of the data) with the median %g",
                   where, n_bad, 100.0 * n_bad / arr.size, float(fill))
    return out, n_bad


def isotropic_size(sizes: tuple[float, ...], source: str, *, axes: str = "zyx") -> float | None:
    """One voxel size from per-axis sizes (ångström); warns when they differ by more than 1 %.

    Zero, negative or non-finite entries count as unset. Returns ``None`` when all are unset.
    The x size wins because every header stores it and it is the in-plane (projection) size.
    """
    vals = [float(v) for v in sizes]
    usable = [v for v in vals if np.isfinite(v) and v > 0]
    if not usable:
        return None
    x = vals[-1] if np.isfinite(vals[-1]) and vals[-1] > 0 else usable[0]
    if any(abs(v - x) > 0.01 * x for v in usable):
        logger.warning("%s: voxel size differs between axes (%s = %s Å); using %g Å",
                       source, "/".join(axes), "/".join(f"{v:g}" for v in vals), x)
    return x
