"""Geometric and diffusive tortuosity along each axis. They are different numbers:

- **geometric tortuosity** τ_g = (shortest path length through the phase from the inlet face to
  a voxel on the outlet face) / (straight distance between the faces, n − 1 voxels), averaged
  over the outlet voxels the phase connects to the inlet. Path lengths are the geodesic distance
  from the inlet face, solved as an eikonal equation restricted to the phase with the fast
  marching method (scikit-fmm, second order); without scikit-fmm, a 26-neighbour minimum-cost
  path (skimage.graph.MCP_Geometric) is used and named in the result. τ_g = 1 for straight
  channels, ≥ 1 otherwise.
- **diffusive tortuosity** is porespy's definition (``porespy.simulations.tortuosity_fd``):
  steady-state diffusion through the phase by finite differences, τ = ε_eff · D_AB / D_eff,
  with ε_eff the porosity after removing non-percolating regions. It needs OpenPNM and PyAMG;
  when they are missing it is reported as unavailable, with the reason.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["geodesic_distance", "geometric_tortuosity", "diffusive_tortuosity"]

log = logging.getLogger(__name__)
AXES = "zyx"


def _axis_index(axis: int | str) -> int:
    if isinstance(axis, str):
        return AXES.index(axis)
    return int(axis)


def geodesic_distance(mask: np.ndarray, axis: int | str = 0) -> tuple[np.ndarray, str]:
    """Shortest in-phase path length (voxels) from the inlet face (index 0 along ``axis``).

    Returns
    -------
    distance : (z, y, x) ndarray of float32
        Path length from the inlet slice's voxel centres; NaN where the phase is not reached.
    method : str
        ``"fast marching (scikit-fmm, order 2)"`` or ``"minimum-cost path, 26-neighbour
        (skimage MCP_Geometric)"``.
    """
    ax = _axis_index(axis)
    mask = np.moveaxis(np.asarray(mask, dtype=bool), ax, 0)
    out = np.full(mask.shape, np.nan, np.float32)
    if not mask[0].any():
        return np.moveaxis(out, 0, ax), "none (the phase does not touch the inlet face)"
    try:
        import skfmm
    except ImportError:
        skfmm = None
    if skfmm is not None:
        # Zero level set half a voxel beyond the inlet slice: the solved distance + 0.5 is the
        # path length from the inlet voxel centres.
        phi = np.ones(mask.shape, np.float64)
        phi[0] = -1.0
        phi = np.ma.MaskedArray(phi, ~mask)
        try:
            d = skfmm.distance(phi, order=2)
        except ValueError:  # nothing to march into
            d = np.ma.masked_all(mask.shape)
        dist = np.ma.filled(d.astype(np.float32), np.nan)
        dist[0] = np.where(mask[0], 0.0, np.nan)
        dist[1:] += 0.5
        dist[~mask] = np.nan
        method = "fast marching (scikit-fmm, order 2)"
    else:
        from skimage.graph import MCP_Geometric

        costs = np.where(mask, 1.0, np.inf)
        starts = np.argwhere(mask[:1])
        dist, _ = MCP_Geometric(costs, fully_connected=True).find_costs(starts)
        dist = dist.astype(np.float32)
        dist[~np.isfinite(dist)] = np.nan
        method = "minimum-cost path, 26-neighbour (skimage MCP_Geometric)"
    out[...] = dist
    return np.moveaxis(out, 0, ax), method


def geometric_tortuosity(mask: np.ndarray, axis: int | str = 0) -> dict:
    """Geometric tortuosity along ``axis``: geodesic / straight distance between the faces.

    Returns
    -------
    dict
        ``tortuosity`` (mean over connected outlet voxels), ``tortuosity_median``,
        ``percolating`` (the phase connects the two faces), ``outlet_voxels`` reached,
        ``straight_distance_vox`` and the ``method``; tortuosity is None when nothing connects.
    """
    ax = _axis_index(axis)
    mask = np.asarray(mask, dtype=bool)
    n = mask.shape[ax]
    result = {"axis": AXES[ax], "definition": "shortest in-phase path / straight distance",
              "straight_distance_vox": n - 1}
    if n < 2:
        return {**result, "tortuosity": None, "percolating": False, "method": "none",
                "reason": "the volume is one voxel thick along this axis"}
    dist, method = geodesic_distance(mask, ax)
    outlet = np.take(dist, -1, axis=ax)
    reached = outlet[np.isfinite(outlet)]
    result["method"] = method
    result["outlet_voxels"] = int(reached.size)
    if reached.size == 0:
        return {**result, "tortuosity": None, "tortuosity_median": None, "percolating": False}
    t = reached / (n - 1)
    return {**result, "tortuosity": float(t.mean()), "tortuosity_median": float(np.median(t)),
            "tortuosity_std": float(t.std()), "percolating": True}


def diffusive_tortuosity(mask: np.ndarray, axis: int | str = 0) -> dict:
    """porespy's finite-difference diffusive tortuosity along ``axis``.

    Returns
    -------
    dict
        ``tortuosity`` (τ = ε_eff · D_AB / D_eff), ``formation_factor`` (D_AB / D_eff),
        ``effective_porosity``, ``available``; when the solver's dependencies (OpenPNM, PyAMG)
        are missing or the phase does not percolate, ``tortuosity`` is None and ``reason`` says
        why.
    """
    ax = _axis_index(axis)
    base = {"axis": AXES[ax], "definition": "porespy tortuosity_fd: eps_eff * D_AB / D_eff",
            "tortuosity": None}
    try:
        import openpnm  # noqa: F401
        import pyamg  # noqa: F401
        from porespy.simulations import tortuosity_fd
    except ImportError as exc:
        return {**base, "available": False,
                "reason": f"porespy's tortuosity_fd needs openpnm and pyamg: {exc}"}
    mask = np.asarray(mask, dtype=bool)
    if not geometric_percolates(mask, ax):
        return {**base, "available": True, "reason": "the phase does not percolate along this axis"}
    # porespy warns that it trims non-percolating regions (ε_eff is reported instead);
    # quieten it and OpenPNM for this call only.
    quiet = [logging.getLogger(name) for name in ("porespy", "openpnm")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    try:
        res = tortuosity_fd(mask, axis=ax)
    except Exception as exc:  # noqa: BLE001 - a solver failure is a result, not a crash
        return {**base, "available": True, "reason": f"solver failed: {exc}"}
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    return {**base, "available": True, "tortuosity": float(res.tortuosity),
            "formation_factor": float(res.formation_factor),
            "effective_porosity": float(res.effective_porosity),
            "converged": bool(getattr(res, "converged", True))}


def geometric_percolates(mask: np.ndarray, axis: int) -> bool:
    """True when a 6-connected path in the phase joins the two faces along ``axis``.

    6-connectivity, because the finite-difference diffusion only couples face neighbours.
    """
    from scipy import ndimage as ndi

    lab, _ = ndi.label(mask)
    first = np.unique(np.take(lab, 0, axis=axis))
    last = np.unique(np.take(lab, -1, axis=axis))
    both = np.intersect1d(first, last)
    return bool((both > 0).any())
