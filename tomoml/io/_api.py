"""Format-independent entry points: read/write a tilt series or a volume, chosen by suffix."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from tomoml.data import TiltSeries, Volume
from tomoml.errors import InputError, OutputError
from tomoml.io._common import (
    TiltMetadata,
    format_of,
    isotropic_size,
    repair_nonfinite,
)
from tomoml.io.imod import read_angles

__all__ = ["read_tilt_series", "write_tilt_series", "read_volume", "write_volume"]

logger = logging.getLogger("tomoml.io")

_DEFAULT_PIXEL_A = 1.0


def _input_path(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file ({what})")
    if not os.access(p, os.R_OK):
        raise InputError(f"{p}: file is not readable ({what})")
    return p


def _resolve_angles(angles, p: Path, found: list[TiltMetadata]):
    """(angles, where they came from) by precedence: argument > file metadata > .mdoc."""
    if angles is not None:
        if isinstance(angles, (str, os.PathLike)):
            return read_angles(angles), str(angles)
        arr = np.asarray(angles, dtype=np.float64).reshape(-1)
        return arr, "the angles argument"
    for meta in found:
        if meta.angles_deg is not None:
            return np.asarray(meta.angles_deg, dtype=np.float64), meta.origin
    hint = ""
    for suffix in (".tlt", ".rawtlt"):
        cand = p.with_suffix(suffix)
        if cand.is_file():
            hint = f" ({cand.name} lies beside it)"
            break
    raise InputError(f"{p}: no tilt angles in the file's metadata or a .mdoc beside it; "
                     f"pass them with --angles TLT{hint}")


def _first(values, default=None):
    for v in values:
        if v is not None:
            return v
    return default


def _load_tilt_source(p: Path, fmt: str, mmap: bool | None):
    """(data, [TiltMetadata by precedence], placeholder pixel size or None, tilt axis or None).

    The metadata list holds the file's own records first (main header, then extended
    header). The placeholder is a pixel size the file states without meaning it: IMOD
    writes 1 Å when it knows none, so any other source (FEI header, .mdoc) wins over it.
    """
    if fmt == "mrc":
        from tomoml.io.mrc import read_mrc

        c = read_mrc(p, mmap=mmap)
        header_pixel = c.voxel_size_A
        placeholder = None
        if header_pixel == 1.0:
            header_pixel, placeholder = None, 1.0
        fei = c.fei
        if fei is not None and fei.pixel_size_A and header_pixel is not None \
                and abs(header_pixel - fei.pixel_size_A) > 0.01 * header_pixel:
            logger.warning("%s: header pixel size %g Å differs from the FEI extended "
                           "header's %g Å; using the header's", p, header_pixel,
                           fei.pixel_size_A)
        if fei is not None and fei.tilt_axis_deg is not None:
            # FEI does not define the reference direction of its "Tilt axis angle";
            # tomoml's alignment estimates the axis instead of trusting it
            logger.info("%s: FEI header tilt axis angle %g° not used", p, fei.tilt_axis_deg)
            fei = replace(fei, tilt_axis_deg=None)
        header = TiltMetadata(pixel_size_A=header_pixel, tilt_axis_deg=c.tilt_axis_deg,
                              origin="MRC header")
        return c.data, [header, fei], placeholder
    if fmt == "tiff":
        from tomoml.io.tiff import read_tiff

        c = read_tiff(p, mmap=mmap)
        info = c.info
        meta = TiltMetadata(angles_deg=(np.asarray(info["angles_deg"]) if "angles_deg" in info
                                        else None), pixel_size_A=c.pixel_size_A,
                            tilt_axis_deg=info.get("tilt_axis_deg"), origin="TIFF metadata")
        return c.data, [meta], None
    if fmt == "dm":
        from tomoml.io.dm import read_dm, read_dm_folder

        c = read_dm_folder(p) if p.is_dir() else read_dm(p)
        return c.data, [c.meta], None
    from tomoml.io.zarr_io import read_zarr

    c = read_zarr(p)
    attrs = c.attrs
    meta = TiltMetadata(angles_deg=(np.asarray(attrs["angles_deg"]) if "angles_deg" in attrs
                                    else None), pixel_size_A=c.voxel_size_A,
                        tilt_axis_deg=attrs.get("tilt_axis_deg"), origin="Zarr attributes")
    return np.asarray(c.data), [meta], None


def read_tilt_series(path: str | os.PathLike, angles=None, *, pixel_size_A: float | None = None,
                     mmap: bool | None = None, tilt_axis_deg: float | None = None,
                     repair: bool = False) -> TiltSeries:
    """Read a tilt series from MRC, TIFF, DM3/DM4 or Zarr, with its angles and pixel size.

    Parameters
    ----------
    path : path-like
        ``.mrc .st .ali .preali .mrcs .map`` (MRC), ``.tif .tiff``, ``.dm3 .dm4``, ``.zarr``,
        or a folder of 2D ``.dm3``/``.dm4`` images (one per tilt).
    angles : path-like or (n,) array_like, optional
        Tilt angles in degrees: an IMOD ``.tlt``/``.rawtlt`` file, a SerialEM ``.mdoc`` (its
        pixel size and tilt axis are used too) or an array. When given they override any
        angles in the file. When left out they come from the file's own
        metadata (FEI extended header of an MRC, DigitalMicrograph tags, a TIFF or Zarr written
        by tomoml), else from a SerialEM ``<stack>.mdoc`` beside the stack.
    pixel_size_A : float, optional
        Pixel size in ångström; overrides the file's. Without it and without one in the file
        (or ``.mdoc``), 1 Å is used with a warning.
    mmap : bool or None
        Memory-map MRC/TIFF data instead of loading them (read-only); ``None`` does so for
        files above 1 GiB. Data not stored as float32 are converted, hence loaded.
    tilt_axis_deg : float, optional
        In-plane tilt-axis angle (degrees from the image y axis, counter-clockwise);
        overrides the file's. A series tilted about the image x axis (common for STEM) has 90.
        Default: from the file or the ``.mdoc``, else 0.
    repair : bool
        Replace NaN/Inf pixels by the median of the finite ones (with a warning) instead of
        raising.

    Returns
    -------
    TiltSeries
        Data ``(n_tilts, y, x)`` float32 in the file's image order.

    Raises
    ------
    InputError
        Missing/unreadable/truncated file, unknown suffix, data that are not a 3D stack, no
        angles anywhere, an angle count different from the number of images, NaN/Inf without
        ``repair``.

    Examples
    --------
    >>> ts = read_tilt_series("tilts.mrc", "tilts.tlt")          # doctest: +SKIP
    >>> ts = read_tilt_series("TS_01.mrc")  # FEI header or TS_01.mrc.mdoc  # doctest: +SKIP
    """
    p = _input_path(path, "tilt series")
    if p.is_dir() and p.suffix.lower() != ".zarr":
        fmt = "dm"
    else:
        fmt = format_of(p, allowed=("mrc", "tiff", "dm", "zarr"))
    data, found, placeholder = _load_tilt_source(p, fmt, mmap)
    if data.ndim != 3:
        raise InputError(f"{p}: a tilt series must be a 3D stack (n_tilts, y, x), "
                         f"got {data.ndim}D data of shape {tuple(data.shape)}")
    from tomoml.io.mdoc import find_mdoc, read_mdoc

    if isinstance(angles, (str, os.PathLike)) and Path(angles).suffix.lower() == ".mdoc":
        # an .mdoc given as the angles: its angles, pixel size and axis come first
        given = read_mdoc(angles)
        if given.angles_deg is None:
            raise InputError(f"{angles}: the .mdoc holds no TiltAngle entries")
        found.insert(0, given)
        angles = None
    else:
        mdoc_path = find_mdoc(p)
        if mdoc_path is not None:
            found.append(read_mdoc(mdoc_path))
    found = [m for m in found if m is not None]
    ang, ang_src = _resolve_angles(angles, p, found)
    if ang.size != data.shape[0]:
        raise InputError(f"{ang_src}: {ang.size} tilt angles for the {data.shape[0]} images of "
                         f"{p}; give one angle per image")
    file_pixel = _first([m.pixel_size_A for m in found], placeholder)
    if pixel_size_A is not None:
        pixel = pixel_size_A
        if file_pixel and abs(file_pixel - pixel_size_A) > 0.01 * pixel_size_A:
            logger.warning("%s: pixel size %g Å given overrides the file's %g Å", p,
                           pixel_size_A, file_pixel)
    elif file_pixel is not None:
        pixel = file_pixel
    else:
        logger.warning("%s: no pixel size in the file; using %g Å (pass pixel_size_A)", p,
                       _DEFAULT_PIXEL_A)
        pixel = _DEFAULT_PIXEL_A
    axis = _first([tilt_axis_deg, *(m.tilt_axis_deg for m in found)], 0.0)
    if repair:
        data, _ = repair_nonfinite(data, source=str(p))
    logger.info("%s: %d tilts %s, angles from %s, pixel %g Å, tilt axis %g°", p,
                data.shape[0], "x".join(map(str, data.shape[1:])), ang_src, pixel, axis)
    return TiltSeries(data=data, angles_deg=ang, pixel_size_A=pixel, tilt_axis_deg=axis,
                      source=str(p))


def _output_format(path: Path) -> str:
    try:
        return format_of(path, allowed=("mrc", "tiff", "zarr"))
    except InputError as err:
        raise OutputError(str(err).replace("unknown file type", "unknown output type")) from None


def write_tilt_series(ts: TiltSeries, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a tilt series (atomically) as MRC, TIFF or Zarr, chosen by the suffix.

    The angles, pixel size and tilt-axis angle travel inside the file: an MRC gets an FEI1
    extended header (alpha tilt and pixel size per image, as IMOD and Thermo software read
    them) and a header label for the tilt axis; TIFF and Zarr get a metadata record. So
    :func:`read_tilt_series` reads it back without ``angles``. Write a ``.tlt`` with
    :func:`~tomoml.io.write_angles` for IMOD.

    Raises
    ------
    OutputError
        The file exists and ``force`` is false; unknown suffix.
    """
    out = Path(path)
    fmt = _output_format(out)
    kw = dict(force=force, angles_deg=ts.angles_deg, tilt_axis_deg=ts.tilt_axis_deg)
    if fmt == "mrc":
        from tomoml.io.mrc import write_mrc

        return write_mrc(ts.data, out, voxel_size_A=ts.pixel_size_A, **kw)
    if fmt == "tiff":
        from tomoml.io.tiff import write_tiff

        return write_tiff(ts.data, out, pixel_size_A=ts.pixel_size_A, **kw)
    from tomoml.io.zarr_io import write_zarr

    return write_zarr(ts.data, out, voxel_size_A=ts.pixel_size_A, **kw)


def _as_labels(data: np.ndarray, p: Path) -> np.ndarray:
    if np.issubdtype(data.dtype, np.integer):
        return data.view(np.uint8) if data.dtype == np.int8 and data.min() >= 0 else data
    arr = np.asarray(data)
    if not np.array_equal(arr, np.round(arr)):
        raise InputError(f"{p}: labels requested but the file holds non-integer values")
    return arr.astype(np.int32)


def read_volume(path: str | os.PathLike, *, mmap: bool | None = None, labels: bool | None = None,
                repair: bool = False) -> Volume:
    """Read a volume (densities or labels) from MRC, TIFF or Zarr.

    Parameters
    ----------
    path : path-like
        ``.mrc .rec .map .st .ali`` (MRC), ``.tif .tiff``, ``.zarr``.
    mmap : bool or None
        Memory-map MRC/TIFF float32 data (read-only); ``None`` does so above 1 GiB.
    labels : bool or None
        ``None``: labels when tomoml wrote the file as labels, else float32 densities (integer
        MRC modes of other software, such as IMOD's byte tomograms, are densities).
        ``True``: return integer labels (the values must be whole numbers).
        ``False``: always float32 densities.
    repair : bool
        Replace NaN/Inf by the median of the finite values (with a warning) instead of raising.

    Returns
    -------
    Volume
        Data ``(z, y, x)``, ``voxel_size_A`` (1 Å with a warning when the file has none) and
        ``origin_A`` ``(z, y, x)``.

    Raises
    ------
    InputError
        Missing/unreadable/truncated file, unknown suffix, data that are not 3D, NaN/Inf
        without ``repair``.
    """
    p = _input_path(path, "volume")
    fmt = format_of(p, allowed=("mrc", "tiff", "zarr"))
    origin = (0.0, 0.0, 0.0)
    if fmt == "mrc":
        from tomoml.io.mrc import read_mrc

        c = read_mrc(p, mmap=mmap)
        data, marked, origin = c.data, c.is_labels, c.origin_A
        size = isotropic_size(c.voxel_size_zyx_A, str(p)) if data.ndim == 3 else c.voxel_size_A
    elif fmt == "tiff":
        from tomoml.io.tiff import read_tiff

        c = read_tiff(p, mmap=mmap)
        data, size, marked = c.data, c.pixel_size_A, bool(c.info.get("is_labels"))
        origin = tuple(c.info.get("origin_A", origin))
    else:
        from tomoml.io.zarr_io import read_zarr

        c = read_zarr(p)
        data, size, marked = np.asarray(c.data), c.voxel_size_A, bool(c.attrs.get("is_labels"))
        origin = tuple(c.attrs.get("origin_A", origin))
    if data.ndim != 3:
        raise InputError(f"{p}: a volume must be 3D (z, y, x), got {data.ndim}D data of shape "
                         f"{tuple(data.shape)}")
    want_labels = marked if labels is None else labels
    if want_labels:
        data = _as_labels(data, p)
    elif np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32)
    if repair and not want_labels:
        data, _ = repair_nonfinite(data, source=str(p))
    if size is None:
        logger.warning("%s: no voxel size in the file; using %g Å", p, _DEFAULT_PIXEL_A)
        size = _DEFAULT_PIXEL_A
    return Volume(data=data, voxel_size_A=size, origin_A=origin, source=str(p))


def write_volume(vol: Volume, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a volume (atomically) as MRC, TIFF or Zarr, chosen by the suffix.

    Densities are written as float32, labels as the smallest integer type that holds them and
    marked as labels, so :func:`read_volume` returns them as labels again. The voxel size goes
    into the header (MRC), the ImageJ resolution (TIFF) or the attributes (Zarr); the origin
    is kept in all three.

    Raises
    ------
    OutputError
        The file exists and ``force`` is false; unknown suffix.
    """
    out = Path(path)
    fmt = _output_format(out)
    if fmt == "mrc":
        from tomoml.io.mrc import write_mrc

        return write_mrc(vol.data, out, voxel_size_A=vol.voxel_size_A, origin_A=vol.origin_A,
                         force=force)
    if fmt == "tiff":
        from tomoml.io.tiff import write_tiff

        return write_tiff(vol.data, out, pixel_size_A=vol.voxel_size_A, origin_A=vol.origin_A,
                          force=force)
    from tomoml.io.zarr_io import write_zarr

    return write_zarr(vol.data, out, voxel_size_A=vol.voxel_size_A, origin_A=vol.origin_A,
                      force=force)
