"""Chunked and distributed computing with Dask: one place that knows schedulers and chunks.

Everything in tomoml that runs on volumes larger than memory, or on more cores than one process
uses, goes through this module:

- :func:`scheduler_context` / :func:`compute` resolve ``scheduler="threads" | "processes" |
  "sync" | "tcp://HOST:PORT"`` (the address of a running ``dask.distributed`` scheduler, e.g.
  one started with ``dask scheduler`` + ``dask worker``) or a ``distributed.Client`` into how
  dask computes. Nothing else in tomoml creates a client or picks a scheduler.
- :func:`as_dask_array` opens a numpy array, a memory map, a Zarr array/store or an MRC/Zarr
  path lazily, chunk by chunk. Paths and memory maps become small picklable readers, so worker
  *processes* (and remote workers that see the same file system) read their own chunks instead
  of receiving the volume through the scheduler.
- :func:`map_blocks_overlap` applies a local operator (filter, network inference) to
  overlapping chunks (:func:`dask.array.map_overlap`) and writes the result chunk by chunk into
  a Zarr store or a memory-mapped MRC file, so memory does not grow with the volume.
- :func:`segment_blocks` runs :mod:`tomoml.segment` (a U-Net or a global threshold) that way,
  :func:`denoise_blocks` a trained :mod:`tomoml.denoise` model.

Chunk edges and equality: with ``boundary="none"`` (the default) a chunk at the edge of the
volume sees the volume's real edge, so ``fn``'s own boundary mode applies exactly as in a
whole-volume call, and inside the volume every chunk carries ``depth`` voxels of its
neighbours. For an operator whose output at a voxel depends only on inputs within ``depth``
voxels (a Gaussian filter with ``depth`` >= its radius, a median, a morphology), the chunked
result is bit-identical to the whole-volume result (``tests/parallel``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tomoml.errors import BackendError, ConfigError, InputError

__all__ = [
    "SCHEDULERS", "DEFAULT_CHUNK", "RawArrayFile", "as_dask_array", "check_scheduler",
    "compute", "create_output", "map_blocks_overlap", "resolve_scheduler", "scheduler_context",
    "denoise_blocks", "segment_blocks",
]

log = logging.getLogger(__name__)

#: Named local schedulers; anything containing ``://`` is a distributed scheduler address.
SCHEDULERS = ("threads", "processes", "sync")
#: Default chunk edge for volumes that come without chunks: 128³ float32 = 8 MiB.
DEFAULT_CHUNK = 128
_MRC_SUFFIXES = (".mrc", ".rec", ".map", ".st", ".ali", ".mrcs")
_ALIASES = {"threads": "threads", "threading": "threads", "processes": "processes",
            "multiprocessing": "processes", "sync": "sync", "synchronous": "sync",
            "single-threaded": "sync"}


# --------------------------------------------------------------------------- schedulers

def resolve_scheduler(scheduler: Any = "threads") -> str | Any:
    """Check a scheduler setting; return ``"threads"``, ``"processes"``, ``"sync"``, an address
    (``"tcp://..."``) or the ``distributed.Client`` given.

    Raises
    ------
    ConfigError
        An unknown name.
    """
    if scheduler is None:
        return "threads"
    if isinstance(scheduler, str):
        s = scheduler.strip()
        if "://" in s:
            return s
        if s.lower() in _ALIASES:
            return _ALIASES[s.lower()]
        raise ConfigError(f"scheduler must be one of {', '.join(SCHEDULERS)} or the address of a "
                          f"dask.distributed scheduler (tcp://HOST:PORT), got {scheduler!r}")
    if type(scheduler).__name__ == "Client" and hasattr(scheduler, "submit"):
        return scheduler
    raise ConfigError(f"scheduler must be a name, an address or a distributed.Client, "
                      f"got {type(scheduler).__name__}")


def check_scheduler(scheduler: Any, *, timeout: float = 5.0) -> str | Any:
    """:func:`resolve_scheduler`, and for a ``tcp://`` or ``tls://`` address a quick TCP
    connection to it, so that a wrong address fails at once, before any work is done.

    Raises
    ------
    ConfigError
        An unknown name, or an address without ``HOST:PORT``.
    BackendError
        Nothing listens at the address.
    """
    import socket
    from urllib.parse import urlsplit

    s = resolve_scheduler(scheduler)
    if not (isinstance(s, str) and "://" in s):
        return s
    parts = urlsplit(s)
    if parts.scheme not in ("tcp", "tls"):
        return s  # other transports (inproc, ucx, ws): Client reports problems itself
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise ConfigError(f"scheduler {s}: expected an address tcp://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise BackendError(f"scheduler {s}: cannot connect ({reason}); start one with "
                           f"'dask scheduler' or check the address") from None
    return s


@contextmanager
def scheduler_context(scheduler: Any = "threads", *,
                      num_workers: int | None = None) -> Iterator[dict[str, Any]]:
    """Set how dask computes inside the ``with`` block; yield keyword arguments for
    :func:`dask.compute` (``{"scheduler": ...}``).

    Parameters
    ----------
    scheduler : {"threads", "processes", "sync"}, address or distributed.Client
        ``"threads"``: a thread pool in this process (default; numpy, scipy and torch release
        the GIL). ``"processes"``: a local process pool. ``"sync"``: one task at a time in this
        thread (debugging, exact reproducibility of timing). ``"tcp://HOST:PORT"``: connect a
        client to that running ``dask.distributed`` scheduler for the duration of the block.
    num_workers : int, optional
        Threads/processes of a local pool (default: dask's, the number of cores).

    Raises
    ------
    BackendError
        The distributed scheduler cannot be reached.
    """
    import dask

    s = resolve_scheduler(scheduler)
    if isinstance(s, str) and "://" in s:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - distributed is a dependency
            raise BackendError("scheduler: a scheduler address needs the 'distributed' "
                               "package (pip install distributed)") from None
        try:
            client = Client(s, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise BackendError(f"scheduler {s}: cannot connect ({type(err).__name__}: "
                               f"{str(err).strip() or 'timed out'})") from None
        try:
            with dask.config.set(scheduler=client):
                yield {"scheduler": client}
        finally:
            client.close()
        return
    if not isinstance(s, str):  # a Client given by the caller: use it, do not close it
        with dask.config.set(scheduler=s):
            yield {"scheduler": s}
        return
    kwargs: dict[str, Any] = {"scheduler": s}
    if num_workers is not None and s != "sync":
        kwargs["num_workers"] = int(num_workers)
    with dask.config.set(**kwargs):
        yield kwargs


def compute(*objs, scheduler: Any = "threads", num_workers: int | None = None):
    """``dask.compute(*objs)`` on the given scheduler (see :func:`scheduler_context`)."""
    import dask

    with scheduler_context(scheduler, num_workers=num_workers) as kw:
        return dask.compute(*objs, **kw)


# --------------------------------------------------------------------------- arrays

@dataclass(frozen=True)
class RawArrayFile:
    """A C-ordered array stored raw in a file at ``offset`` (an MRC body, a ``.npy``, a
    ``numpy.memmap``), read and written by slices through short-lived memory maps.

    It pickles as a path and a header, so dask can hand it to worker processes; each task
    maps only the pages it touches. Writes from several processes to disjoint regions are safe
    (shared file mapping).
    """

    filename: str
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int = 0
    as_dtype: np.dtype | None = None  # view the stored bytes as this (same itemsize)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def out_dtype(self) -> np.dtype:
        return np.dtype(self.as_dtype if self.as_dtype is not None else self.dtype)

    def _map(self, mode: str) -> np.memmap:
        return np.memmap(self.filename, dtype=self.dtype, mode=mode, offset=self.offset,
                         shape=self.shape)

    def __getitem__(self, index) -> np.ndarray:
        mm = self._map("r")
        try:
            block = np.array(mm[index])
        finally:
            del mm
        if self.as_dtype is not None:
            block = block.view(self.as_dtype)
        return block.astype(block.dtype.newbyteorder("="), copy=False)

    def __setitem__(self, index, value) -> None:
        mm = self._map("r+")
        try:
            mm[index] = np.asarray(value).astype(self.dtype, copy=False)
            mm.flush()
        finally:
            del mm


def _mrc_file(path: Path) -> RawArrayFile:
    """A :class:`RawArrayFile` over the data block of an MRC file (header read by mrcfile)."""
    import mrcfile

    try:
        with mrcfile.mmap(path, mode="r", permissive=True) as mrc:
            data = mrc.data
            if data is None:
                raise InputError(f"{path}: MRC file without data")
            offset = int(mrc.header.nbytes + int(mrc.header.nsymbt))
            dtype, shape = data.dtype, tuple(data.shape)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable MRC file ({err})") from None
    # tomoml stores labels 0..127 in mode 0 (int8): read them as uint8 as tomoml.io does
    as_dtype = np.dtype(np.uint8) if dtype == np.int8 else None
    return RawArrayFile(str(path), dtype, shape, offset, as_dtype)


def _default_chunks(shape: tuple[int, ...], chunks) -> tuple[int, ...]:
    if chunks is None:
        chunks = DEFAULT_CHUNK
    if isinstance(chunks, int | np.integer):
        chunks = (int(chunks),) * len(shape)
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != len(shape) or min(chunks) < 1:
        raise ConfigError(f"chunks must be {len(shape)} positive sizes, got {chunks}")
    return tuple(min(c, n) for c, n in zip(chunks, shape, strict=True))


def as_dask_array(source, chunks: int | tuple[int, ...] | None = None):
    """A lazy :class:`dask.array.Array` over ``source``, read chunk by chunk.

    Parameters
    ----------
    source : ndarray, numpy.memmap, zarr.Array, dask array, Volume, or path
        A path ending in ``.zarr`` opens the store (:func:`tomoml.io.read_zarr`); an MRC path
        (``.mrc .rec .map .st .ali``) maps the file's data block. A ``numpy.memmap`` is
        re-opened by file name in each task.
    chunks : int or tuple, optional
        Chunk shape. Default: the store's own chunks (Zarr, dask), else 128 per axis.

    Returns
    -------
    dask.array.Array
    """
    import dask.array as da

    data = getattr(source, "data", None) if type(source).__name__ == "Volume" else None
    if data is not None:
        source = data
    if isinstance(source, da.Array):
        return source if chunks is None else source.rechunk(_default_chunks(source.shape, chunks))
    if isinstance(source, str | os.PathLike):
        p = Path(source)
        if not p.exists():
            raise InputError(f"{p}: no such file or Zarr store")
        if p.suffix.lower() == ".zarr" or p.is_dir():
            from tomoml.io.zarr_io import read_zarr

            arr = read_zarr(p, lazy=True).data
            return arr if chunks is None else arr.rechunk(_default_chunks(arr.shape, chunks))
        if p.suffix.lower() in _MRC_SUFFIXES:
            source = _mrc_file(p)
        else:
            raise InputError(f"{p}: chunked reading needs a .zarr store or an MRC file "
                             f"({', '.join(_MRC_SUFFIXES)}); convert it with tomoml.io")
    if isinstance(source, np.memmap):
        source = _memmap_file(source)
    if isinstance(source, RawArrayFile):
        meta = np.empty((0,) * source.ndim, dtype=source.out_dtype)
        return da.from_array(source, chunks=_default_chunks(source.shape, chunks), meta=meta,
                             name=f"raw-{Path(source.filename).name}-{source.offset}-"
                                  f"{hash((source.filename, source.offset, source.shape))}")
    if type(source).__module__.startswith("zarr"):
        c = chunks if chunks is not None else getattr(source, "chunks", None)
        return da.from_zarr(source, chunks=_default_chunks(source.shape, c))
    arr = np.asarray(source)
    return da.from_array(arr, chunks=_default_chunks(arr.shape, chunks))


def _memmap_file(mm: np.memmap) -> RawArrayFile | np.memmap:
    """A picklable reader for a whole memory map (not a view of one) of a file."""
    if isinstance(mm.base, np.memmap) or not mm.flags.c_contiguous or not mm.filename:
        return mm  # a view into a larger map: dask slices it in this process
    return RawArrayFile(str(mm.filename), mm.dtype, tuple(mm.shape), int(mm.offset))


# --------------------------------------------------------------------------- outputs

def create_output(path: str | os.PathLike, shape: tuple[int, int, int], dtype, *,
                  chunks: tuple[int, int, int] | None = None, voxel_size_A: float = 1.0,
                  labels: bool | None = None, tmp: Path | None = None,
                  origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0)):
    """Create an empty on-disk volume to be filled chunk by chunk; return the writable target.

    ``.zarr`` gives a ``zarr.Array`` with ``chunks`` and tomoml's attributes; an MRC suffix
    gives a :class:`RawArrayFile` over a new MRC file (mode 2 float32, or mode 0/1/6 for
    labels, marked as labels as :func:`tomoml.io.write_volume` does). ``tmp`` is the path to
    create (inside :func:`tomoml.io.atomic_path`); ``path`` decides the format. ``origin_A``
    is ``(z, y, x)`` in ångström, as in :class:`tomoml.data.Volume`.
    """
    import mrcfile
    from mrcfile.utils import mode_from_dtype

    target = Path(tmp if tmp is not None else path)
    dtype = np.dtype(dtype)
    is_labels = np.issubdtype(dtype, np.integer) if labels is None else bool(labels)
    suffix = Path(path).suffix.lower()
    if suffix == ".zarr":
        import zarr

        z = zarr.create_array(store=str(target), shape=tuple(shape),
                              chunks=_default_chunks(tuple(shape), chunks), dtype=dtype)
        z.attrs.update({"voxel_size_A": float(voxel_size_A), "origin_A": [float(v) for v in origin_A],
                        "axes": ["z", "y", "x"], "is_labels": bool(is_labels)})
        return z
    if suffix in _MRC_SUFFIXES:
        from tomoml.io.mrc import _MARK_LABELS

        if is_labels and dtype == np.uint8:
            dtype = np.dtype(np.int8)  # MRC mode 0; values 0..127 read the same in IMOD
        mrc = mrcfile.new_mmap(target, tuple(shape), mrc_mode=int(mode_from_dtype(dtype)),
                               overwrite=True, fill=None)
        try:
            mrc.set_volume()
            mrc.voxel_size = (float(voxel_size_A),) * 3
            oz, oy, ox = (float(v) for v in origin_A)
            mrc.header.origin = (ox, oy, oz)
            if is_labels:
                mrc.add_label(_MARK_LABELS)
            offset = int(mrc.header.nbytes + int(mrc.header.nsymbt))
            stored = mrc.data.dtype
        finally:
            mrc.close()
        as_dtype = np.dtype(np.uint8) if stored == np.int8 else None
        return RawArrayFile(str(target), stored, tuple(shape), offset, as_dtype)
    raise ConfigError(f"{path}: chunked output must be a .zarr store or an MRC file "
                      f"({', '.join(_MRC_SUFFIXES)})")


def _finish_mrc(path: Path) -> None:
    """Header statistics of an MRC file written through raw memory maps."""
    import mrcfile

    with mrcfile.mmap(path, mode="r+", permissive=True) as mrc:
        mrc.update_header_stats()


def _store_into(result, out, *, scheduler, num_workers, voxel_size_A: float, force: bool,
                origin_A=(0.0, 0.0, 0.0)):
    """Compute ``result`` (dask) into ``out`` (path, zarr array, memmap or array)."""
    import dask.array as da

    if isinstance(out, str | os.PathLike):
        from tomoml.io import atomic_path

        path = Path(out)
        with atomic_path(path, force=force) as tmp:
            target = create_output(path, result.shape, result.dtype,
                                   chunks=tuple(c[0] for c in result.chunks),
                                   voxel_size_A=voxel_size_A, tmp=tmp, origin_A=origin_A)
            if not isinstance(target, RawArrayFile):
                result = result.rechunk(target.chunks)  # one task per zarr chunk: no races
            with scheduler_context(scheduler, num_workers=num_workers) as kw:
                da.store(result, target, lock=False, **kw)
            if isinstance(target, RawArrayFile):
                _finish_mrc(tmp)
        return path
    if isinstance(out, np.memmap):
        reader = _memmap_file(out)
        target = reader if isinstance(reader, RawArrayFile) else out
    else:
        target = out
    if tuple(out.shape) != tuple(result.shape):
        raise InputError(f"out has shape {tuple(out.shape)}, the result is {result.shape}")
    if type(target).__module__.startswith("zarr"):
        result = result.rechunk(target.chunks)
    with scheduler_context(scheduler, num_workers=num_workers) as kw:
        da.store(result, target, lock=False, **kw)
    if isinstance(out, np.memmap):
        out.flush()
    return out


# --------------------------------------------------------------------------- mapping

def _overlap_lazy(arrays: list, fn: Callable[..., np.ndarray], *, depth, dtype=None,
                  boundary: str = "none"):
    """``fn(*blocks)`` on overlapping chunks of one or more same-shaped dask arrays (lazy)."""
    import dask.array as da
    from dask.array.overlap import ensure_minimum_chunksize

    arr = arrays[0]
    if arr.ndim != 3:
        raise InputError(f"array must be 3D (z, y, x), got shape {arr.shape}")
    d = (int(depth),) * 3 if np.isscalar(depth) else tuple(int(v) for v in depth)
    if len(d) != 3 or min(d) < 0:
        raise ConfigError(f"depth must be one or three voxel counts >= 0, got {depth}")
    # dask needs every chunk at least as deep as the overlap
    fixed = tuple(ensure_minimum_chunksize(d[ax], arr.chunks[ax])
                  if d[ax] and arr.shape[ax] > d[ax] else
                  ((arr.shape[ax],) if d[ax] else arr.chunks[ax]) for ax in range(3))
    arrays = [a if a.chunks == fixed else a.rechunk(fixed) for a in arrays]
    out_dtype = np.dtype(dtype) if dtype is not None else arrays[0].dtype
    return da.map_overlap(fn, *arrays, depth=dict(enumerate(d)), boundary=boundary, trim=True,
                          dtype=out_dtype, meta=np.empty((0, 0, 0), out_dtype))


def map_blocks_overlap(array, fn: Callable[[np.ndarray], np.ndarray], *,
                       depth: int | tuple[int, int, int], chunks=None,
                       scheduler: Any = "threads", num_workers: int | None = None, out=None,
                       dtype=None, boundary: str = "none", voxel_size_A: float = 1.0,
                       force: bool = False, lazy: bool = False,
                       origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0)):
    """Apply a local operator ``fn`` to overlapping chunks of a volume.

    Parameters
    ----------
    array : (z, y, x) ndarray, numpy.memmap, zarr.Array, dask array or path
        The input (see :func:`as_dask_array`); read chunk by chunk.
    fn : callable
        ``fn(block) -> block`` of the same shape (a filter, a network's sliding-window
        prediction). Must be picklable for process and distributed schedulers (a module-level
        function or a :func:`functools.partial` of one).
    depth : int or (dz, dy, dx)
        Voxels of context each chunk gets from its neighbours: at least the operator's radius
        (a Gaussian of sigma ``s`` truncated at 4: ``int(4 * s + 0.5)``; a network: half its
        receptive field or window).
    chunks : int or tuple, optional
        Core chunk shape (default: the input's chunks, else 128³). Memory per task is about
        ``(chunk + 2 depth)³`` times the operator's working set.
    scheduler : {"threads", "processes", "sync"}, address or Client
        See :func:`scheduler_context`.
    num_workers : int, optional
        Local pool size.
    out : path, zarr.Array, numpy.memmap or ndarray, optional
        Where to write the result chunk by chunk. A ``.zarr`` or MRC path is created
        atomically (``force`` to replace). Default: return an in-memory array.
    dtype : dtype, optional
        Output dtype (default: the input's).
    boundary : {"none", "reflect", "nearest", "periodic"} or a number
        Padding at the volume's edges. ``"none"`` (default) passes the real edge to ``fn``,
        whose own boundary mode then acts exactly as on the whole volume.
    voxel_size_A, origin_A : float, (3,) tuple of float
        Voxel size and ``(z, y, x)`` origin (ångström) written into a created output file.
    lazy : bool
        Return the dask array without computing (``out`` is then ignored).

    Returns
    -------
    ndarray, the ``out`` target (path or array) it wrote, or a dask array when ``lazy``.

    Examples
    --------
    >>> from functools import partial
    >>> from scipy import ndimage as ndi
    >>> smooth = partial(ndi.gaussian_filter, sigma=2.0)   # radius int(4*2+0.5) = 8
    >>> map_blocks_overlap(vol, smooth, depth=8, chunks=64, out="smooth.zarr")  # doctest: +SKIP
    """
    arr = as_dask_array(array, chunks)
    result = _overlap_lazy([arr], fn, depth=depth, dtype=dtype, boundary=boundary)
    if lazy:
        return result
    if out is None:
        (value,) = compute(result, scheduler=scheduler, num_workers=num_workers)
        return value
    return _store_into(result, out, scheduler=scheduler, num_workers=num_workers,
                       voxel_size_A=voxel_size_A, force=force, origin_A=origin_A)


# --------------------------------------------------------------------------- inference

@functools.lru_cache(maxsize=2)
def _segmentation_model(path: str):
    """Loaded once per worker process (tasks share it)."""
    from tomoml.segment.inference import load_model

    return load_model(path)


def _segment_block(block: np.ndarray, *, model_path: str, levels: tuple[float, float],
                   roi: int, overlap: float, device: str) -> np.ndarray:
    """U-Net labels of one block, normalised with the whole volume's levels."""
    import torch

    from tomoml.segment.inference import _fit_roi, _infer_block
    from tomoml.segment.unet import normalize_intensity

    model = _segmentation_model(model_path)
    x = normalize_intensity(block, model.normalization, levels=levels)
    t = torch.from_numpy(x)[None, None]
    with torch.no_grad():
        logits = _infer_block(model.network.eval(), t, _fit_roi((roi,) * 3, x.shape), 2,
                              overlap, device)
    return logits[0].argmax(0).cpu().numpy().astype(np.uint8)


def _threshold_block(block: np.ndarray, *, threshold: float, sigma: float) -> np.ndarray:
    if sigma > 0:
        from scipy import ndimage as ndi

        block = ndi.gaussian_filter(np.asarray(block, np.float32), sigma)
    return (block > threshold).astype(np.uint8)


def segment_blocks(volume, *, model: str | os.PathLike = "default", method: str | None = None,
                   sigma: float = 0.0, chunks=None, depth: int | None = None,
                   scheduler: Any = "threads", num_workers: int | None = None, out=None,
                   voxel_size_A: float = 1.0, force: bool = False, device: str = "cpu",
                   roi_size: int | None = None, overlap: float = 0.25,
                   max_samples: int = 4_000_000,
                   origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0)):
    """Segment a volume by overlapping chunks on a dask scheduler (bounded memory).

    Global statistics come first from a strided subsample of the whole volume (the U-Net's
    intensity levels, or the Otsu threshold), so every chunk is labelled with the same
    normalisation; then each chunk plus ``depth`` voxels of context is labelled on its own.

    Parameters
    ----------
    volume : (z, y, x) array, memory map, Zarr or path
        Densities (material bright).
    model : "default" or path
        U-Net (:mod:`tomoml.segment`), used when ``method`` is None.
    method : {None, "otsu"}
        ``"otsu"``: one Otsu threshold of the subsample, applied per chunk after an optional
        Gaussian of ``sigma`` voxels (depth >= its radius makes it identical to the
        whole-volume filter).
    depth : int, optional
        Context per side; default the margin :func:`tomoml.segment.segment` uses (half the
        window, at most 32 voxels) for the U-Net, or the Gaussian radius.
    out, scheduler, chunks, num_workers, voxel_size_A, origin_A, force :
        As in :func:`map_blocks_overlap`.
    device, roi_size, overlap :
        U-Net inference settings (see :func:`tomoml.segment.inference.predict`); the window
        ``roi_size`` defaults to the one :func:`tomoml.segment.segment` uses.

    Returns
    -------
    The uint8 labels (ndarray) or the ``out`` it wrote.

    Notes
    -----
    With a U-Net, the chunk borders move the sliding windows and their Gaussian blending, so
    labels differ from :func:`tomoml.segment.segment` at a small fraction of voxels near
    class boundaries (the network sees the same context, not the same window grid).
    """
    from functools import partial

    from tomoml._device import resolve_device

    device = resolve_device(device, engine="torch")
    arr = as_dask_array(volume, chunks)
    step = max(1, int(np.ceil((np.prod(arr.shape) / max_samples) ** (1 / 3))))
    (sample,) = compute(arr[::step, ::step, ::step], scheduler=scheduler,
                        num_workers=num_workers)
    sample = np.asarray(sample, dtype=np.float32)
    if method is not None:
        if method != "otsu":
            raise ConfigError(f"method must be None (U-Net) or 'otsu' for chunked "
                              f"segmentation, got {method!r}")
        from skimage.filters import threshold_otsu

        if sigma > 0:
            from scipy import ndimage as ndi

            sample = ndi.gaussian_filter(sample, sigma / step)
        fn = partial(_threshold_block, threshold=float(threshold_otsu(sample)),
                     sigma=float(sigma))
        d = int(4 * sigma + 0.5) if depth is None else int(depth)
    else:
        from tomoml.segment.unet import default_model_path

        path = str(default_model_path()) if str(model) == "default" else str(model)
        m = _segmentation_model(path)
        lo, hi = np.percentile(sample, [m.normalization["low"], m.normalization["high"]])
        levels = (float(lo), float(hi) if hi > lo else float(lo) + 1.0)
        from tomoml.segment import inference as seg

        roi = int(roi_size) if roi_size is not None else int(getattr(seg, "DEFAULT_ROI", 64))
        fn = partial(_segment_block, model_path=path, levels=levels, roi=roi,
                     overlap=float(overlap), device=device)
        margin = min(roi // 2, int(getattr(seg, "MAX_MARGIN", roi // 2)))
        d = margin if depth is None else int(depth)
    return map_blocks_overlap(arr, fn, depth=d, scheduler=scheduler, num_workers=num_workers,
                              out=out, dtype=np.uint8, voxel_size_A=voxel_size_A, force=force,
                              origin_A=origin_A)


def _grid_chunks(n: int, chunk: int, step: int, depth: int) -> tuple[int, ...]:
    """Chunks of an axis of ``n`` voxels: multiples of ``step``, each at least ``depth``."""
    c = max(-(-int(chunk) // step) * step, depth, step)
    if n <= c:
        return (n,)
    sizes = [c] * (n // c) + ([n % c] if n % c else [])
    if len(sizes) > 1 and sizes[-1] < depth:
        sizes[-2:] = [sizes[-2] + sizes[-1]]
    return tuple(sizes)


@functools.lru_cache(maxsize=2)
def _denoise_model(path: str):
    from tomoml.denoise.model import DenoiseModel

    return DenoiseModel.load(path)


def _denoise_block(*blocks: np.ndarray, model_path: str, mean: float, std: float,
                   overlap: float, device: str, flips: bool = True) -> np.ndarray:
    """The denoiser on one block (or the mean of its outputs on the even and odd blocks),
    normalised with the whole volume's statistics."""
    from tomoml.denoise.inference import _run
    from tomoml.denoise.model import Normalisation

    model = _denoise_model(model_path)
    return _run(model.network, [np.asarray(b, np.float32) for b in blocks],
                Normalisation(mean, std), model.patch, device=device, overlap=overlap,
                window_batch=4, max_block_voxels=1 << 62, desc="denoising block", flips=flips)


def denoise_blocks(volume, model: str | os.PathLike, *, even=None, odd=None, chunks=None,
                   depth: int | None = None, scheduler: Any = "threads",
                   num_workers: int | None = None, out=None, voxel_size_A: float = 1.0,
                   force: bool = False, device: str = "cpu", overlap: float = 0.5,
                   max_samples: int = 4_000_000,
                   origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0),
                   flip_average: bool = True):
    """Apply a trained denoiser (:class:`tomoml.denoise.DenoiseModel` saved at ``model``) by
    overlapping chunks on a dask scheduler.

    The z-score statistics come from a strided subsample of the whole volume (as
    :func:`tomoml.denoise.predict` does), so every chunk is normalised alike; each chunk gets
    ``depth`` voxels of context (default: the model's window, the largest patch edge) and runs
    MONAI's sliding-window inference with Gaussian blending. Chunk borders and ``depth`` are
    rounded up to the window grid (multiples of ``patch * (1 - overlap)``), so each chunk sees
    the same windows as the whole volume and the result is bit-identical to
    :func:`tomoml.denoise.predict` where that runs the volume in one block (up to 2^26 voxels;
    beyond, predict's own blocks move its windows, by the blending of windows only).

    Parameters
    ----------
    volume : (z, y, x) array, memory map, Zarr or path
        The volume to denoise (ignored, may be None, when ``even`` and ``odd`` are given).
    model : path
        A saved :class:`~tomoml.denoise.DenoiseModel` (read by each worker).
    even, odd : arrays or paths, optional
        Noise2Noise half volumes: as :func:`tomoml.denoise.predict` with ``even``/``odd``, the
        result is the mean of the network's outputs on the two halves, normalised with their
        pooled statistics.
    depth, chunks, scheduler, num_workers, out, voxel_size_A, origin_A, force :
        As in :func:`map_blocks_overlap`.
    device : {"auto", "cpu", "cuda"}
    overlap : float
        Window overlap fraction of the sliding-window inference.
    flip_average : bool
        As in :func:`tomoml.denoise.predict`: each window's output is the mean over its 8 flips.

    Returns
    -------
    The float32 denoised volume (ndarray) or the ``out`` it wrote.
    """
    from functools import partial

    from tomoml._device import resolve_device
    from tomoml.denoise.model import Normalisation

    if (even is None) != (odd is None):
        raise InputError("give both even and odd half volumes, or neither")
    device = resolve_device(device, engine="torch")
    path = str(model)
    m = _denoise_model(path)
    sources = [volume] if even is None else [even, odd]
    arrays = [as_dask_array(src, chunks) for src in sources]
    for a in arrays[1:]:
        if a.shape != arrays[0].shape:
            raise InputError(f"even {arrays[0].shape} and odd {a.shape} must have the same shape")
    arrays = [arrays[0]] + [a.rechunk(arrays[0].chunks) for a in arrays[1:]]
    step = max(1, int(np.ceil((np.prod(arrays[0].shape) / max_samples) ** (1 / 3))))
    samples = compute(*[a[::step, ::step, ::step] for a in arrays], scheduler=scheduler,
                      num_workers=num_workers)
    norm = Normalisation.of(*[np.asarray(smp, np.float32) for smp in samples])
    fn = partial(_denoise_block, model_path=path, mean=norm.mean, std=norm.std,
                 overlap=float(overlap), device=device, flips=bool(flip_average))
    # Chunk borders and context on the sliding-window grid (MONAI: windows start at multiples
    # of int(roi * (1 - overlap)), the last one flush with the end): every block then holds
    # exactly the windows the whole-volume run puts over its core, blended in the same order,
    # so the chunked result equals tomoml.denoise.predict on a volume it takes in one block.
    shape = arrays[0].shape
    steps = [max(int(min(int(r), n) * (1 - float(overlap))), 1)
             for r, n in zip(m.patch, shape, strict=True)]
    d0 = int(max(m.patch)) if depth is None else int(depth)
    d = tuple(-(-d0 // st) * st for st in steps)
    grid = tuple(_grid_chunks(n, c[0], st, dd)
                 for n, c, st, dd in zip(shape, arrays[0].chunks, steps, d, strict=True))
    arrays = [a.rechunk(grid) for a in arrays]
    if len(arrays) == 1:
        return map_blocks_overlap(arrays[0], fn, depth=d, scheduler=scheduler,
                                  num_workers=num_workers, out=out, dtype=np.float32,
                                  voxel_size_A=voxel_size_A, force=force, origin_A=origin_A)
    result = _overlap_lazy(arrays, fn, depth=d, dtype=np.float32)
    if out is None:
        (value,) = compute(result, scheduler=scheduler, num_workers=num_workers)
        return value
    return _store_into(result, out, scheduler=scheduler, num_workers=num_workers,
                       voxel_size_A=voxel_size_A, force=force, origin_A=origin_A)
