"""Zarr volumes: chunked on disk, readable lazily as dask arrays, for data larger than memory.

A tomoml Zarr store is one array (``zarr`` 2 or 3 format; zarr-python 3 writes format 3) of
shape ``(z, y, x)`` or ``(n_tilts, y, x)`` whose attributes hold::

    voxel_size_A   float, ångström (isotropic)
    origin_A       [z, y, x], ångström
    axes           ["z", "y", "x"]
    is_labels      true for integer labels
    angles_deg     tilt angles, for a tilt series
    tilt_axis_deg  for a tilt series

An OME-Zarr image group (``multiscales`` metadata, arrays ``0``, ``1``, ...) is read too: the
first (full-resolution) array, with the voxel size from its ``scale`` transform when the axis
unit is a length.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tomoml.errors import InputError
from tomoml.io._atomic import atomic_path
from tomoml.io._common import require_file

__all__ = ["ZarrContents", "read_zarr", "write_zarr", "DEFAULT_CHUNKS"]

logger = logging.getLogger(__name__)

#: Chunk edge for written stores: 64³ float32 = 1 MiB, a good size for dask and for disks.
DEFAULT_CHUNKS = 64
_UNIT_A = {"angstrom": 1.0, "nanometer": 10.0, "micrometer": 1e4, "millimeter": 1e7,
           "meter": 1e10}


@dataclass(frozen=True, eq=False)
class ZarrContents:
    """What :func:`read_zarr` found: ``data`` (numpy, or dask when ``lazy``), the voxel size
    in ångström (``None`` when the store has none) and the other attributes."""

    data: object
    voxel_size_A: float | None
    attrs: dict = field(default_factory=dict)


def _ome_array(group, path: Path):
    """(array, voxel size Å or None) of the first dataset of an OME-Zarr image group."""
    attrs = dict(group.attrs)
    ms = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
    if not ms:
        raise InputError(f"{path}: Zarr group without an array or OME multiscales metadata")
    ms0 = ms[0]
    ds0 = ms0["datasets"][0]
    arr = group[ds0["path"]]
    size = None
    axes = ms0.get("axes", [])
    for tr in ds0.get("coordinateTransformations", []):
        if tr.get("type") == "scale" and axes:
            unit = axes[-1].get("unit") if isinstance(axes[-1], dict) else None
            if unit in _UNIT_A:
                size = float(tr["scale"][-1]) * _UNIT_A[unit]
    return arr, size


def read_zarr(path: str | os.PathLike, *, lazy: bool = False) -> ZarrContents:
    """Read a Zarr array (or the first array of an OME-Zarr group).

    Parameters
    ----------
    path : path-like
        The store directory (``*.zarr``).
    lazy : bool
        Return a :class:`dask.array.Array` over the store's chunks instead of loading it.

    Returns
    -------
    ZarrContents

    Raises
    ------
    InputError
        Missing path, or not a readable Zarr store.
    """
    import zarr

    p = require_file(path, "Zarr store", directory_ok=True)
    try:
        node = zarr.open(store=str(p), mode="r")
    except Exception as err:  # zarr raises various errors for non-stores
        raise InputError(f"{p}: not a readable Zarr store "
                         f"({type(err).__name__}: {str(err).strip()})") from None
    size = None
    if isinstance(node, zarr.Array):
        arr = node
    else:
        arr, size = _ome_array(node, p)
    attrs = dict(arr.attrs)
    if "voxel_size_A" in attrs:
        size = float(attrs["voxel_size_A"])
    if lazy:
        import dask.array as da

        data = da.from_zarr(arr)
    else:
        data = arr[...]
    return ZarrContents(data=data, voxel_size_A=size, attrs=attrs)


def write_zarr(data, path: str | os.PathLike, *, voxel_size_A: float = 1.0,
               origin_A=(0.0, 0.0, 0.0), force: bool = False, chunks: int | tuple = DEFAULT_CHUNKS,
               angles_deg=None, tilt_axis_deg: float | None = None) -> Path:
    """Write a ``(z, y, x)`` array (numpy or dask) as a chunked Zarr store, atomically.

    Parameters
    ----------
    data : (z, y, x) ndarray or dask array
        float data are stored as float32; integers keep their type (labels). A dask array is
        written chunk by chunk, so it never has to fit in memory.
    path : path-like
        Output directory (``*.zarr``).
    voxel_size_A : float
        Voxel size in ångström, stored in the attributes.
    origin_A : (3,) tuple of float
        ``(z, y, x)`` origin in ångström.
    force : bool
        Replace an existing store.
    chunks : int or tuple of int
        Chunk shape (an int means a cube, clipped to the data shape).
    angles_deg, tilt_axis_deg : optional
        Stored for a tilt series.

    Returns
    -------
    Path
    """
    import dask.array as da
    import zarr

    out = Path(path)
    is_dask = isinstance(data, da.Array)
    arr = data if is_dask else np.asarray(data)
    is_labels = bool(np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool)
    dtype = (np.uint8 if arr.dtype == bool else arr.dtype) if is_labels else np.float32
    if isinstance(chunks, int):
        chunks = tuple(min(chunks, n) for n in arr.shape)
    attrs = {"voxel_size_A": float(voxel_size_A), "origin_A": [float(v) for v in origin_A],
             "axes": ["z", "y", "x"][-arr.ndim:], "is_labels": is_labels}
    if angles_deg is not None:
        attrs["angles_deg"] = [float(a) for a in np.asarray(angles_deg).reshape(-1)]
    if tilt_axis_deg is not None:
        attrs["tilt_axis_deg"] = float(tilt_axis_deg)
    with atomic_path(out, force=force) as tmp:
        z = zarr.create_array(store=str(tmp), shape=arr.shape, chunks=chunks, dtype=dtype)
        if is_dask:
            # one dask block per zarr chunk: parallel writes never share a chunk
            da.store(arr.astype(dtype).rechunk(chunks), z, lock=False)
        else:
            z[...] = arr.astype(dtype, copy=False)
        z.attrs.update(attrs)
    return out
