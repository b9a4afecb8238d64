"""``reconstruct``: one entry point that picks the engine, runs slab by slab and reports."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tomoml.data import TiltSeries, Volume
from tomoml.errors import ConfigError, InputError

__all__ = ["reconstruct", "ReconstructionInfo", "METHODS", "DEFAULT_ITERATIONS"]

log = logging.getLogger(__name__)

METHODS = ("fbp", "wbp", "sirt", "cgls", "tv")
ENGINES = ("tomoml", "tomopy")
DEFAULT_ITERATIONS = {"sirt": 50, "cgls": 20, "tv": 100}
DEFAULT_SLAB = 32  # slices per slab on the CPU: keeps the iterate in cache (see sparse_cpu.py)
TV_HALO = 4  # extra slices each side of a TV slab, discarded: TV couples neighbouring slices


@dataclass(frozen=True)
class ReconstructionInfo:
    """What a reconstruction did, returned by ``reconstruct(..., return_info=True)``.

    Attributes
    ----------
    method, engine, device : str
        Algorithm, engine (``"tomoml"`` or ``"tomopy"``) and device (``"cpu"``/``"cuda"``).
    iterations : int
        Iterations run (0 for FBP/WBP).
    residuals : (iterations,) ndarray
        Relative residual ``||A x_k - p|| / ||p||`` over the whole volume after each iteration
        ``k``, with ``p`` the (aligned) projections. NaN where the engine did not report it
        (ASTRA's CUDA algorithms report every few iterations). Empty for FBP/WBP.
    seconds : float
        Wall time of the reconstruction.
    slab_size : int
        Slices per slab (the whole volume on the GPU).
    """

    method: str
    engine: str
    device: str
    iterations: int
    residuals: np.ndarray = field(repr=False)
    seconds: float
    slab_size: int


def _resolve_method(method: str) -> str:
    m = str(method).lower()
    if m not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return m


def _volume_bytes(shape) -> int:
    return 4 * int(np.prod(shape))


def reconstruct(
    tilts: TiltSeries,
    method: str = "fbp",
    *,
    iterations: int | None = None,
    thickness: int | None = None,
    filter: str = "ramp",
    xf=None,
    device: str = "auto",
    engine: str = "tomoml",
    relaxation: float = 1.0,
    nonnegative: bool = False,
    tv_weight: float = 0.05,
    mask: np.ndarray | None = None,
    padding: str = "edge",
    slab_size: int | None = None,
    memory_gb: float | None = None,
    out: np.ndarray | None = None,
    callback: Callable[[int, int, float], None] | None = None,
    return_info: bool = False,
) -> Volume | tuple[Volume, ReconstructionInfo]:
    """Reconstruct a volume from a tilt series.

    Parameters
    ----------
    tilts : TiltSeries
        ``(n, ny, nx)`` projections (higher = more mass) with their tilt angles.
    method : {"fbp", "wbp", "sirt", "cgls", "tv"}
        ``fbp``/``wbp``: filtered (weighted) back-projection, the two names for the same thing
        (tilts are weighted by the angle they stand for, so non-uniform steps are handled);
        ``sirt``: simultaneous iterative reconstruction; ``cgls``: conjugate-gradient least
        squares; ``tv``: total-variation regularised least squares (Chambolle-Pock), best for
        piecewise-constant materials with a missing wedge.
    iterations : int, optional
        Default 50 (SIRT), 20 (CGLS), 100 (TV). Ignored by FBP.
    thickness : int, optional
        ``nz`` of the volume in voxels; default ``nx``.
    filter : {"ramp", "shepp-logan", "cosine", "hann"}
        FBP/WBP filter.
    xf : XfTransforms, optional
        Alignment (IMOD ``.xf``: tilt-axis rotation and per-tilt shifts) of the raw images.
        The CPU engine resamples the images with it; the GPU engine puts it into the geometry.
        When not given and ``tilts.tilt_axis_deg`` is not 0, that rotation is undone.
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` uses ASTRA's CUDA projectors when a GPU is usable, else the CPU engine.
    engine : {"tomoml", "tomopy"}
        ``"tomopy"`` runs tomopy's algorithms (``fbp``/``wbp`` -> gridrec) when it is installed.
    relaxation : float
        SIRT step in (0, 2).
    nonnegative : bool
        Clip negative densities in SIRT and TV.
    tv_weight : float
        TV strength relative to the dynamic range of the volume (see :mod:`.tv`).
    mask : (nz, ny, nx) ndarray of bool, optional
        Support for SIRT and TV: voxels outside stay 0.
    padding : {"edge", "zero"}
        Detector padding for FBP filtering.
    slab_size : int, optional
        Slices (along the tilt axis ``y``) reconstructed together on the CPU; default 32.
    memory_gb : float, optional
        Memory budget. When the volume does not fit next to the projections, ``out`` must be a
        memory-mapped array (the CLI makes one); slabs are kept small enough to fit.
    out : ndarray, optional
        ``(nz, ny, nx)`` float32 target (e.g. ``numpy.memmap`` or ``mrcfile`` memory-mapped data)
        written slab by slab and returned inside the Volume.
    callback : callable, optional
        ``callback(slab, iteration, residual)`` after every iteration of an iterative method;
        ``residual`` is ``||A x - p||`` of that slab (absolute).
    return_info : bool
        Also return a :class:`ReconstructionInfo` (residual history, timing, engine).

    Returns
    -------
    Volume
        ``(nz, ny, nx)`` float32 densities, voxel size = the tilt series' pixel size. With
        ``return_info=True``: ``(volume, info)``. Deterministic: same inputs, same volume.

    Examples
    --------
    >>> vol = reconstruct(tilts, "sirt", iterations=50, thickness=128)  # doctest: +SKIP
    >>> vol, info = reconstruct(tilts, "cgls", return_info=True)        # doctest: +SKIP
    >>> info.residuals[-1]                                              # doctest: +SKIP
    """
    from tomoml._device import resolve_device

    if not isinstance(tilts, TiltSeries):
        raise InputError(f"tilts must be a tomoml TiltSeries, got {type(tilts).__name__}")
    method = _resolve_method(method)
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if method in DEFAULT_ITERATIONS:
        iterations = DEFAULT_ITERATIONS[method] if iterations is None else int(iterations)
        if iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {iterations}")
    else:
        iterations = 0
    from tomoml.reconstruct.fbp import _check_filter

    filter = _check_filter(filter)
    if xf is None and abs(tilts.tilt_axis_deg) > 1e-6:
        from tomoml.io.imod import XfTransforms

        log.info("undoing the tilt-axis rotation of %.2f deg", tilts.tilt_axis_deg)
        xf = XfTransforms.from_alignment(np.zeros((tilts.n_tilts, 2)), tilts.tilt_axis_deg)

    from tomoml.reconstruct.geometry import TomoGeometry

    geometry = TomoGeometry.from_tilts(tilts, thickness=thickness, xf=xf)
    shape = geometry.volume_shape
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != shape:
            raise InputError(f"mask has shape {mask.shape}, the volume is {shape}")
    if out is not None and tuple(out.shape) != shape:
        raise InputError(f"out has shape {tuple(out.shape)}, the volume is {shape}")
    if memory_gb is not None:
        budget = float(memory_gb) * 2**30
        if budget <= 0:
            raise ConfigError(f"memory must be > 0 GB, got {memory_gb}")
        need = _volume_bytes(shape) + _volume_bytes(tilts.shape)
        if out is None and need > budget:
            raise ConfigError(
                f"the {shape} volume and the projections need {need / 2**30:.1f} GB, over the "
                f"{memory_gb} GB budget; give out= a memory-mapped array (the CLI writes MRC "
                "output slab by slab)")
    if engine == "tomopy":
        dev = "cpu"
    else:
        dev = resolve_device(device, engine="astra")

    t0 = time.perf_counter()
    if engine == "tomopy":
        from tomoml.reconstruct.tomopy import tomopy_reconstruct

        data = _aligned_data(tilts, geometry)
        vol = tomopy_reconstruct(data, geometry.angles_deg, shape[0], method=method,
                                 iterations=iterations, filter=filter)
        if out is not None:
            out[...] = vol
            vol = out
        residuals = np.empty(0)
        slab = shape[1]
    elif dev == "cuda":
        vol, residuals = _reconstruct_cuda(tilts, geometry, method, iterations, filter, padding,
                                           relaxation, nonnegative, tv_weight, mask, callback)
        if out is not None:
            out[...] = vol
            vol = out
        slab = shape[1]
    else:
        vol, residuals, slab = _reconstruct_cpu(tilts, geometry, method, iterations, filter,
                                                padding, relaxation, nonnegative, tv_weight, mask,
                                                callback, slab_size, memory_gb, out)
    seconds = time.perf_counter() - t0
    if residuals.size:
        log.info("%s: %d iterations, relative residual %.4g -> %.4g, %.1f s", method,
                 iterations, residuals[0], residuals[-1], seconds)
    else:
        log.info("%s: %.1f s", method, seconds)
    volume = Volume(vol, voxel_size_A=tilts.pixel_size_A, source=tilts.source)
    if not return_info:
        return volume
    info = ReconstructionInfo(method, engine, dev, iterations, residuals, seconds, slab)
    return volume, info


def _aligned_data(tilts: TiltSeries, geometry) -> np.ndarray:
    """The projections resampled into the aligned frame (CPU engines)."""
    if geometry.is_aligned:
        return tilts.data
    from tomoml.io.imod import XfTransforms

    xf = XfTransforms(geometry.xf_matrices, geometry.xf_shifts_xy)
    log.info("resampling %d tilts with the xf transforms", tilts.n_tilts)
    return xf.apply(tilts.data, order=1, mode="nearest")


def _tv_scale(fbp_volume: np.ndarray) -> float:
    lo, hi = np.percentile(fbp_volume, [0.5, 99.5])
    return float(hi - lo) if hi > lo else 1.0


def _reconstruct_cpu(tilts, geometry, method, iterations, filter, padding, relaxation,
                     nonnegative, tv_weight, mask, callback, slab_size, memory_gb, out):
    from tomoml._progress import bar
    from tomoml.reconstruct.fbp import fbp
    from tomoml.reconstruct.iterative import cgls, sirt
    from tomoml.reconstruct.sparse_cpu import SparseSlabOperator, cached_slice_matrix
    from tomoml.reconstruct.tv import tv_pdhg

    nz, ny, nx = geometry.volume_shape
    n_det = geometry.detector_shape[1]
    data = _aligned_data(tilts, geometry)
    angles = geometry.angles_deg
    slab = DEFAULT_SLAB if slab_size is None else int(slab_size)
    if slab < 1:
        raise ConfigError(f"slab_size must be >= 1, got {slab_size}")
    if memory_gb is not None:
        # ~12 slab-sized arrays live at once in TV (the most demanding method)
        per_slice = 12 * 4 * (nz * nx + angles.size * n_det)
        slab = max(1, min(slab, int(memory_gb * 2**30 * 0.25 // per_slice)))
    slab = min(slab, ny)
    matrix = cached_slice_matrix(tuple(float(a) for a in angles), nz, nx, n_det)
    log.debug("slice matrix: %d non-zeros, %.0f MB", matrix.nnz, matrix.nbytes / 2**20)
    vol = np.empty((nz, ny, nx), np.float32) if out is None else out
    starts = list(range(0, ny, slab))
    halo = TV_HALO if method == "tv" else 0
    lam = None
    if method == "tv":
        mid = starts[len(starts) // 2]
        sub = data[:, mid:mid + slab]
        op1 = SparseSlabOperator(matrix, sub.shape[1])
        lam = tv_weight * _tv_scale(fbp(op1, sub, angles, filter="ramp", padding=padding))
        log.info("TV weight %.4g (tv_weight %.3g x FBP range)", lam, tv_weight)
    sq_res = np.zeros(iterations)
    total = len(starts) * max(iterations, 1)
    desc = f"{method.upper()} (CPU, {len(starts)} slabs)"
    with bar(total=total, desc=desc, unit="it" if iterations else "slab") as progress:
        for i_slab, y0 in enumerate(starts):
            y1 = min(y0 + slab, ny)
            h0, h1 = max(0, y0 - halo), min(ny, y1 + halo)
            proj = np.asarray(data[:, h0:h1], dtype=np.float32)
            op = SparseSlabOperator(matrix, h1 - h0)
            if method in ("fbp", "wbp"):
                rec = fbp(op, proj, angles, filter=filter, padding=padding)
                progress.update(1)
            else:
                y = op.projections_to_range(proj)
                m = None if mask is None else op.volume_to_domain(mask[:, h0:h1])

                def on_iter(k, r, _s=i_slab):
                    log.debug("slab %d iteration %d: residual %.6g", _s, k, r)
                    progress.update(1)
                    if k % 5 == 0 or k == iterations - 1:
                        progress.set_postfix(residual=f"{r:.4g}", refresh=False)
                    if callback is not None:
                        callback(_s, k, r)

                if method == "sirt":
                    x, res = sirt(op, y, iterations=iterations, relaxation=relaxation,
                                  nonnegative=nonnegative, mask=m, callback=on_iter)
                elif method == "cgls":
                    if mask is not None:
                        log.warning("cgls ignores the mask; use sirt or tv for a support")
                    x, res = cgls(op, y, iterations=iterations, callback=on_iter)
                else:
                    x0 = op.volume_to_domain(fbp(op, proj, angles, filter="ramp",
                                                 padding=padding))
                    if nonnegative:
                        np.maximum(x0, 0, out=x0)
                    x, res = tv_pdhg(op, y, lam=lam, iterations=iterations,
                                     nonnegative=nonnegative, mask=m, x0=x0, callback=on_iter)
                sq_res += res**2
                rec = op.domain_to_volume(x)
            vol[:, y0:y1, :] = rec[:, y0 - h0:y0 - h0 + (y1 - y0), :]
    residuals = np.empty(0)
    if iterations:
        p_norm = math.sqrt(float(np.sum(np.square(data, dtype=np.float64))))
        residuals = np.sqrt(sq_res) / (p_norm if p_norm > 0 else 1.0)
        if method == "tv" and halo:
            log.debug("TV residuals include the halo slices of each slab")
    return vol, residuals, slab


def _reconstruct_cuda(tilts, geometry, method, iterations, filter, padding, relaxation,
                      nonnegative, tv_weight, mask, callback):
    from tomoml._progress import bar
    from tomoml.reconstruct.astra_cuda import (
        AstraCudaOperator,
        AstraCudaTensorOperator,
        run_astra_cuda_algorithm,
    )
    from tomoml.reconstruct.fbp import fbp
    from tomoml.reconstruct.iterative import sirt
    from tomoml.reconstruct.tv import tv_pdhg

    data = tilts.data
    if method in ("fbp", "wbp") and geometry.xf_matrices is not None and not np.allclose(
            geometry.xf_matrices, np.eye(2)):
        # The filter must run along the aligned detector rows: resample a rotated series first.
        data = _aligned_data(tilts, geometry)
        geometry = geometry.aligned()
    op = AstraCudaOperator(geometry)
    p_norm = math.sqrt(float(np.sum(np.square(data, dtype=np.float64)))) or 1.0
    if method in ("fbp", "wbp"):
        return fbp(op, data, geometry.angles_deg, filter=filter, padding=padding), np.empty(0)

    with bar(total=iterations, desc=f"{method.upper()} (CUDA)") as progress:
        last = [0]

        def on_iter(k, r):
            log.debug("iteration %d: residual %.6g", k, r)
            progress.update(k + 1 - last[0])
            last[0] = k + 1
            if np.isfinite(r):
                progress.set_postfix(residual=f"{r:.4g}", refresh=False)
            if callback is not None:
                callback(0, k, r)

        y = op.projections_to_range(data)
        if method == "sirt" and relaxation == 1.0 and mask is None:
            options = {"MinConstraint": 0.0} if nonnegative else None
            x, res = run_astra_cuda_algorithm("SIRT3D_CUDA", geometry, data,
                                              iterations=iterations, options=options,
                                              report_every=max(1, iterations // 10),
                                              callback=on_iter)
        elif method == "sirt":
            m = None if mask is None else op.volume_to_domain(mask)
            x, res = sirt(op, y, iterations=iterations, relaxation=relaxation,
                          nonnegative=nonnegative, mask=m, callback=on_iter)
        elif method == "cgls":
            # CGLS restarts its conjugate directions on every call: run it in one go
            x, res = run_astra_cuda_algorithm("CGLS3D_CUDA", geometry, data,
                                              iterations=iterations, report_every=iterations,
                                              callback=on_iter)
        else:
            x0 = fbp(op, data, geometry.angles_deg, filter="ramp", padding=padding)
            lam = tv_weight * _tv_scale(x0)
            if nonnegative:
                np.maximum(x0, 0, out=x0)
            top = AstraCudaTensorOperator(geometry)  # the iterations stay on the GPU
            m = None if mask is None else top.volume_to_domain(mask)
            x, res = tv_pdhg(top, top.projections_to_range(data), lam=lam,
                             iterations=iterations, nonnegative=nonnegative, mask=m,
                             x0=top.volume_to_domain(x0), callback=on_iter)
            x = top.domain_to_volume(x)
    return op.domain_to_volume(x), res / p_norm
