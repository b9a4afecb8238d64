"""Refinement by projection matching, tilt-axis refinement, and the reprojection residual.

Projection matching (as tomopy's joint alignment and Tomviz do): reconstruct the current aligned
stack, reproject the reconstruction at the tilt angles, register each tilt image to its
reprojection with sub-pixel accuracy, add the measured shifts, and repeat until the updates fall
below a tolerance. Early rounds run on 2x (or more) binned images for speed.

The reconstructions here are many and small, so they use the slice matrix of
:func:`tomoml.reconstruct.sparse_cpu.linear_slice_matrix` (ASTRA's ``linear`` projector in the geometry of
:func:`tomoml.reconstruct.forward_project`, applied to all slices at once as one sparse product),
built once per geometry and level, with a small SIRT loop that warm-starts from the previous round
and keeps the two half-series reconstructions that the cross-validation needs (the public
``reconstruct`` has no warm start or half-series operator).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from tomoml.align.xcorr import (
    bandpass_filter,
    edge_taper,
    normalize_image,
    register_translation,
    rotate_images,
    valid_mask,
)

__all__ = [
    "SliceOperator", "bin_images", "reprojection_residual", "projection_matching",
    "rotate_shifts", "MatchRound",
]

log = logging.getLogger(__name__)


def bin_images(images: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks of each image (edges that do not fill a block dropped)."""
    if factor <= 1:
        return np.asarray(images, dtype=np.float32)
    n, ny, nx = images.shape
    ny2, nx2 = (ny // factor) * factor, (nx // factor) * factor
    v = np.asarray(images[:, :ny2, :nx2], dtype=np.float32)
    return v.reshape(n, ny2 // factor, factor, nx2 // factor, factor).mean(axis=(2, 4))


class SliceOperator:
    """The projector ``P`` of one tilt geometry, applied to every ``(z, x)`` slice at once.

    Parameters
    ----------
    angles_deg : (n,) ndarray
        Tilt angles.
    nx : int
        Detector width (= volume width), pixels.
    nz : int
        Volume thickness, voxels.
    """

    def __init__(self, angles_deg: np.ndarray, nx: int, nz: int) -> None:
        from tomoml.reconstruct.sparse_cpu import linear_slice_matrix

        self.angles_deg = np.asarray(angles_deg, dtype=np.float64)
        self.nx, self.nz = int(nx), int(nz)
        w = linear_slice_matrix((self.nz, self.nx), self.angles_deg, self.nx)
        # scipy's product, not torch's CSR: on these small matrices (and two shared cores)
        # torch's threaded kernel measured 2-40x slower.
        self._w = w.tocsr().astype(np.float32)
        self._wt = self._w.T.tocsr()
        rows = np.asarray(self._w.sum(axis=1)).ravel()
        cols = np.asarray(self._w.sum(axis=0)).ravel()
        self._inv_rows = np.where(rows > 0, 1.0 / np.maximum(rows, 1e-12), 0.0).astype(np.float32)
        self._inv_cols = np.where(cols > 0, 1.0 / np.maximum(cols, 1e-12), 0.0).astype(np.float32)

    def _fw(self, x: np.ndarray) -> np.ndarray:
        return self._w @ x

    def _bw(self, y: np.ndarray) -> np.ndarray:
        return self._wt @ y

    def _to_cols(self, proj: np.ndarray) -> np.ndarray:
        n, ny, nx = proj.shape
        return np.ascontiguousarray(proj.transpose(0, 2, 1)).reshape(n * nx, ny)

    def _from_cols(self, b: np.ndarray, ny: int) -> np.ndarray:
        return b.reshape(-1, self.nx, ny).transpose(0, 2, 1)

    def forward(self, volume_zyx: np.ndarray) -> np.ndarray:
        """Project a ``(nz, y, nx)`` volume to ``(n, y, nx)``."""
        nz, ny, nx = volume_zyx.shape
        x = np.ascontiguousarray(volume_zyx.transpose(0, 2, 1)).reshape(nz * nx, ny)
        return self._from_cols(self._fw(x), ny)

    def sirt(self, proj: np.ndarray, iterations: int, x0: np.ndarray | None = None,
             ) -> np.ndarray:
        """SIRT reconstruction ``(nz, y, nx)`` of a ``(n, y, nx)`` stack, optionally warm-started."""
        n, ny, nx = proj.shape
        b = self._to_cols(np.asarray(proj, dtype=np.float32))
        if x0 is None:
            x = np.zeros((self.nz * self.nx, ny), dtype=np.float32)
        else:
            x = np.ascontiguousarray(x0.transpose(0, 2, 1)).reshape(self.nz * self.nx, ny)
            x = x.astype(np.float32, copy=True)
        r_inv, c_inv = self._inv_rows[:, None], self._inv_cols[:, None]
        for _ in range(iterations):
            x += c_inv * self._bw(r_inv * (b - self._fw(x)))
        return x.reshape(self.nz, self.nx, ny).transpose(0, 2, 1)


def _residual(op: SliceOperator, aligned: np.ndarray, rec: np.ndarray) -> float:
    diff = op.forward(rec) - aligned
    return float(np.linalg.norm(diff) / max(float(np.linalg.norm(aligned)), 1e-30))


def reprojection_residual(aligned: np.ndarray, angles_deg: np.ndarray, *, iterations: int = 30,
                          thickness: int | None = None, binning: int = 1) -> float:
    """``|P x - b| / |b|``: reconstruct the aligned stack ``b`` by SIRT, reproject, compare.

    The figure by which aligners are compared: the better the alignment, the more consistent
    the projections and the lower the residual (noise sets its floor).

    Parameters
    ----------
    aligned : (n, y, x) ndarray
        Aligned tilt series (tilt axis along y).
    angles_deg : (n,) ndarray
    iterations : int
        SIRT iterations.
    thickness : int, optional
        Reconstruction thickness in (unbinned) pixels; default the image width.
    binning : int
        Bin the images first (faster, coarser).
    """
    b = bin_images(np.asarray(aligned), binning)
    nz = max(4, (thickness or aligned.shape[2]) // binning)
    op = SliceOperator(angles_deg, b.shape[2], nz)
    return _residual(op, b, op.sirt(b, iterations))


def rotate_shifts(shifts_dydx: np.ndarray, delta_deg: float) -> np.ndarray:
    """Shifts that keep the aligned images the same when the axis angle grows by ``delta_deg``.

    The aligned frame turns by ``-delta`` about the centre, so each shift vector turns with it.
    """
    phi = np.deg2rad(-delta_deg)
    c, s = np.cos(phi), np.sin(phi)
    dy, dx = shifts_dydx[:, 0], shifts_dydx[:, 1]
    return np.stack([s * dx + c * dy, c * dx - s * dy], axis=1)


@dataclass
class MatchRound:
    """One round of projection matching (an entry of the convergence history)."""

    stage: str
    binning: int
    tilt_axis_deg: float
    residual: float
    rms_update_px: float
    max_update_px: float


@dataclass
class _Level:
    """One binning level: the projectors of the even- and odd-numbered tilts (by angle)."""

    binning: int
    ops: tuple[SliceOperator, SliceOperator]
    halves: tuple[np.ndarray, np.ndarray]
    window: np.ndarray
    recs: list = field(default_factory=lambda: [None, None])
    full_window: np.ndarray | None = field(default=None)


def _unbin(images: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Interpolate binned images back to ``shape`` (binned pixel j covers j*f .. j*f+f-1)."""
    from scipy import ndimage

    ry = (np.arange(shape[0]) - (factor - 1) / 2) / factor
    rx = (np.arange(shape[1]) - (factor - 1) / 2) / factor
    grid = np.meshgrid(ry, rx, indexing="ij")
    return np.stack([ndimage.map_coordinates(im, grid, order=3, mode="nearest")
                     for im in images])


def _make_level(shape: tuple[int, int, int], angles: np.ndarray, binning: int,
                thickness: int | None, tilt_axis_deg: float) -> _Level:
    n, ny, nx = shape
    by, bx = ny // binning, nx // binning
    nz = max(4, (thickness or nx) // binning)
    mask = valid_mask((ny, nx), tilt_axis_deg)
    mask_b = bin_images(mask[None].astype(np.float32), binning)[0] > 0.99
    order = np.argsort(angles, kind="stable")
    halves = (np.sort(order[0::2]), np.sort(order[1::2]))
    ops = (SliceOperator(angles[halves[0]], bx, nz), SliceOperator(angles[halves[1]], bx, nz))
    return _Level(binning, ops, halves, edge_taper((by, bx), 0.08, mask_b))


def _match_round(raw: np.ndarray, level: _Level, theta: float, shifts: np.ndarray,
                 sirt_iterations: int, search_px: float, lowpass: float,
                 ) -> tuple[np.ndarray, float, np.ndarray]:
    """Reconstruct, reproject and register each tilt: returns (updates px, CV residual, rec).

    With ``level.full_window`` set, the reconstruction stays binned but the registration runs
    on the full-size images against the reprojection interpolated up to full size: sub-pixel
    precision of the full size for the price of a binned reconstruction.
    """
    b = level.binning
    full = rotate_images(raw, theta, shifts)
    aligned = bin_images(full, b)
    # Cross-validated: each half of the tilts (alternate angles) is compared with the
    # reprojection of a reconstruction from the other half. A reconstruction from all tilts
    # fits each image nearly exactly (slice-wise SIRT is underdetermined), which would hide
    # the very misalignment being measured.
    reproj = np.empty_like(aligned)
    for h in (0, 1):
        idx, other = level.halves[h], level.halves[1 - h]
        level.recs[h] = level.ops[h].sirt(aligned[idx], sirt_iterations, level.recs[h])
        reproj[other] = level.ops[1 - h].forward(level.recs[h])
    res = float(np.linalg.norm(reproj - aligned) / max(float(np.linalg.norm(aligned)), 1e-30))
    w = level.window
    if level.full_window is not None and b > 1:
        w = level.full_window
        reproj = _unbin(reproj, b, full.shape[1:])
        aligned = full
        b = 1
    upd = np.zeros_like(shifts)
    bp = {"sigma1": 0.02, "radius2": lowpass, "sigma2": 0.05}
    for i in range(raw.shape[0]):
        ref = bandpass_filter(normalize_image(reproj[i], w > 0.5) * w, **bp)
        mov = bandpass_filter(normalize_image(aligned[i], w > 0.5) * w, **bp)
        reg = register_translation(ref, mov, max_shift=search_px, filtered=True)
        upd[i] = reg.shift_dydx * b
    return upd, res, aligned


def projection_matching(raw: np.ndarray, angles_deg: np.ndarray, tilt_axis_deg: float,
                        shifts_dydx: np.ndarray, *, iterations: int = 10,
                        binnings: tuple[int, ...] = (2, 1), sirt_iterations: int = 10,
                        thickness: int | None = None, tol_px: float = 0.02,
                        search_px: float | None = None, history: list | None = None,
                        full_size_registration: bool = True, momentum: float = 0.6,
                        ) -> np.ndarray:
    """Refine per-tilt shifts by projection matching at a fixed tilt-axis angle.

    Parameters
    ----------
    raw : (n, y, x) ndarray
        Raw tilt series.
    angles_deg : (n,) ndarray
    tilt_axis_deg : float
    shifts_dydx : (n, 2) ndarray
        Starting shifts (e.g. from :func:`tomoml.align.coarse_align`).
    iterations : int
        Most rounds per binning level.
    binnings : tuple of int
        Binning of each level, coarse to fine.
    sirt_iterations : int
        SIRT iterations per round (warm-started from the previous round).
    thickness : int, optional
        Reconstruction thickness, pixels (default the image width).
    tol_px : float
        A level ends when the RMS update falls below this (unbinned pixels). Errors that vary
        slowly from tilt to tilt (the random walk of chained cross-correlation) are nearly
        consistent with a moving specimen and shrink by only ~20% per round, so the
        tolerance is tight and the rounds many.
    search_px : float, optional
        Largest correction per round, binned pixels (default 1/8 of the binned width, >= 3).
    history : list, optional
        :class:`MatchRound` entries are appended to it.
    full_size_registration : bool
        When the last level is binned, finish with rounds that register the full-size images
        to the binned reconstruction's reprojection interpolated up (stage "projmatch-full").

    momentum : float
        Fraction of the previous step added to each update (0 = plain updates).

    Returns
    -------
    shifts_dydx : (n, 2) ndarray
    """
    raw = np.asarray(raw, dtype=np.float32)
    shifts = np.array(shifts_dydx, dtype=np.float64, copy=True)
    angles = np.asarray(angles_deg, dtype=np.float64)
    ref = int(np.argmin(np.abs(angles)))
    levels: list[tuple[int, bool]] = [(b, False) for b in binnings]
    if full_size_registration and binnings[-1] > 1:
        levels.append((binnings[-1], True))
    for b, full_reg in levels:
        level = _make_level(raw.shape, angles, b, thickness, tilt_axis_deg)
        lim = search_px if search_px is not None else max(3.0, raw.shape[2] / b / 8)
        lowpass = 0.25 if b > 1 else 0.3
        if full_reg:
            mask = valid_mask(raw.shape[1:], tilt_axis_deg)
            level.full_window = edge_taper(raw.shape[1:], 0.08, mask)
            lim, lowpass = 3.0, 0.25 / b
        step = np.zeros_like(shifts)
        for _ in range(iterations):
            upd, res, _ = _match_round(raw, level, tilt_axis_deg, shifts, sirt_iterations, lim,
                                       lowpass)
            # The shift of a rigid specimen translation is free; hold the reference tilt's y.
            upd[:, 0] -= upd[ref, 0]
            # Heavy-ball momentum: errors that vary slowly with tilt are measured only in part
            # each round (the reconstruction follows them), so earlier steps are carried on.
            step = upd + momentum * step
            shifts += step
            rms = float(np.sqrt((upd**2).sum(axis=1).mean()))
            mx = float(np.sqrt((upd**2).sum(axis=1)).max())
            log.info("projection matching bin %d: residual %.4f, update rms %.3f px, max %.3f px",
                     b, res, rms, mx)
            if history is not None:
                history.append(MatchRound("projmatch-full" if full_reg else "projmatch", b,
                                          tilt_axis_deg, res, rms, mx))
            if rms < tol_px:
                break
    return shifts
