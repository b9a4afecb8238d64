"""Reconstruction: FBP/WBP, SIRT, CGLS and TV on a fast CPU engine, ASTRA CUDA or tomopy.

``reconstruct(tilts, method=...)`` is the entry point. Underneath, the geometry is a small
immutable object (:class:`TomoGeometry`), each engine is an :class:`Operator` ``A`` with ``A(x)``
and ``A.T(y)`` (the CPU engine applies ASTRA's exact slice matrix to slabs of slices at once; the
GPU engine uses ASTRA's CUDA 3D projectors with ``parallel3d_vec`` geometry), and the algorithms
(:func:`sirt`, :func:`cgls`, :func:`tv_pdhg`, :func:`fbp`) are written once against ``A``.
"""

from __future__ import annotations

import numpy as np

from tomoml.reconstruct.api import METHODS, ReconstructionInfo, reconstruct
from tomoml.reconstruct.fbp import FILTERS, fbp, filter_projections, filter_response, tilt_weights
from tomoml.reconstruct.geometry import TomoGeometry
from tomoml.reconstruct.iterative import cgls, sirt
from tomoml.reconstruct.operators import Operator
from tomoml.reconstruct.tv import tv_pdhg


def forward_project(volume: np.ndarray, angles_deg, *, n_det: int | None = None) -> np.ndarray:
    """Project a ``(z, y, x)`` volume to a tilt series ``(n_tilts, y, n_det)``.

    ``p_t[y, u] = sum over u = x cos t + z sin t of V[z, y, x]`` (CONVENTIONS.md), with
    coordinates in voxels from the array centre.
    """
    from tomoml.reconstruct._astra import forward_project_slices

    return forward_project_slices(volume, np.asarray(angles_deg, dtype=np.float64), n_det=n_det)


__all__ = [
    "FILTERS", "METHODS", "Operator", "ReconstructionInfo", "TomoGeometry", "cgls", "fbp",
    "filter_projections", "filter_response", "forward_project", "reconstruct", "sirt",
    "tilt_weights", "tv_pdhg",
]
