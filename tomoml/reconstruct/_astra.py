"""The one module that talks to ASTRA: handles, string options and manual deletes stay here.

ASTRA's 2D parallel geometry puts a pixel at column ``c``, row ``r`` of an ``n``-row image at
``(x, y) = (c - (n-1)/2, (n-1)/2 - r)`` (rows run downwards) and projects it to
``u = x cos(a) + y sin(a)``. Our slice of a volume at fixed ``y`` (the tilt axis) is the ``(z, x)``
plane with ``z`` increasing with the row index, so tomoml's tilt ``t`` is ASTRA angle ``a = -t``:
``u = x cos t + z sin t`` as CONVENTIONS.md requires.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np


def astra_angles(angles_deg: np.ndarray) -> np.ndarray:
    """ASTRA 2D angles (radians) for tomoml tilt angles (degrees)."""
    return -np.deg2rad(np.asarray(angles_deg, dtype=np.float64))


@contextmanager
def projector_2d(slice_shape: tuple[int, int], angles_deg: np.ndarray, n_det: int,
                 kind: str = "linear"):
    """An ASTRA CPU 2D projector for one ``(z, x)`` slice; deleted on exit."""
    import astra

    nz, nx = slice_shape
    vol_geom = astra.create_vol_geom(nz, nx)
    proj_geom = astra.create_proj_geom("parallel", 1.0, n_det, astra_angles(angles_deg))
    pid = astra.create_projector(kind, proj_geom, vol_geom)
    try:
        yield pid
    finally:
        astra.projector.delete(pid)


def forward_project_slices(volume: np.ndarray, angles_deg: np.ndarray, *,
                           n_det: int | None = None, kind: str = "linear") -> np.ndarray:
    """Project a ``(z, y, x)`` volume slice by slice with ASTRA's CPU projector.

    Returns the tilt series ``(n_tilts, y, n_det)`` in the CONVENTIONS geometry.
    """
    import astra

    volume = np.asarray(volume, dtype=np.float32)
    nz, ny, nx = volume.shape
    n_det = nx if n_det is None else int(n_det)
    angles_deg = np.asarray(angles_deg, dtype=np.float64)
    out = np.empty((angles_deg.size, ny, n_det), dtype=np.float32)
    with projector_2d((nz, nx), angles_deg, n_det, kind) as pid:
        for iy in range(ny):
            sid, sino = astra.create_sino(np.ascontiguousarray(volume[:, iy, :]), pid)
            astra.data2d.delete(sid)
            out[:, iy, :] = sino
    return out


def slice_matrix(slice_shape: tuple[int, int], angles_deg: np.ndarray, n_det: int,
                 kind: str = "linear"):
    """ASTRA's exact projection matrix for one ``(z, x)`` slice, as a float32 scipy CSR matrix.

    Rows are ``(tilt, detector bin)`` (tilt-major), columns ``(z, x)`` (z-major), so
    ``W @ slice.ravel()`` equals ASTRA's own forward projection of the slice.
    """
    import astra

    with projector_2d(slice_shape, angles_deg, n_det, kind) as pid:
        mid = astra.projector.matrix(pid)
        try:
            w = astra.matrix.get(mid)
        finally:
            astra.matrix.delete(mid)
    w = w.tocsr().astype(np.float32)
    w.sum_duplicates()
    return w


def _run_2d_algorithm(name: str, sino: np.ndarray, pid: int, vol_geom: dict,
                      iterations: int = 1, options: dict | None = None) -> np.ndarray:
    import astra

    sid = astra.data2d.create("-sino", astra.projector.projection_geometry(pid), sino)
    rid = astra.data2d.create("-vol", vol_geom, 0.0)
    cfg = astra.astra_dict(name)
    cfg["ProjectorId"] = pid
    cfg["ProjectionDataId"] = sid
    cfg["ReconstructionDataId"] = rid
    if options:
        cfg["option"] = dict(options)
    aid = astra.algorithm.create(cfg)
    try:
        astra.algorithm.run(aid, iterations)
        return astra.data2d.get(rid)
    finally:
        astra.algorithm.delete(aid)
        astra.data2d.delete([sid, rid])


def reference_slices(tilts: np.ndarray, angles_deg: np.ndarray, nz: int, *, algorithm: str,
                     iterations: int = 1, threads: int = 2, options: dict | None = None,
                     kind: str = "linear") -> np.ndarray:
    """Reconstruct ``(n, y, x)`` tilts slice by slice with one of ASTRA's own CPU algorithms.

    The reference the fast engine is checked and benchmarked against: ``algorithm`` is ASTRA's
    name (``"SIRT"``, ``"FBP"``, ``"CGLS"``); slices run ``threads`` at a time (ASTRA releases
    the GIL). Returns ``(nz, y, x)``.
    """
    from concurrent.futures import ThreadPoolExecutor

    import astra

    tilts = np.asarray(tilts, dtype=np.float32)
    n, ny, n_det = tilts.shape
    nx = n_det
    angles_deg = np.asarray(angles_deg, dtype=np.float64)
    out = np.empty((nz, ny, nx), dtype=np.float32)
    vol_geom = astra.create_vol_geom(nz, nx)
    with projector_2d((nz, nx), angles_deg, n_det, kind) as pid:
        def one(iy: int) -> None:
            sino = np.ascontiguousarray(tilts[:, iy, :])
            out[:, iy, :] = _run_2d_algorithm(algorithm, sino, pid, vol_geom, iterations, options)

        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            list(pool.map(one, range(ny)))
    return out
