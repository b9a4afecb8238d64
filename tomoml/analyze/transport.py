"""Geometric and diffusive tortuosity along each axis. They are different numbers:

- **geometric tortuosity** τ_g = (shortest path length through the phase from the inlet face to
  a voxel on the outlet face) / (straight distance between the faces, n − 1 voxels), averaged
  over the outlet voxels the phase connects to the inlet. Path lengths are the geodesic distance
  from the inlet face, solved as an eikonal equation restricted to the phase with the fast
  marching method (:mod:`tomoml.analyze._fmm`: second order, O(N) bucket queue; the same
  distances as scikit-fmm's order-2 solver to 0.1 voxel, in a fifth of its time). τ_g = 1 for
  straight channels, ≥ 1 otherwise (a graph of 26-neighbour steps would overestimate inclined
  paths by up to 8%: an eikonal solver does not).
- **diffusive tortuosity** is porespy's definition (``porespy.simulations.tortuosity_fd``):
  steady-state diffusion through the phase by finite differences, τ = ε_eff · D_AB / D_eff,
  with ε_eff the porosity after removing non-percolating regions; solved here with pyamg
  (porespy's values to 0.1 %, without OpenPNM). Above ``max_voxels`` it is solved on the
  central sub-volume, and the result says so.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["geodesic_distance", "geometric_tortuosity", "diffusive_tortuosity"]

log = logging.getLogger(__name__)
AXES = "zyx"
GEODESIC_METHOD = "fast marching, second order, bucket queue (tomoml.analyze._fmm)"
_NO_INLET = "none (the phase does not touch the inlet face)"


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
        The solver, as named in :data:`GEODESIC_METHOD`.
    """
    from tomoml.analyze._fmm import march_from_face

    ax = _axis_index(axis)
    mask = np.moveaxis(np.asarray(mask, dtype=bool), ax, 0)
    if not mask[0].any():
        out = np.full(mask.shape, np.nan, np.float32)
        return np.moveaxis(out, 0, ax), _NO_INLET
    dist = march_from_face(mask)
    dist[np.isinf(dist)] = np.nan
    return np.moveaxis(dist, 0, ax), GEODESIC_METHOD


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
    moved = np.moveaxis(mask, ax, 0)
    if moved[0].any():
        from tomoml.analyze._fmm import outlet_times

        outlet = outlet_times(moved)
        method = GEODESIC_METHOD
    else:
        outlet = np.full(moved.shape[1:], np.inf, np.float32)
        method = _NO_INLET
    reached = outlet[np.isfinite(outlet)]
    result["method"] = method
    result["outlet_voxels"] = int(reached.size)
    if reached.size == 0:
        return {**result, "tortuosity": None, "tortuosity_median": None, "percolating": False}
    t = reached / (n - 1)
    return {**result, "tortuosity": float(t.mean()), "tortuosity_median": float(np.median(t)),
            "tortuosity_std": float(t.std()), "percolating": True}


DIFFUSIVE_MAX_VOXELS = 128 ** 3  # larger volumes: the central sub-volume of this size


def _percolating_part(mask: np.ndarray) -> np.ndarray:
    """The 6-connected parts of ``mask`` that touch both its first and last slice."""
    from scipy import ndimage as ndi

    lab, n = ndi.label(mask)  # 6-connectivity: diffusion couples face neighbours only
    both = np.intersect1d(np.unique(lab[0]), np.unique(lab[-1]))
    keep = np.zeros(n + 1, bool)
    keep[both[both > 0]] = True
    return keep[lab]


def _central_block(shape, max_voxels: int) -> tuple[slice, ...]:
    """The centred block of at most ``max_voxels`` with the proportions of ``shape``."""
    f = (max_voxels / float(np.prod(shape))) ** (1.0 / 3.0)
    sides = [max(2, min(n, int(n * f))) for n in shape]
    return tuple(slice((n - k) // 2, (n - k) // 2 + k) for n, k in zip(shape, sides, strict=True))


def diffusive_tortuosity(mask: np.ndarray, axis: int | str = 0, *,
                         max_voxels: int | None = DIFFUSIVE_MAX_VOXELS,
                         tol: float = 1e-4) -> dict:
    """Diffusive tortuosity along ``axis``, porespy's definition (``tortuosity_fd``).

    Steady-state diffusion through the phase by finite differences: one unknown concentration
    per voxel of the part that percolates (6-connected from the first to the last slice along
    ``axis``), unit conductance between face neighbours, c = 1 on the first slice and c = 0
    on the last. Then D_eff = J (L − 1) / A (J the flux leaving the inlet slice, L the length
    in voxels, A the cross-section of the whole array), formation factor = 1 / D_eff and
    τ = ε_eff / D_eff with ε_eff the volume fraction of the percolating part. These are
    porespy's definitions, and its values to 0.1 % (tests/analyze/test_analyze_transport.py).

    Why not porespy's function itself: it builds an OpenPNM network and a Ruge-Stüben AMG
    hierarchy (18 s for one axis of a 128³ gyroid here, plus OpenPNM as a dependency); the same
    system assembled with numpy and solved by conjugate gradients with an aggregation AMG
    preconditioner (pyamg, float32) takes a fraction of that.

    Parameters
    ----------
    mask : (z, y, x) ndarray of bool
        The phase.
    axis : int or {"z", "y", "x"}
        Direction of the concentration gradient.
    max_voxels : int or None
        Volumes larger than this are analysed on their central sub-volume of this many voxels
        (same proportions), reported under ``computed_on``: the solve grows faster than the
        volume (a 512³ volume takes tens of minutes on two cores). None: the whole volume.
    tol : float
        Relative residual of the conjugate-gradient solve; tightened (down to 1e-10) until the
        inlet and outlet fluxes agree to 1e-3, as porespy requires.

    Returns
    -------
    dict
        ``tortuosity``, ``formation_factor``, ``effective_porosity``, ``flux_mismatch``,
        ``converged``, ``computed_on`` (``"whole volume"`` or the sub-volume's bounds),
        ``available``; ``tortuosity`` is None with a ``reason`` when the phase does not
        percolate or pyamg is missing.
    """
    ax = _axis_index(axis)
    base = {"axis": AXES[ax], "definition": "porespy tortuosity_fd: eps_eff * D_AB / D_eff",
            "method": "finite differences, 7-point; CG + aggregation AMG (pyamg)",
            "tortuosity": None}
    try:
        import pyamg
    except ImportError as exc:  # pragma: no cover - pyamg is a dependency
        return {**base, "available": False, "reason": f"needs pyamg: {exc}"}
    from scipy import sparse

    mask = np.asarray(mask, dtype=bool)
    computed_on: str | dict = "whole volume"
    if max_voxels is not None and mask.size > max_voxels:
        block = _central_block(mask.shape, int(max_voxels))
        mask = mask[block]
        computed_on = {"sub_volume_zyx": [[sl.start, sl.stop] for sl in block],
                       "reason": f"the volume has more than max_voxels = {int(max_voxels)} "
                                 "voxels; the central sub-volume of that size was solved"}
        log.info("diffusive tortuosity on the central sub-volume %s", computed_on["sub_volume_zyx"])
    base["computed_on"] = computed_on
    m = np.moveaxis(mask, ax, 0)
    length = m.shape[0]
    if length < 2:
        return {**base, "available": True, "reason": "the volume is one voxel thick along this axis"}
    m = _percolating_part(m)
    if not m.any():
        return {**base, "available": True, "reason": "the phase does not percolate along this axis"}
    interior = m.copy()
    interior[0] = interior[-1] = False
    n = int(np.count_nonzero(interior))
    idx = np.full(m.shape, -1, np.int64)
    idx[interior] = np.arange(n)
    rows, cols = [], []
    degree = np.zeros(n, np.float64)
    b = np.zeros(n, np.float64)
    for a in range(3):  # face-neighbour pairs along each axis, both voxels in the phase
        lo = tuple(slice(None, -1) if k == a else slice(None) for k in range(3))
        hi = tuple(slice(1, None) if k == a else slice(None) for k in range(3))
        pair = m[lo] & m[hi]
        i, j = idx[lo][pair], idx[hi][pair]
        degree += np.bincount(i[i >= 0], minlength=n) + np.bincount(j[j >= 0], minlength=n)
        both = (i >= 0) & (j >= 0)
        rows.append(i[both])
        cols.append(j[both])
        if a == 0:  # the inlet slice (c = 1) feeds its neighbours in slice 1
            inlet = i < 0
            inlet &= j >= 0
            b += np.bincount(j[inlet], minlength=n)
    r, c = np.concatenate(rows), np.concatenate(cols)
    off = sparse.coo_matrix((-np.ones(r.size), (r, c)), shape=(n, n))
    # float32: half the memory traffic of the AMG cycles, twice as fast; τ changes by 2e-6
    matrix = (off + off.T + sparse.diags(degree)).tocsr().astype(np.float32)
    b = b.astype(np.float32)
    conc = np.zeros(m.shape, np.float64)
    conc[0][m[0]] = 1.0
    mismatch = 0.0
    if n:
        # Unsmoothed aggregation: the Jacobi-smoothed prolongator needs a spectral radius that
        # pyamg estimates from a random vector (results would change from run to run).
        solver = pyamg.smoothed_aggregation_solver(matrix, symmetry="symmetric", smooth=None)
        x = None
        while True:
            x = solver.solve(b, x0=x, tol=tol, accel="cg", maxiter=2000)
            conc[interior] = x
            j_in = float(((conc[0] - conc[1]) * (m[0] & m[1])).sum())
            j_out = float(((conc[-2] - conc[-1]) * (m[-2] & m[-1])).sum())
            mismatch = abs(j_in - j_out) / max(abs(j_in), abs(j_out))
            if mismatch <= 1e-3 or tol <= 1e-10:
                break
            tol *= 0.01
    else:  # two slices: all the drop is between them
        j_in = float((m[0] & m[1]).sum())
    area = m.size / length
    d_eff = j_in * (length - 1) / area
    eps = float(np.count_nonzero(m)) / m.size
    return {**base, "available": True, "tortuosity": eps / d_eff,
            "formation_factor": 1.0 / d_eff, "effective_porosity": eps,
            "flux_mismatch": mismatch, "converged": bool(mismatch <= 1e-3)}
