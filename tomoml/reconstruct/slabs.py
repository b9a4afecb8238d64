"""Reconstruction by slabs of slices along the tilt axis, as independent dask tasks.

In single-axis parallel-beam geometry (aligned images: no tilt-axis rotation left), slice ``y``
of the volume depends only on row ``y`` of every projection. The volume is therefore cut into
slabs of rows along ``y``; each slab is a task that reads its rows of the tilt series, runs
:func:`tomoml.reconstruct.reconstruct` on that sub-series, and writes its ``(nz, rows, nx)``
block into the output (a Zarr store or a memory-mapped MRC file, or an array). Tasks share
nothing, so they run on threads, processes or the workers of a ``dask.distributed`` cluster
(:mod:`tomoml.parallel`), and memory per task is one slab, not the volume.

Equality with :func:`~tomoml.reconstruct.reconstruct` on the whole series (CPU engine): slab
boundaries are multiples of the engine's own slab size (``slab_size``, default 32), so every
task runs exactly the engine's slabs of the whole-volume run and FBP/WBP, SIRT and CGLS are
bit-identical (``tests/parallel``). TV couples neighbouring slices (a halo of 4 slices inside
each engine slab) and sizes its weight from one slab's FBP, so chunked TV differs slightly near
task borders; use it with that in mind.

A series with a tilt-axis rotation or an ``.xf`` is resampled once first (the same bilinear
resampling :func:`reconstruct` does), which needs the tilt series in memory.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from tomoml.data import TiltSeries, Volume
from tomoml.errors import ConfigError, InputError

__all__ = ["reconstruct_slabs", "slab_bounds"]

log = logging.getLogger(__name__)


def slab_bounds(ny: int, slab_rows: int) -> list[tuple[int, int]]:
    """``[(y0, y1), ...]`` covering ``0..ny`` in steps of ``slab_rows``."""
    slab_rows = int(slab_rows)
    if slab_rows < 1:
        raise ConfigError(f"slab_rows must be >= 1, got {slab_rows}")
    return [(y0, min(y0 + slab_rows, ny)) for y0 in range(0, ny, slab_rows)]


def _rows(source, y0: int, y1: int) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(source[:, y0:y1, :], dtype=np.float32))


def _reconstruct_rows(source, y0: int, y1: int, angles_deg: np.ndarray, pixel_size_A: float,
                      method: str, options: dict[str, Any], mask, threads: int | None,
                      caller_pid: int | None = None) -> np.ndarray:
    """Reconstruct rows ``y0:y1`` of ``source`` (one task; ``mask`` is already the slab's)."""
    from tomoml.reconstruct.api import reconstruct

    if threads is not None and os.getpid() != caller_pid:
        # torch's thread count is per process: set it in worker processes only; on a thread
        # pool it would change the caller's setting for every later computation.
        import torch

        torch.set_num_threads(int(threads))
    sub = TiltSeries(_rows(source, y0, y1), angles_deg, pixel_size_A=pixel_size_A)
    m = None if mask is None else np.asarray(mask, dtype=bool)
    vol = reconstruct(sub, method, mask=m, **options)
    return np.asarray(vol.data, dtype=np.float32)


def _write_rows(block: np.ndarray, target, y0: int, y1: int) -> int:
    target[:, y0:y1, :] = block
    return y1 - y0


def _picklable_source(data: np.ndarray):
    """A memory-mapped series becomes a by-name reader; anything else stays an array."""
    if isinstance(data, np.memmap):
        from tomoml.parallel import _memmap_file

        return _memmap_file(data)
    return data


def reconstruct_slabs(tilts: TiltSeries | str | os.PathLike, method: str = "fbp", *,
                      angles=None, out=None, slab_rows: int | None = None,
                      scheduler: Any = "threads", num_workers: int | None = None,
                      threads_per_task: int | None = None, xf=None,
                      thickness: int | None = None, slab_size: int | None = None,
                      mask: np.ndarray | None = None, force: bool = False,
                      **options) -> Volume | Path:
    """Reconstruct a tilt series slab by slab as dask tasks (bounded memory, many workers).

    Parameters
    ----------
    tilts : TiltSeries or path
        ``(n, ny, nx)`` projections. A path is opened memory-mapped (:func:`tomoml.io.read_tilt_series`)
        and each task reads only its rows.
    method : {"fbp", "wbp", "sirt", "cgls", "tv"}
        As :func:`tomoml.reconstruct.reconstruct`.
    angles : path or array, optional
        Tilt angles when ``tilts`` is a path without its own.
    out : path, zarr.Array, numpy.memmap or ndarray, optional
        ``.zarr`` or MRC path (created atomically; ``force`` replaces it), or an array of the
        volume's shape. Each task writes its block there. Default: a new in-memory array.
    slab_rows : int, optional
        Rows (slices along ``y``) per task; rounded up to a multiple of ``slab_size``. Default:
        4 engine slabs (128 rows), fewer when the series has few rows.
    scheduler : {"threads", "processes", "sync"}, address or Client
        See :func:`tomoml.parallel.scheduler_context`.
    num_workers : int, optional
        Local pool size.
    threads_per_task : int, optional
        ``torch.set_num_threads`` inside each task run by a worker process (the CPU engine's
        sparse products are multithreaded); 1 avoids oversubscription when workers fill the
        cores. Tasks on a thread pool of this process leave its thread count alone.
    xf : XfTransforms, optional
        Alignment of the raw images; applied once before slabbing.
    thickness, slab_size, mask, **options :
        Passed to :func:`~tomoml.reconstruct.reconstruct` (``iterations``, ``filter``,
        ``relaxation``, ``nonnegative``, ``padding``, ``device``, ...). ``mask`` is cut into
        the same slabs.

    Returns
    -------
    Volume
        In memory (``out`` None or an array; an array ``out`` is its ``data``), or the output
        path when ``out`` is a path.

    Examples
    --------
    >>> reconstruct_slabs("tilts.mrc", "sirt", iterations=30, angles="tilts.tlt",
    ...                   out="rec.mrc", scheduler="processes")          # doctest: +SKIP
    >>> reconstruct_slabs(ts, "fbp", out="rec.zarr", scheduler="tcp://10.0.0.5:8786")  # doctest: +SKIP
    """
    import dask

    from tomoml.parallel import RawArrayFile, create_output, scheduler_context
    from tomoml.reconstruct.api import DEFAULT_SLAB, _resolve_method

    method = _resolve_method(method)
    raw = None
    if isinstance(tilts, str | os.PathLike):
        from tomoml.io import read_tilt_series
        from tomoml.parallel import _MRC_SUFFIXES, _mrc_file

        path_in = Path(tilts)
        tilts = read_tilt_series(path_in, angles, mmap=True)
        if path_in.suffix.lower() in _MRC_SUFFIXES:
            raw = _mrc_file(path_in)  # tasks map their own rows of the file
            if raw.out_dtype != np.float32 or tuple(raw.shape) != tilts.shape:
                raw = None
    elif not isinstance(tilts, TiltSeries):
        raise InputError(f"tilts must be a TiltSeries or a path, got {type(tilts).__name__}")
    if "out" in options or "callback" in options or "return_info" in options:
        raise ConfigError("reconstruct_slabs: out is the target here; callback and "
                          "return_info are not available per slab")
    if method == "tv":
        log.warning("TV couples neighbouring slices: slab results differ slightly from a "
                    "whole-volume TV near slab borders")
    data = tilts.data
    if xf is None and abs(tilts.tilt_axis_deg) > 1e-6:
        from tomoml.io.imod import XfTransforms

        xf = XfTransforms.from_alignment(np.zeros((tilts.n_tilts, 2)), tilts.tilt_axis_deg)
    if xf is not None:
        from tomoml.reconstruct.api import _aligned_data
        from tomoml.reconstruct.geometry import TomoGeometry

        data = _aligned_data(tilts, TomoGeometry.from_tilts(tilts, thickness=thickness, xf=xf))
    n, ny, nx = data.shape
    nz = nx if thickness is None else int(thickness)
    shape = (nz, ny, nx)
    engine_slab = DEFAULT_SLAB if slab_size is None else int(slab_size)
    if engine_slab < 1:
        raise ConfigError(f"slab_size must be >= 1, got {slab_size}")
    rows = 4 * engine_slab if slab_rows is None else int(slab_rows)
    rows = max(engine_slab, -(-rows // engine_slab) * engine_slab)
    if mask is not None and tuple(mask.shape) != shape:
        raise InputError(f"mask has shape {tuple(mask.shape)}, the volume is {shape}")
    opts = dict(options, thickness=nz, slab_size=engine_slab)
    angles_deg = np.asarray(tilts.angles_deg)
    if resolve_local(scheduler) and options.get("engine", "tomoml") == "tomoml":
        _warm_slice_matrix(angles_deg_of(tilts), nz, nx, options.get("device", "auto"))
    source = raw if (raw is not None and xf is None) else _picklable_source(data)
    bounds = slab_bounds(ny, rows)
    log.info("%s by %d slabs of %d rows on %s", method, len(bounds), rows, scheduler)
    # pure=False: no hashing of the data for task names
    task = dask.delayed(_reconstruct_rows, pure=False)

    def one(y0: int, y1: int):
        # a reader is passed whole (tiny); an in-memory array only as its slab of rows
        if isinstance(source, RawArrayFile):
            src, r0, r1 = source, y0, y1
        else:
            src, r0, r1 = source[:, y0:y1, :], 0, y1 - y0
        m = None if mask is None else mask[:, y0:y1, :]
        return task(src, r0, r1, angles_deg, tilts.pixel_size_A, method, opts, m,
                    threads_per_task, os.getpid())

    def blocks(target):
        return [dask.delayed(_write_rows, pure=False)(one(y0, y1), target, y0, y1)
                for y0, y1 in bounds]

    def run(target) -> None:
        from tomoml._progress import track

        with scheduler_context(scheduler, num_workers=num_workers) as kw:
            todo = blocks(target)
            if "://" in str(kw.get("scheduler")) or not isinstance(kw.get("scheduler"), str):
                dask.compute(*todo, **kw)
                return
            # local schedulers: compute in waves so the progress bar moves
            wave = max(1, int(num_workers or os.cpu_count() or 1))
            for i in track(range(0, len(todo), wave), total=-(-len(todo) // wave),
                           desc=f"{method.upper()} slabs", unit="wave"):
                dask.compute(*todo[i:i + wave], **kw)

    if isinstance(out, str | os.PathLike):
        from tomoml.io import atomic_path
        from tomoml.parallel import _finish_mrc

        path = Path(out)
        with atomic_path(path, force=force) as tmp:
            target = create_output(path, shape, np.float32,
                                   chunks=(min(64, nz), rows, min(64, nx)),
                                   voxel_size_A=tilts.pixel_size_A, labels=False, tmp=tmp)
            run(target)
            if isinstance(target, RawArrayFile):
                _finish_mrc(tmp)
        return path

    local = resolve_local(scheduler)
    if out is None:
        out = np.empty(shape, np.float32)
    if tuple(out.shape) != shape:
        raise InputError(f"out has shape {tuple(out.shape)}, the volume is {shape}")
    target = out
    if isinstance(out, np.memmap):
        target = _picklable_source(out)
    elif type(out).__module__.startswith("zarr"):
        if any(y0 % out.chunks[1] for y0, _ in bounds):
            raise ConfigError(f"out: Zarr chunks along y ({out.chunks[1]}) must divide "
                              f"slab_rows ({rows}) so tasks never share a chunk")
    elif not local:
        # an in-memory array cannot be written from other processes: gather the blocks here
        with scheduler_context(scheduler, num_workers=num_workers) as kw:
            todo = [one(y0, y1) for y0, y1 in bounds]
            wave = max(2, int(num_workers or os.cpu_count() or 1))
            for i in range(0, len(todo), wave):
                for (y0, y1), block in zip(bounds[i:i + wave],
                                           dask.compute(*todo[i:i + wave], **kw), strict=True):
                    out[:, y0:y1, :] = block
        return Volume(out, voxel_size_A=tilts.pixel_size_A, source=tilts.source)
    run(target)
    if isinstance(out, np.memmap):
        out.flush()
    if not isinstance(out, np.ndarray):  # a zarr array: read back (it fits, it was given)
        return Volume(np.asarray(out[...]), voxel_size_A=tilts.pixel_size_A,
                      source=tilts.source)
    return Volume(out, voxel_size_A=tilts.pixel_size_A, source=tilts.source)


def angles_deg_of(tilts: TiltSeries) -> tuple[float, ...]:
    return tuple(float(a) for a in np.asarray(tilts.angles_deg))


def _warm_slice_matrix(angles: tuple[float, ...], nz: int, nx: int, device: str) -> None:
    """Build the CPU engine's slice matrix once before threads start (they share its cache;
    without this every thread would build it at the same time)."""
    from tomoml._device import resolve_device

    if resolve_device(device, engine="astra") != "cpu":
        return
    from tomoml.reconstruct.sparse_cpu import cached_slice_matrix

    cached_slice_matrix(angles, int(nz), int(nx), int(nx))


def resolve_local(scheduler: Any) -> bool:
    """True for schedulers that run tasks in this process (threads, sync)."""
    from tomoml.parallel import resolve_scheduler

    s = resolve_scheduler(scheduler)
    return isinstance(s, str) and s in ("threads", "sync")
