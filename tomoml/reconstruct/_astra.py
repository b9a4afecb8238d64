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
