"""Metrics that add up over chunks, computed chunk by chunk on volumes larger than memory.

The label volume (numpy, memory map, Zarr store, MRC path or dask array; see
:func:`tomoml.parallel.as_dask_array`) is read chunk by chunk on any dask scheduler
(``scheduler="threads" | "processes" | "sync" | "tcp://HOST:PORT"``); each chunk returns a few
numbers and the client adds them up. Memory is a few chunks per worker, whatever the volume.

Additive metrics, and how they equal the whole-volume functions of :mod:`tomoml.analyze`:

- **Phase voxel counts, volume fractions, porosity** (:func:`phase_fractions`): per-chunk
  histograms of the labels, summed. Exact (integer counts), same keys as
  :func:`tomoml.analyze.porosity` without an envelope.
- **Surface area** (:func:`surface_area`): the phase mask is smoothed (Gaussian of
  ``smoothing_sigma`` voxels, ``mode="nearest"``, as :func:`tomoml.analyze.surface_area`) with a
  halo of ``ceil(4 sigma) + 1`` voxels from the neighbouring chunks, so the smoothed field is
  bit-identical to the whole-volume one; each chunk then meshes the marching-cubes cells from
  its first voxel layer to the first layer of the next chunk (one shared voxel layer), so every
  cell is meshed exactly once. Marching cubes is local to each cell: the summed area equals the
  whole-volume mesh area up to float rounding (relative 1e-6; the vertex coordinates are local
  to each chunk and the triangle areas are summed in another order).
- **Euler characteristic** (:func:`euler_number`): χ = V − E + F − C of the union of closed
  voxels (phase 26-connected, complement 6-connected; as :func:`tomoml.analyze.euler_number`
  and ``skimage.measure.euler_number(connectivity=3)``). Each vertex of the voxel grid owns the
  vertex, the three edges, three faces and one cube that start at it in +x, +y, +z; what it
  owns is a function of the 2×2×2 voxels around it. Each chunk counts its vertices' 256
  configurations (one voxel layer of overlap, zeros outside the volume) and χ is the summed
  histogram times a table: an integer, bit-identical to the whole-volume value.

Whole-volume only (not additive over chunks; run :mod:`tomoml.analyze` on a volume that fits, or
on a subvolume/downsampled copy): connected components and everything built on them (objects,
cavities, tunnels, particle sizes and the per-object table, percolation), local thickness and
pore-size distributions (distance transforms reach across chunks), tortuosity and geodesic
distances, skeletons, the porosity *envelope* (closing or convex hull of the whole particle),
and the Odgaard–Gundersen edge-corrected connectivity density (it needs χ of the volume's faces,
edges and corners — computable from slices, but not provided chunked here).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from tomoml.analyze.surfaces import DEFAULT_SMOOTHING_SIGMA, isosurface_area
from tomoml.analyze.transport import DIFFUSIVE_MAX_VOXELS
from tomoml.errors import ConfigError, InputError

__all__ = [
    "CHUNKED_METRICS", "analyze_chunked", "chunked_metrics", "euler_config_histogram",
    "euler_lut", "euler_number", "phase_fractions", "surface_area",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- inputs

def _labels(labels, chunks):
    from tomoml.parallel import as_dask_array

    arr = as_dask_array(labels, chunks)
    if arr.ndim != 3:
        raise InputError(f"labels must be a 3D (z, y, x) volume, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise InputError(f"labels must be integer labels (0 = pore) or a boolean mask, "
                         f"got dtype {arr.dtype}; segment the volume first")
    return arr


def _phase_block(block: np.ndarray, phase: int | None) -> np.ndarray:
    if block.dtype == bool:
        return block.view(np.uint8)
    if phase is None:
        return (block > 0).view(np.uint8)
    return (block == phase).view(np.uint8)


def _mask(labels, phase: int | None, chunks):
    arr = _labels(labels, chunks)
    if phase is not None and int(phase) == 0:
        raise ConfigError("phase: 0 is the pore phase; choose a solid label 1..N")
    return arr.map_blocks(_phase_block, None if phase is None else int(phase), dtype=np.uint8)


def _ensure_depth(arr, depth: int):
    """Rechunk so every chunk is at least ``depth`` deep (dask's overlap needs it)."""
    from dask.array.overlap import ensure_minimum_chunksize

    if not depth:
        return arr
    chunks = tuple(ensure_minimum_chunksize(depth, c) if n > depth else (n,)
                   for c, n in zip(arr.chunks, arr.shape, strict=True))
    return arr if chunks == arr.chunks else arr.rechunk(chunks)


def _blocks_with_location(arr, depth: int, boundary):
    """``[(delayed block, location, n_chunks, core_shape), ...]`` of ``arr`` overlapped."""
    import dask.array as da

    arr = _ensure_depth(arr, depth)
    core = [list(c) for c in arr.chunks]
    n_chunks = tuple(len(c) for c in arr.chunks)
    g = da.overlap.overlap(arr, depth={0: depth, 1: depth, 2: depth},
                           boundary={0: boundary, 1: boundary, 2: boundary}) if depth else arr
    delayed = g.to_delayed()
    out = []
    for loc in np.ndindex(*n_chunks):
        shape = tuple(core[ax][loc[ax]] for ax in range(3))
        out.append((delayed[loc], loc, n_chunks, shape))
    return out


def _sum_compute(tasks, scheduler, num_workers):
    from tomoml.parallel import compute

    return compute(*tasks, scheduler=scheduler, num_workers=num_workers)


# --------------------------------------------------------------------------- fractions

def _count_block(block: np.ndarray) -> np.ndarray:
    return np.bincount(np.asarray(block).reshape(-1).astype(np.int64, copy=False))


def _fractions_tasks(arr):
    import dask

    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    return [dask.delayed(_count_block)(b) for b in arr.to_delayed().ravel()]


def _fractions_result(counts_list) -> dict:
    n = max(len(c) for c in counts_list)
    counts = np.zeros(n, np.int64)
    for c in counts_list:
        counts[:len(c)] += c
    from tomoml.analyze.porosity import porosity_from_counts

    return porosity_from_counts(counts)


def phase_fractions(labels, *, chunks=None, scheduler: Any = "threads",
                    num_workers: int | None = None) -> dict:
    """Porosity and volume fraction of each label, from per-chunk voxel counts (exact).

    Parameters
    ----------
    labels : (z, y, x) integer array, memory map, Zarr, MRC path or dask array
        0 = pore, 1..N = phases (negative labels are not allowed).
    chunks, scheduler, num_workers :
        See :func:`tomoml.parallel.as_dask_array` and :func:`tomoml.parallel.compute`.

    Returns
    -------
    dict
        ``porosity``, ``pore_voxels``, ``solid_voxels``, ``envelope_voxels`` (all voxels),
        ``phase_voxels`` and ``phase_fractions`` (label -> count / fraction), as
        :func:`tomoml.analyze.porosity` without an envelope.
    """
    arr = _labels(labels, chunks)
    return _fractions_result(_sum_compute(_fractions_tasks(arr), scheduler, num_workers))


# --------------------------------------------------------------------------- surface

def _surface_halo(sigma: float) -> int:
    # as tomoml.analyze.surfaces: >= the Gaussian's radius int(4 sigma + 0.5)
    return int(np.ceil(4 * sigma)) + 1 if sigma > 0 else 0


def _surface_block(block: np.ndarray, loc, n_chunks, core, depth: int, sigma: float) -> float:
    """Marching-cubes area of the cells owned by one chunk (voxel-face units)."""
    block = np.asarray(block)
    if not block.any() or block.all():
        return 0.0
    field = block.astype(np.float32)
    if sigma > 0:
        from scipy import ndimage as ndi

        field = ndi.gaussian_filter(field, sigma, mode="nearest", truncate=4.0)
    index = []
    for ax in range(3):
        lo = 0 if loc[ax] == 0 else depth
        last = loc[ax] == n_chunks[ax] - 1
        # this chunk's voxels plus the first layer of the next chunk: each cell once
        index.append(slice(lo, lo + core[ax] + (0 if last else 1)))
    field = field[tuple(index)]
    if min(field.shape) < 2 or field.min() >= 0.5 or field.max() <= 0.5:
        return 0.0
    return isosurface_area(field, 0.5)


def _surface_tasks(mask, sigma: float):
    import dask

    depth = max(_surface_halo(sigma), 1)
    fn = dask.delayed(_surface_block, pure=True)
    return [fn(b, loc, n, core, depth, float(sigma))
            for b, loc, n, core in _blocks_with_location(mask, depth, "none")]


def surface_area(labels, voxel_size_A: float = 10.0, *, phase: int | None = None,
                 smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA, chunks=None,
                 scheduler: Any = "threads", num_workers: int | None = None) -> dict:
    """Marching-cubes surface area of a phase, chunk by chunk.

    Parameters
    ----------
    labels : (z, y, x) labels or boolean mask (array, memory map, Zarr, MRC path, dask)
        The phase is ``labels == phase``, every non-zero label when ``phase`` is None, or the
        mask itself when boolean.
    voxel_size_A : float
        Voxel size in ångström.
    phase : int, optional
        The solid label measured.
    smoothing_sigma : float
        Gaussian sigma (voxels) before meshing, as :func:`tomoml.analyze.surface_area`.
    chunks, scheduler, num_workers :
        See :mod:`tomoml.parallel`. Chunks must be deeper than the halo (``ceil(4 sigma)+1``
        voxels); smaller chunks are merged.

    Returns
    -------
    dict
        ``area_nm2``, ``area_vox2``, ``smoothing_sigma_vox`` (as the whole-volume function).
    """
    sigma = float(smoothing_sigma)
    if sigma < 0:
        raise ConfigError(f"smoothing_sigma must be >= 0, got {smoothing_sigma}")
    tasks = _surface_tasks(_mask(labels, phase, chunks), sigma)
    area = float(np.sum(_sum_compute(tasks, scheduler, num_workers)))
    vs_nm = float(voxel_size_A) / 10.0
    return {"area_nm2": area * vs_nm ** 2, "area_vox2": area, "smoothing_sigma_vox": sigma}


# --------------------------------------------------------------------------- Euler

def euler_lut() -> np.ndarray:
    """χ owned by a grid vertex for each of the 256 configurations of its 2×2×2 voxels.

    Bit ``4 dz + 2 dy + dx`` of a configuration is voxel ``(k-1+dz, j-1+dy, i-1+dx)`` of vertex
    ``(k, j, i)``. The vertex owns itself, the edges and faces that start at it towards +x, +y,
    +z and the cube ``(k, j, i)``; a cell is present when any voxel containing it is set.
    """
    lut = np.zeros(256, np.int64)
    for code in range(256):
        b = np.array([(code >> (4 * dz + 2 * dy + dx)) & 1 for dz in (0, 1) for dy in (0, 1)
                      for dx in (0, 1)], bool).reshape(2, 2, 2)
        v = int(b.any())
        e = int(b[:, :, 1].any()) + int(b[:, 1, :].any()) + int(b[1, :, :].any())
        f = int(b[:, 1, 1].any()) + int(b[1, :, 1].any()) + int(b[1, 1, :].any())
        c = int(b[1, 1, 1])
        lut[code] = v - e + f - c
    return lut


_LUT = euler_lut()


def _config_codes(p: np.ndarray) -> np.ndarray:
    """Configuration code of every 2×2×2 window of ``p`` (uint8)."""
    nz, ny, nx = (s - 1 for s in p.shape)
    code = np.zeros((nz, ny, nx), np.uint8)
    for dz in (0, 1):
        for dy in (0, 1):
            for dx in (0, 1):
                code |= p[dz:dz + nz, dy:dy + ny, dx:dx + nx] << np.uint8(4 * dz + 2 * dy + dx)
    return code


def _euler_block(block: np.ndarray, loc, n_chunks, core) -> np.ndarray:
    """Histogram of the 2×2×2 configurations of the grid vertices one chunk owns."""
    block = np.asarray(block, dtype=np.uint8)
    index = []
    for ax in range(3):
        last = loc[ax] == n_chunks[ax] - 1
        # block = one layer of the previous chunk (or zero padding) + core + one layer after;
        # the chunk owns vertices k0..k1-1 (and k1 = n for the last chunk)
        index.append(slice(0, core[ax] + (2 if last else 1)))
    sub = block[tuple(index)]
    if not sub.any():
        return np.zeros(256, np.int64)
    return np.bincount(_config_codes(sub).reshape(-1), minlength=256).astype(np.int64)


def _euler_tasks(mask):
    import dask

    fn = dask.delayed(_euler_block, pure=True)
    return [fn(b, loc, n, core) for b, loc, n, core in _blocks_with_location(mask, 1, 0)]


def euler_config_histogram(labels, *, phase: int | None = None, chunks=None,
                           scheduler: Any = "threads", num_workers: int | None = None
                           ) -> np.ndarray:
    """Counts of the 256 2×2×2 vertex configurations of a phase, summed over chunks."""
    hists = _sum_compute(_euler_tasks(_mask(labels, phase, chunks)), scheduler, num_workers)
    return np.sum(hists, axis=0)


def euler_number(labels, *, phase: int | None = None, chunks=None, scheduler: Any = "threads",
                 num_workers: int | None = None) -> int:
    """Euler characteristic χ of a phase (26-connected; complement 6-connected), chunk by chunk.

    Equal to :func:`tomoml.analyze.euler_number` and ``skimage.measure.euler_number(mask,
    connectivity=3)`` on the whole volume (exact integer arithmetic).
    """
    return int(euler_config_histogram(labels, phase=phase, chunks=chunks, scheduler=scheduler,
                                      num_workers=num_workers) @ _LUT)


# --------------------------------------------------------------------------- all

def chunked_metrics(labels, voxel_size_A: float = 10.0, *, phase: int | None = None,
                    smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA, chunks=None,
                    scheduler: Any = "threads", num_workers: int | None = None,
                    metrics: tuple[str, ...] = ("fractions", "surface", "euler")) -> dict:
    """The additive metrics in one pass over the chunks.

    Parameters
    ----------
    labels : (z, y, x) labels (array, memory map, Zarr, MRC path or dask array)
    voxel_size_A : float
        Voxel size in ångström.
    phase : int, optional
        Solid label for the surface and χ (default: every non-zero label).
    metrics : tuple of {"fractions", "surface", "euler"}
        Which to compute.

    Returns
    -------
    dict
        ``voxel_size_A``, ``shape``, and per metric: the keys of :func:`phase_fractions`;
        ``surface_area_nm2``, ``surface_area_vox2``, ``specific_surface_area_per_nm`` (area /
        total volume), ``smoothing_sigma_vox``; ``euler_characteristic`` and
        ``euler_characteristic_per_nm3`` (χ / total volume).
    """
    unknown = set(metrics) - {"fractions", "surface", "euler"}
    if unknown:
        raise ConfigError(f"metrics: unknown {sorted(unknown)}; use fractions, surface, euler")
    arr = _labels(labels, chunks)
    mask = _mask(arr, phase, None)
    sigma = float(smoothing_sigma)
    groups: dict[str, list] = {}
    if "fractions" in metrics:
        groups["fractions"] = _fractions_tasks(arr)
    if "surface" in metrics:
        groups["surface"] = _surface_tasks(mask, sigma)
    if "euler" in metrics:
        groups["euler"] = _euler_tasks(mask)
    flat = [t for tasks in groups.values() for t in tasks]
    values = list(_sum_compute(flat, scheduler, num_workers))
    vs_nm = float(voxel_size_A) / 10.0
    total = int(np.prod(arr.shape))
    out: dict[str, Any] = {"voxel_size_A": float(voxel_size_A), "shape": list(arr.shape),
                           "phase": phase}
    for name, tasks in groups.items():
        part, values = values[:len(tasks)], values[len(tasks):]
        if name == "fractions":
            out.update(_fractions_result(part))
        elif name == "surface":
            area = float(np.sum(part))
            out.update({"surface_area_nm2": area * vs_nm ** 2, "surface_area_vox2": area,
                        "specific_surface_area_per_nm": area / total / vs_nm,
                        "smoothing_sigma_vox": sigma})
        else:
            chi = int(np.sum(part, axis=0) @ _LUT)
            out.update({"euler_characteristic": chi,
                        "euler_characteristic_per_nm3": chi / (total * vs_nm ** 3)})
    return out


# --------------------------------------------------------------------------- report

_POROSITY_KEYS = ("porosity", "pore_voxels", "solid_voxels", "envelope_voxels", "phase_voxels",
                  "phase_fractions")  # of tomoml.analyze.porosity.porosity_from_counts

#: Sections of :func:`tomoml.analyze.analyze` that :func:`analyze_chunked` computes by chunks.
CHUNKED_METRICS = ("porosity", "surface")


def analyze_chunked(labels, voxel_size_A: float, *, phase: int | None = None,
                    envelope: str | None = None, envelope_radius_vox: int = 5, metrics=None,
                    network: str = "pore", smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA,
                    chunks=None, scheduler: Any = "threads", num_workers: int | None = None,
                    threads: int | None = None,
                    diffusive_max_voxels: int | None = DIFFUSIVE_MAX_VOXELS,
                    source: str | None = None):
    """:func:`tomoml.analyze.analyze`, with the sections that add up over chunks computed chunk
    by chunk on a dask scheduler; the same report, keys and units.

    ``porosity`` (without an envelope: exact) and ``surface`` (equal up to float rounding,
    relative 1e-6) are read from ``labels`` chunk by chunk. Every other requested section
    (sizes, topology, tortuosity, skeleton, particles; and porosity/surface inside an envelope,
    which is a whole-volume closing or hull) needs the whole volume: the labels are then read
    into memory and those sections run as :func:`~tomoml.analyze.analyze` does. Ask for
    ``metrics="porosity,surface"`` to keep memory bounded on volumes larger than memory.

    Parameters
    ----------
    labels : (z, y, x) labels: array, memory map, Zarr, MRC path
    voxel_size_A, phase, envelope, envelope_radius_vox, metrics, network, smoothing_sigma :
        As :func:`tomoml.analyze.analyze`.
    chunks, scheduler, num_workers :
        See :mod:`tomoml.parallel`.
    threads, diffusive_max_voxels :
        ``workers`` and ``diffusive_max_voxels`` of :func:`~tomoml.analyze.analyze`, for the
        whole-volume sections.

    Returns
    -------
    MorphologyReport
    """
    import time

    from tomoml.analyze.report import METRICS, MorphologyReport, _resolve_metrics, analyze

    wanted = _resolve_metrics(metrics)
    by_chunks = [m for m in CHUNKED_METRICS if m in wanted] if envelope is None else []
    rest = [m for m in wanted if m not in by_chunks]
    arr = _labels(labels, chunks)
    if rest:
        log.info("analyze: %s by chunks, %s on the whole volume", by_chunks, rest)
        if isinstance(labels, str | os.PathLike):
            from tomoml.io import read_volume

            whole = read_volume(labels, labels=True).data
        else:
            whole = np.asarray(arr)
        report = analyze(whole, voxel_size_A=voxel_size_A, phase=phase, envelope=envelope,
                         envelope_radius_vox=envelope_radius_vox, metrics=rest,
                         network=network, smoothing_sigma=smoothing_sigma, workers=threads,
                         diffusive_max_voxels=diffusive_max_voxels, source=source)
    else:
        report = MorphologyReport(voxel_size_A=float(voxel_size_A), shape=tuple(arr.shape),
                                  phase=phase, envelope=None, network=network, source=source)
    kw = dict(voxel_size_A=voxel_size_A, phase=phase, smoothing_sigma=smoothing_sigma,
              scheduler=scheduler, num_workers=num_workers)
    counts = None
    for name in by_chunks:
        t0 = time.perf_counter()
        if name == "porosity":
            counts = chunked_metrics(arr, metrics=("fractions",), **kw)
            report.metrics["porosity"] = {k: counts[k] for k in _POROSITY_KEYS}
        else:
            part = chunked_metrics(arr, metrics=("surface",) + (() if counts else ("fractions",)),
                                   **kw)
            counts = counts or part
            report.metrics["surface"] = _surface_section(part["surface_area_vox2"], counts,
                                                         phase, float(voxel_size_A),
                                                         int(np.prod(arr.shape)),
                                                         part["smoothing_sigma_vox"])
        report.timings_s[name] = round(time.perf_counter() - t0, 3)
    report.metrics = {k: report.metrics[k] for k in (*METRICS, *report.metrics)
                      if k in report.metrics}
    return report


def _surface_section(area: float, counts: dict, phase: int | None, voxel_size_A: float,
                     total: int, sigma: float) -> dict:
    """The keys of :func:`tomoml.analyze.surfaces.specific_surface_area` from chunked sums."""
    from tomoml.analyze.surfaces import surface_section

    per_label = {int(k): int(v) for k, v in counts["phase_voxels"].items()}
    n_phase = (sum(v for k, v in per_label.items() if k > 0) if phase is None
               else per_label.get(int(phase), 0))
    return surface_section(area, n_phase, total, voxel_size_A, sigma)
