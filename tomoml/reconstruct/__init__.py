"""Reconstruction: projectors in the CONVENTIONS geometry and the algorithms built on them."""

from __future__ import annotations

import numpy as np


def forward_project(volume: np.ndarray, angles_deg, *, n_det: int | None = None) -> np.ndarray:
    """Project a ``(z, y, x)`` volume to a tilt series ``(n_tilts, y, n_det)``.

    ``p_t[y, u] = sum over u = x cos t + z sin t of V[z, y, x]`` (CONVENTIONS.md), with
    coordinates in voxels from the array centre.
    """
    from tomoml.reconstruct._astra import forward_project_slices

    return forward_project_slices(volume, np.asarray(angles_deg, dtype=np.float64), n_det=n_det)


__all__ = ["forward_project"]
