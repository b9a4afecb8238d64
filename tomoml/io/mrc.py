"""MRC files (``.mrc .st .ali .rec .map``) through ``mrcfile``.

Axes and units: ``mrcfile`` gives data as ``[z][y][x]`` (sections, rows, columns), which is
tomoml's order, but its ``voxel_size`` and ``origin`` are ``(x, y, z)`` records in ångström.
This module is the one place that translates them: everything it returns is ``(z, y, x)``.

Real files are often not clean. FEI/Thermo software writes an ``FEI1``/``FEI2`` extended header
(one record per image with the stage alpha tilt in degrees and the pixel size in metres) and
sometimes leaves out the ``MAP `` stamp or the machine stamp. Such a file opens in mrcfile's
permissive mode with one logged warning, and its angles and pixel size are returned as
:class:`~tomoml.io._common.TiltMetadata`. A file whose header is nonsense, or that is shorter
than its header says, raises :class:`~tomoml.errors.InputError` naming the file.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tomoml.errors import InputError, OutputError
from tomoml.io._atomic import atomic_path
from tomoml.io._common import MMAP_AUTO_BYTES, TiltMetadata, isotropic_size, require_file

__all__ = ["MrcContents", "read_mrc", "write_mrc", "fei_extended_header", "read_fei_metadata",
           "read_imod_extended_metadata"]

logger = logging.getLogger(__name__)

_HEADER_BYTES = 1024
# mode -> bytes per value (mode 101 = packed 4-bit, handled apart)
_MODE_BYTES = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2}
_IMOD_STAMP = 1146047817  # "IMOD" stamp at byte 152; flag bit 0 at byte 156 = signed bytes
_MARK_LABELS = "tomoml: integer labels"
_STREAM_BYTES = 256 << 20  # larger arrays are written slab by slab into a memory map
_MARK_AXIS = re.compile(r"tomoml: tilt_axis_deg=([-+0-9.eE]+)")
# FEI "Bitmask 1" bits of the fields tomoml writes (bits follow the field order of the spec)
_FEI_BIT_ALPHA, _FEI_BIT_AXIS, _FEI_BIT_PIX_X, _FEI_BIT_PIX_Y = 7, 12, 14, 15


@dataclass(frozen=True, eq=False)
class MrcContents:
    """What :func:`read_mrc` found in a file.

    Attributes
    ----------
    data : (z, y, x) ndarray
        The data block as stored (memory-mapped and read-only when ``mmap`` was used).
        A single image comes back 2D ``(y, x)``.
    voxel_size_A : float or None
        Isotropic voxel size in ångström (the x size); ``None`` when the header leaves it unset.
    voxel_size_zyx_A : (3,) tuple of float
        The header's per-axis sizes, translated to ``(z, y, x)``.
    origin_A : (3,) tuple of float
        The header's origin in ångström, ``(z, y, x)``.
    is_labels : bool
        The file was written by tomoml as integer labels (header label marker).
    tilt_axis_deg : float or None
        Tilt-axis angle tomoml stored in the header labels.
    fei : TiltMetadata or None
        Angles and pixel size from an FEI extended header, when present and usable.
    """

    data: np.ndarray
    voxel_size_A: float | None
    voxel_size_zyx_A: tuple[float, float, float]
    origin_A: tuple[float, float, float]
    is_labels: bool = False
    tilt_axis_deg: float | None = None
    fei: TiltMetadata | None = None


def _sane_header(raw: bytes):
    """The header as a record in the byte order that makes sense, or None."""
    from mrcfile.dtypes import HEADER_DTYPE

    for order in ("<", ">"):
        h = np.frombuffer(raw[:_HEADER_BYTES], dtype=HEADER_DTYPE.newbyteorder(order))[0]
        dims = [int(h["nx"]), int(h["ny"]), int(h["nz"])]
        if (int(h["mode"]) in (*_MODE_BYTES, 101) and all(0 < d < 1 << 20 for d in dims)
                and 0 <= int(h["nsymbt"]) < 1 << 31):
            return h
    return None


def _check_header(path: Path) -> None:
    """Raise a one-line InputError for files that are not MRC or are cut short."""
    size = path.stat().st_size
    if size < _HEADER_BYTES:
        raise InputError(f"{path}: not an MRC file or truncated ({size} bytes, "
                         f"shorter than the {_HEADER_BYTES}-byte header)")
    with open(path, "rb") as f:
        raw = f.read(_HEADER_BYTES)
    h = _sane_header(raw)
    if h is None:
        raise InputError(f"{path}: not an MRC file (header holds no valid mode and image size)")
    nx, ny, nz, mode = int(h["nx"]), int(h["ny"]), int(h["nz"]), int(h["mode"])
    if mode in (3, 4):
        raise InputError(f"{path}: complex MRC data (mode {mode}) are not supported")
    if mode == 101:
        data_bytes = (nx + 1) // 2 * ny * nz
    else:
        data_bytes = nx * ny * nz * _MODE_BYTES[mode]
    need = _HEADER_BYTES + int(h["nsymbt"]) + data_bytes
    if size < need:
        raise InputError(f"{path}: truncated MRC file: the header ({nx}x{ny}x{nz}, mode {mode}) "
                         f"needs {need} bytes, the file has {size}")


def read_fei_metadata(extended: bytes, exttyp: bytes, n_images: int,
                      byte_order: str = "<") -> TiltMetadata | None:
    """Angles, pixel size and tilt-axis angle from an FEI1/FEI2 extended header.

    The records are read at the stride the header declares in its first field
    ("Metadata size"), so files whose records are padded beyond the documented layout work too.

    Parameters
    ----------
    extended : bytes
        The extended header.
    exttyp : bytes
        The header's ``exttyp`` (``b"FEI1"`` or ``b"FEI2"``; anything else gives ``None``).
    n_images : int
        Number of images (``nz``); one record per image is expected.
    byte_order : str
        ``"<"`` or ``">"``, the main header's byte order; the other is tried if it fails.

    Returns
    -------
    TiltMetadata or None
        ``angles_deg`` (stage alpha tilt, degrees), ``pixel_size_A`` (from metres) and
        ``tilt_axis_deg`` (as written by the microscope software, not used for geometry),
        each ``None`` when absent or implausible; ``None`` when no record can be read.
    """
    from mrcfile.dtypes import get_ext_header_dtype

    exttyp = bytes(exttyp).strip(b"\0 ")
    if exttyp not in (b"FEI1", b"FEI2") or n_images < 1:
        return None
    buf = bytes(extended)
    other = ">" if byte_order == "<" else "<"
    for order in (byte_order, other):
        dtype = get_ext_header_dtype(exttyp, order)
        size_t, size_off = dtype.fields["Metadata size"][:2]
        if len(buf) < size_off + 4:
            return None
        stride = int(np.frombuffer(buf, size_t, 1, size_off)[0])
        need = dtype.fields["Pixel size Y"][1] + 8
        if need <= stride <= 1 << 20 and stride * n_images <= len(buf):
            break
    else:
        logger.warning("FEI extended header present but its record size is not readable; "
                       "ignoring it")
        return None

    def field(name: str) -> np.ndarray:
        ftype, off = dtype.fields[name][:2]
        return np.ndarray((n_images,), dtype=ftype, buffer=buf, offset=off,
                          strides=(stride,)).astype(np.float64)

    alpha = field("Alpha tilt")
    angles = None
    if (np.isfinite(alpha).all() and np.abs(alpha).max() <= 90
            and (n_images == 1 or np.ptp(alpha) > 0)):
        angles = alpha
    pix = field("Pixel size X")[0]
    pixel_size_A = float(pix * 1e10) if np.isfinite(pix) and 0 < pix < 1e-6 else None
    axis = field("Tilt axis angle")[0]
    tilt_axis = float(axis) if np.isfinite(axis) and abs(axis) <= 360 else None
    return TiltMetadata(angles_deg=angles, pixel_size_A=pixel_size_A, tilt_axis_deg=tilt_axis,
                        origin="FEI extended header")


def read_imod_extended_metadata(extended: bytes, exttyp: bytes, nint: int, nreal: int,
                                n_images: int, byte_order: str = "<") -> TiltMetadata | None:
    """Tilt angles from the two older per-section extended headers IMOD reads.

    - SerialEM (``exttyp`` ``SERI``): ``nint`` bytes per section, ``nreal`` bit flags; with
      flag 1 the section starts with the tilt angle x 100 as a 16-bit integer.
    - Agard / early FEI (``nint`` integers then ``nreal`` 32-bit floats per section, no
      ``exttyp``): the first float is the alpha tilt in degrees; old FEI files (32 floats)
      also hold the pixel size in metres as float 12.

    Returns ``None`` unless the angles found are plausible (within ±90°, not all equal).
    """
    buf = bytes(extended)
    pixel = None
    # files from before exttyp existed: nint > 0 with flags in nreal is SerialEM's layout
    if exttyp == b"SERI" or (exttyp == b"" and nint > 0 and nreal & 1):
        if not nreal & 1 or nint < 2 or nint * n_images > len(buf):
            return None
        angles = np.ndarray((n_images,), dtype=byte_order + "i2", buffer=buf,
                            strides=(nint,)).astype(np.float64) / 100.0
        origin = "SerialEM extended header"
    elif exttyp in (b"AGAR", b"") and nreal > 0 and 0 <= nint < 1024:
        stride = 4 * (nint + nreal)
        if stride * n_images > len(buf):
            return None
        angles = np.ndarray((n_images,), dtype=byte_order + "f4", buffer=buf, offset=4 * nint,
                            strides=(stride,)).astype(np.float64)
        if nreal >= 12:
            pix = float(np.frombuffer(buf, byte_order + "f4", 1, 4 * (nint + 11))[0])
            pixel = pix * 1e10 if np.isfinite(pix) and 0 < pix < 1e-6 else None
        origin = "FEI/Agard extended header"
    else:
        return None
    if not (np.isfinite(angles).all() and np.abs(angles).max() <= 90
            and (n_images == 1 or np.ptp(angles) > 0)):
        return None
    return TiltMetadata(angles_deg=angles, pixel_size_A=pixel, origin=origin)


def fei_extended_header(angles_deg, pixel_size_A: float, *, tilt_axis_deg: float | None = None,
                        exttyp: bytes = b"FEI1", byte_order: str = "<") -> np.ndarray:
    """Build an FEI extended header (one record per image) holding tilt angles and pixel size.

    Parameters
    ----------
    angles_deg : (n,) array_like
        Stage alpha tilt per image, degrees.
    pixel_size_A : float
        Pixel size in ångström (stored in metres, as FEI does).
    tilt_axis_deg : float, optional
        Stored in the "Tilt axis angle" field.
    exttyp : bytes
        ``b"FEI1"`` or ``b"FEI2"``.
    byte_order : str
        ``"<"`` or ``">"``.

    Returns
    -------
    (n,) structured ndarray
        Records with mrcfile's FEI dtype, ready for ``MrcFile.set_extended_header``.
    """
    from mrcfile.dtypes import get_ext_header_dtype

    dtype = get_ext_header_dtype(exttyp, byte_order)
    angles = np.asarray(angles_deg, dtype=np.float64).reshape(-1)
    rec = np.zeros(angles.size, dtype=dtype)
    rec["Metadata size"] = dtype.itemsize
    rec["Metadata version"] = 0 if exttyp == b"FEI1" else 2
    bits = (1 << _FEI_BIT_ALPHA) | (1 << _FEI_BIT_PIX_X) | (1 << _FEI_BIT_PIX_Y)
    rec["Application"] = b"tomoml"
    rec["Alpha tilt"] = angles
    rec["Pixel size X"] = pixel_size_A * 1e-10
    rec["Pixel size Y"] = pixel_size_A * 1e-10
    if tilt_axis_deg is not None:
        rec["Tilt axis angle"] = tilt_axis_deg
        bits |= 1 << _FEI_BIT_AXIS
    rec["Bitmask 1"] = bits
    return rec


def _open_mrc(path: Path, mmap: bool):
    import mrcfile

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if mmap:
                mrc = mrcfile.mmap(path, mode="r", permissive=True)
            else:
                mrc = mrcfile.open(path, mode="r", permissive=True)
        except (ValueError, OSError, EOFError) as err:
            raise InputError(f"{path}: unreadable MRC file ({err})") from None
    problems = list(dict.fromkeys(str(w.message).split(" - ")[0].rstrip(".") for w in caught
                                  if issubclass(w.category, RuntimeWarning)))
    if problems:
        logger.warning("%s: opened in permissive mode: %s", path, "; ".join(problems))
    return mrc


def read_mrc(path: str | os.PathLike, *, mmap: bool | None = None) -> MrcContents:
    """Read an MRC file.

    Parameters
    ----------
    path : path-like
        ``.mrc .st .ali .rec .map`` (any suffix is accepted here).
    mmap : bool or None
        Memory-map the data (read-only) instead of loading them. ``None``: memory-map when
        the file is larger than 1 GiB.

    Returns
    -------
    MrcContents

    Raises
    ------
    InputError
        Missing, truncated or unreadable file; complex data.
    """
    p = require_file(path, "MRC file")
    _check_header(p)
    if mmap is None:
        mmap = p.stat().st_size > MMAP_AUTO_BYTES
    mrc = _open_mrc(p, bool(mmap))
    try:
        h = mrc.header
        data = mrc.data
        if data is None:
            raise InputError(f"{p}: MRC data block could not be read")
        if not mmap:
            data = np.asarray(data)
            if not data.dtype.isnative:
                data = data.astype(data.dtype.newbyteorder("="))
        order = ">" if h.mode.dtype.byteorder == ">" else "<"
        imod = np.frombuffer(bytes(h["extra2"]), dtype=order + "i4")  # bytes 112..195
        if int(h.mode) == 0 and int(imod[10]) == _IMOD_STAMP and not int(imod[11]) & 1:
            data = data.view(np.uint8)  # IMOD marks unsigned bytes with a cleared flag bit
        vs = mrc.voxel_size
        vs_zyx = (float(vs.z), float(vs.y), float(vs.x))
        origin = (float(h.origin.z), float(h.origin.y), float(h.origin.x))
        labels = [bytes(lb).decode("ascii", "replace").strip()
                  for lb in h.label[: max(0, min(int(h.nlabl), 10))]]
        is_labels = _MARK_LABELS in labels
        axis = None
        for lb in labels:
            m = _MARK_AXIS.search(lb)
            if m:
                axis = float(m.group(1))
        fei = None
        exttyp = bytes(h.exttyp).strip(b"\0 ")
        if int(h.nsymbt) > 0:
            ext = mrc.extended_header.tobytes()
            if exttyp in (b"FEI1", b"FEI2"):
                fei = read_fei_metadata(ext, exttyp, int(h.nz), order)
            else:
                nint, nreal = (int(v) for v in imod[4:5].view(order + "i2"))
                fei = read_imod_extended_metadata(ext, exttyp, nint, nreal, int(h.nz), order)
    finally:
        mrc.close()
    if is_labels and np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.int32)  # labels too many for an integer mode were stored as float
    elif is_labels and data.dtype == np.int8:
        data = data.view(np.uint8)
    # a stack's z size is often a placeholder (1 or nz * pixel): in-plane sizes decide
    size = isotropic_size(vs_zyx[1:], str(p), axes="yx")
    return MrcContents(data=data, voxel_size_A=size, voxel_size_zyx_A=vs_zyx, origin_A=origin,
                       is_labels=is_labels, tilt_axis_deg=axis, fei=fei)


def _storage(data: np.ndarray, path: Path) -> tuple[np.ndarray, bool]:
    """The array in an MRC mode: float32 densities, the smallest integer mode for labels."""
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if not np.issubdtype(data.dtype, np.integer):
        return np.asarray(data, dtype=np.float32), False
    lo = int(data.min()) if data.size else 0
    hi = int(data.max()) if data.size else 0
    # mode 0 is signed in MRC2014 but unsigned in IMOD: 0..127 reads the same in both
    for dtype in (np.int8, np.int16, np.uint16):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return data.astype(dtype, copy=False), True
    if max(abs(lo), abs(hi)) <= 1 << 24:
        logger.info("%s: labels exceed 16 bits; stored as float32 (exact to 2^24)", path)
        return data.astype(np.float32), True
    raise OutputError(f"{path}: label values {lo}..{hi} do not fit any MRC mode")


def write_mrc(data: np.ndarray, path: str | os.PathLike, *, voxel_size_A: float = 1.0,
              origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0), force: bool = False,
              angles_deg=None, tilt_axis_deg: float | None = None) -> Path:
    """Write a volume or a tilt series as MRC, atomically.

    Parameters
    ----------
    data : (z, y, x) ndarray
        float data are stored as float32 (mode 2); integer labels in the smallest mode that
        holds them (0 = bytes for 0..127, 1 = int16, 6 = uint16), with a header label so
        :func:`read_mrc` returns them as labels again.
    path : path-like
        Output file.
    voxel_size_A : float
        Voxel (pixel) size in ångström, written to the header for x, y and z.
    origin_A : (3,) tuple of float
        Origin in ångström, ``(z, y, x)``; written as the header's ``(x, y, z)`` origin.
    force : bool
        Replace an existing file.
    angles_deg : (n,) array_like, optional
        For a tilt series: written as an FEI1 extended header (alpha tilt and pixel size per
        image), which IMOD, mrcfile and :func:`read_mrc` read back; the file is an image stack.
    tilt_axis_deg : float, optional
        For a tilt series: kept in a header label.

    Returns
    -------
    Path
        The written path.
    """
    import mrcfile

    out = Path(path)
    arr, is_labels = _storage(np.asarray(data), out)
    arr = np.ascontiguousarray(arr)
    ext = fei_extended_header(angles_deg, voxel_size_A) if angles_deg is not None else None
    with atomic_path(out, force=force) as tmp:
        with warnings.catch_warnings():
            # header statistics of data with NaN: mrcfile warns, the data are written as given
            warnings.filterwarnings("ignore", "Data array contains NaN", RuntimeWarning)
            if arr.ndim == 3 and arr.nbytes > _STREAM_BYTES:
                mrc = _stream_into_mmap(arr, tmp, ext)
            else:
                mrc = mrcfile.new(tmp, overwrite=True)
                mrc.set_data(arr)
                if ext is not None:
                    mrc.set_extended_header(ext)
            try:
                if ext is not None:
                    mrc.set_image_stack()
                    mrc.header.exttyp = b"FEI1"
                elif arr.ndim == 3:
                    mrc.set_volume()
                mrc.voxel_size = (voxel_size_A,) * 3
                z, y, x = (float(v) for v in origin_A)
                mrc.header.origin = (x, y, z)
                if is_labels:
                    mrc.add_label(_MARK_LABELS)
                if tilt_axis_deg is not None:
                    mrc.add_label(f"tomoml: tilt_axis_deg={tilt_axis_deg:.4f}")
            finally:
                mrc.close()
    return out


def _stream_into_mmap(arr: np.ndarray, tmp: Path, ext):
    """Copy a large array into a new memory-mapped MRC file slab by slab, with progress."""
    import mrcfile
    from mrcfile.utils import mode_from_dtype

    from tomoml._progress import track

    mrc = mrcfile.new_mmap(tmp, arr.shape, mrc_mode=int(mode_from_dtype(arr.dtype)),
                           overwrite=True, extended_header=ext,
                           exttyp=b"FEI1" if ext is not None else None)
    try:
        slab = max(1, (64 << 20) // max(1, arr[0].nbytes))
        for z0 in track(range(0, arr.shape[0], slab), total=-(-arr.shape[0] // slab),
                        desc=f"writing {tmp.name.split('.tmp')[0].lstrip('.')}", unit="slab"):
            mrc.data[z0:z0 + slab] = arr[z0:z0 + slab]
        mrc.update_header_stats()
    except BaseException:
        mrc.close()
        raise
    return mrc
