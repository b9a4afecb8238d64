"""Fiducial (gold bead) alignment: detection, tracking, and a least-squares fit.

1. The series is first put roughly in register by the marker-free steps (common-line axis,
   stretched cross-correlation), so a bead moves little between neighbouring tilts.
2. Beads are detected in each image as peaks of the negative Laplacian of Gaussian
   (:func:`detect_fiducials`; beads are dense, i.e. bright in tomoml's mass convention), with a
   threshold far above the specimen's own texture.
3. Tracks are grown outwards from the zero tilt by nearest-neighbour linking with a prediction
   of each bead's position (:func:`track_fiducials`).
4. The single-axis model is fitted by least squares (:func:`solve_fiducial_alignment`): bead
   ``j`` at ``(X, Y, Z)`` projects at tilt ``t`` to ``(X cos t + Z sin t, Y)`` in the aligned
   frame; the measured positions, turned by a residual axis rotation ``d`` and shifted by a
   per-tilt correction ``e``, must match. For a fixed ``d`` the problem is linear in the beads
   and the shifts (solved by sparse least squares); ``d`` is found by a bounded 1D search. The
   rigid-translation freedom is fixed by making the corrections orthogonal to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize, sparse
from scipy.sparse.linalg import lsqr

from tomoml.align.xcorr import _subpixel_offset
from tomoml.errors import InputError

__all__ = ["detect_fiducials", "track_fiducials", "solve_fiducial_alignment", "FiducialFit",
           "align_fiducials"]

log = logging.getLogger(__name__)


def detect_fiducials(image: np.ndarray, *, bead_radius_px: float = 2.0,
                     threshold: float = 8.0, max_beads: int = 200) -> np.ndarray:
    """Bead centres ``(y, x)`` (sub-pixel) in one image.

    Parameters
    ----------
    image : (y, x) ndarray
        Projection image, higher value = more mass (beads bright).
    bead_radius_px : float
        Bead radius, pixels (sets the LoG scale ``radius / sqrt(2)``).
    threshold : float
        A peak must exceed the median response by this many robust standard deviations.
    max_beads : int
        Keep at most this many of the strongest peaks.
    """
    img = np.asarray(image, dtype=np.float64)
    sigma = max(0.7, bead_radius_px / np.sqrt(2.0))
    resp = -ndimage.gaussian_laplace(img, sigma) * sigma**2
    med = float(np.median(resp))
    mad = float(np.median(np.abs(resp - med))) * 1.4826 + 1e-12
    size = max(3, int(2 * np.ceil(2 * bead_radius_px) + 1))
    peaks = (resp == ndimage.maximum_filter(resp, size=size)) & (resp > med + threshold * mad)
    edge = int(np.ceil(2 * bead_radius_px))
    peaks[:edge], peaks[-edge:], peaks[:, :edge], peaks[:, -edge:] = False, False, False, False
    yx = np.argwhere(peaks)
    if yx.size == 0:
        return np.zeros((0, 2))
    strength = resp[yx[:, 0], yx[:, 1]]
    yx = yx[np.argsort(-strength)[:max_beads]]
    out = np.empty((len(yx), 2))
    for k, (y, x) in enumerate(yx):
        # parabolic vertex of the (smooth, Gaussian-like) LoG response in y and in x
        out[k] = (y + _subpixel_offset(resp[y - 1, x], resp[y, x], resp[y + 1, x]),
                  x + _subpixel_offset(resp[y, x - 1], resp[y, x], resp[y, x + 1]))
    return out


def track_fiducials(points: list[np.ndarray], angles_deg: np.ndarray, *,
                    max_step_px: float = 4.0, min_length: float = 0.5) -> np.ndarray:
    """Link bead detections across tilts into tracks.

    Parameters
    ----------
    points : list of (k_i, 2) ndarray
        Detections ``(y, x)`` per tilt, in a roughly aligned frame.
    angles_deg : (n,) ndarray
    max_step_px : float
        Largest distance between a bead's predicted and detected position.
    min_length : float
        Keep tracks seen on at least this fraction of the tilts.

    Returns
    -------
    tracks : (m, n, 2) ndarray
        Positions ``(y, x)`` of bead ``j`` at tilt ``i``; NaN where not found.
    """
    angles = np.asarray(angles_deg, float)
    n = len(points)
    order = np.argsort(angles, kind="stable")
    ref_pos = int(np.nonzero(order == int(np.argmin(np.abs(angles))))[0][0])
    ref = order[ref_pos]
    m = len(points[ref])
    tracks = np.full((m, n, 2), np.nan)
    tracks[:, ref] = points[ref]
    for direction in (-1, 1):
        last = tracks[:, ref].copy()
        prev = np.full_like(last, np.nan)
        k = ref_pos + direction
        while 0 <= k < n:
            i = order[k]
            det = points[i]
            pred = np.where(np.isnan(prev), last, 2 * last - prev)
            pred = np.where(np.isnan(pred), last, pred)
            if len(det):
                d = np.linalg.norm(pred[:, None, :] - det[None, :, :], axis=-1)
                d[np.isnan(d)] = np.inf
                taken: set[int] = set()
                for j in np.argsort(d.min(axis=1)):
                    c = int(np.argmin(d[j]))
                    if d[j, c] <= max_step_px and c not in taken:
                        taken.add(c)
                        tracks[j, i] = det[c]
            found = ~np.isnan(tracks[:, i, 0])
            prev = np.where(found[:, None], last, prev)
            last = np.where(found[:, None], tracks[:, i], last)
            k += direction
    seen = (~np.isnan(tracks[:, :, 0])).sum(axis=1)
    return tracks[seen >= max(3, min_length * n)]


@dataclass
class FiducialFit:
    """Result of :func:`solve_fiducial_alignment`.

    Attributes
    ----------
    delta_deg : float
        Rotation to add to the axis angle of the frame the tracks were measured in.
    corrections_dydx : (n, 2) ndarray
        Shifts to add (in the new frame).
    beads_zyx : (m, 3) ndarray
        Bead positions, pixels from the centre.
    rms_px : float
        RMS residual of the bead positions.
    """

    delta_deg: float
    corrections_dydx: np.ndarray
    beads_zyx: np.ndarray
    rms_px: float


def _solve_linear(px, py, ti, bj, angles_rad, n, m, delta):
    """Linear least squares for (e_x, e_y, X, Y, Z) at fixed delta."""
    c, s = np.cos(delta), np.sin(delta)
    # measured position turned by -delta (into the new frame)
    qx = c * px + s * py
    qy = -s * px + c * py
    k = px.size
    ct, st = np.cos(angles_rad[ti]), np.sin(angles_rad[ti])
    # unknown vector: [e_x (n), e_y (n), X (m), Y (m), Z (m)]
    rows = np.concatenate([np.arange(k)] * 3 + [k + np.arange(k)] * 2)
    cols = np.concatenate([ti, 2 * n + bj, 2 * n + 2 * m + bj, n + ti, 2 * n + m + bj])
    vals = np.concatenate([np.ones(k), -ct, -st, np.ones(k), -np.ones(k)])
    # gauge: corrections orthogonal to a rigid translation of the specimen
    g_rows = 2 * k + np.array([0] * n + [1] * n + [2] * n)
    g_cols = np.concatenate([n + np.arange(n), np.arange(n), np.arange(n)])
    g_vals = np.concatenate([np.ones(n), np.cos(angles_rad), np.sin(angles_rad)]) * np.sqrt(k)
    a = sparse.csr_matrix((np.concatenate([vals, g_vals]),
                           (np.concatenate([rows, g_rows]), np.concatenate([cols, g_cols]))),
                          shape=(2 * k + 3, 2 * n + 3 * m))
    b = np.concatenate([-qx, -qy, np.zeros(3)])
    sol = lsqr(a, b, atol=1e-10, btol=1e-10, iter_lim=5000)[0]
    r = a @ sol - b
    per_obs = np.hypot(r[:k], r[k:2 * k])
    return sol, float(np.sqrt(np.mean(per_obs**2))), per_obs


def solve_fiducial_alignment(tracks_yx: np.ndarray, angles_deg: np.ndarray,
                             shape: tuple[int, int], *, max_delta_deg: float = 5.0,
                             ) -> FiducialFit:
    """Fit the single-axis projection model to bead tracks (see the module notes).

    Parameters
    ----------
    tracks_yx : (m, n, 2) ndarray
        Bead positions per tilt (NaN = missing), pixels in a roughly aligned frame.
    angles_deg : (n,) ndarray
    shape : (ny, nx)
        Image shape (for the centre).
    max_delta_deg : float
        Search range of the residual axis rotation.
    """
    m, n, _ = tracks_yx.shape
    if m < 2:
        raise InputError(f"fiducial alignment needs at least 2 tracked beads, found {m}; "
                         "use method='projmatch' for data without beads")
    ok = ~np.isnan(tracks_yx[:, :, 0])
    bj, ti = np.nonzero(ok)
    cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    py = tracks_yx[bj, ti, 0] - cy
    px = tracks_yx[bj, ti, 1] - cx
    ang = np.deg2rad(np.asarray(angles_deg, float))
    keep = np.ones(bj.size, dtype=bool)

    def cost(d_deg: float) -> float:
        return _solve_linear(px[keep], py[keep], ti[keep], bj[keep], ang, n, m,
                             np.deg2rad(d_deg))[1]

    # Robust: refit without observations far off the model (mis-linked or merged beads).
    for _ in range(3):
        best = optimize.minimize_scalar(cost, bounds=(-max_delta_deg, max_delta_deg),
                                        method="bounded", options={"xatol": 1e-3})
        delta = float(best.x)
        sol, rms, per_obs = _solve_linear(px[keep], py[keep], ti[keep], bj[keep], ang, n, m,
                                          np.deg2rad(delta))
        limit = max(3.0 * 1.4826 * float(np.median(per_obs)), 0.5)
        bad = np.nonzero(keep)[0][per_obs > limit]
        if bad.size == 0:
            break
        keep[bad] = False
        log.info("fiducials: %d of %d bead positions rejected as outliers (> %.2f px)",
                 bad.size, keep.size, limit)
    per_tilt = np.bincount(ti[keep], minlength=n)
    if (per_tilt < 2).any():
        log.warning("fiducials: tilts %s have fewer than 2 tracked beads; their shifts are "
                    "not determined by the fit", np.nonzero(per_tilt < 2)[0].tolist())
    e = np.stack([sol[n:2 * n], sol[:n]], axis=1)
    beads = np.stack([sol[2 * n + 2 * m:], sol[2 * n + m:2 * n + 2 * m], sol[2 * n:2 * n + m]],
                     axis=1)
    return FiducialFit(delta, e, beads, rms)


def align_fiducials(raw: np.ndarray, angles_deg: np.ndarray, *, tilt_axis_deg: float = 0.0,
                    estimate_axis: bool = True, max_shift: float | None = None,
                    bead_radius_px: float = 2.0, rounds: int = 2) -> tuple[float, np.ndarray]:
    """Tilt-axis angle and shifts of a raw series from gold beads.

    Returns
    -------
    tilt_axis_deg : float
    shifts_dydx : (n, 2) ndarray
    """
    from tomoml.align.axis import estimate_tilt_axis
    from tomoml.align.projmatch import rotate_shifts
    from tomoml.align.xcorr import coarse_align, rotate_images

    angles = np.asarray(angles_deg, float)
    theta = tilt_axis_deg
    if estimate_axis:
        theta, _ = estimate_tilt_axis(raw, hint_deg=tilt_axis_deg)
    shifts, _ = coarse_align(raw, angles, tilt_axis_deg=theta, max_shift=max_shift)
    for r in range(rounds):
        aligned = rotate_images(raw, theta, shifts)
        points = [detect_fiducials(im, bead_radius_px=bead_radius_px) for im in aligned]
        tracks = track_fiducials(points, angles, max_step_px=max(3.0, 2 * bead_radius_px))
        fit = solve_fiducial_alignment(tracks, angles, raw.shape[1:],
                                       max_delta_deg=5.0 if estimate_axis else 1e-6)
        if not estimate_axis:
            fit.delta_deg = 0.0
        theta = theta + fit.delta_deg
        shifts = rotate_shifts(shifts, fit.delta_deg) + fit.corrections_dydx
        log.info("fiducials round %d: %d tracks, axis %+.3f deg, bead residual %.3f px",
                 r + 1, tracks.shape[0], fit.delta_deg, fit.rms_px)
    return float(theta), shifts
