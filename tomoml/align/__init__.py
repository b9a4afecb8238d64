"""Marker-free tilt-series alignment: shifts and tilt-axis angle, as an IMOD ``.xf``.

Steps of :func:`align` (each is a public function too):

1. checks: at least 5 tilts, no blank or constant image;
2. tilt-axis angle, coarse: the common line of the images' Fourier amplitudes
   (:func:`estimate_tilt_axis`, any angle, 1-4° precise);
3. shifts, coarse: cross-correlation of neighbouring tilts with cosine stretching, band-pass
   filter and edge taper, chained from the zero tilt (:func:`coarse_align`, IMOD ``tiltxcorr``);
4. tilt-axis angle, fine: the angle at which the tilts' profiles along the axis agree best
   (:func:`refine_tilt_axis`, a few hundredths of a degree);
5. shifts, fine (``method="projmatch"``): projection matching, binned then full size
   (:func:`projection_matching`);
6. the reprojection residual ``|P x - b| / |b|`` of the aligned stack.

``method="fiducials"`` replaces 3-5 by gold-bead detection, tracking and a least-squares fit
(:mod:`tomoml.align.fiducials`).

The result is an :class:`tomoml.io.XfTransforms` (rotate the raw image by ``-tilt_axis_deg``
about its centre, then shift by ``(dy, dx)``) and the aligned stack ``xf.apply(raw)``.

Alignment needs a projector, so ``tomoml.align`` imports ``tomoml.reconstruct`` (the slice
projector of :func:`tomoml.reconstruct.forward_project`); ``tomoml.reconstruct`` never imports
``tomoml.align``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from tomoml.align.axis import (
    estimate_tilt_axis,
    profile_inconsistency,
    refine_tilt_axis,
    wrap_axis_angle,
)
from tomoml.align.fiducials import (
    align_fiducials,
    detect_fiducials,
    solve_fiducial_alignment,
    track_fiducials,
)
from tomoml.align.metrics import shift_error  # noqa: E402
from tomoml.align.projmatch import (
    MatchRound,
    SliceOperator,
    bin_images,
    projection_matching,
    reprojection_residual,
    rotate_shifts,
)
from tomoml.align.xcorr import (
    Registration,
    bandpass_filter,
    coarse_align,
    edge_taper,
    normalize_image,
    register_translation,
)
from tomoml.data import TiltSeries
from tomoml.errors import ConfigError, InputError
from tomoml.io.imod import XfTransforms

__all__ = [
    "shift_error", "align", "AlignmentResult", "MatchRound", "check_tilt_series", "estimate_tilt_axis",
    "refine_tilt_axis", "profile_inconsistency", "wrap_axis_angle", "coarse_align",
    "register_translation", "Registration", "bandpass_filter", "edge_taper", "normalize_image",
    "projection_matching", "reprojection_residual", "rotate_shifts", "bin_images",
    "SliceOperator", "detect_fiducials", "track_fiducials", "solve_fiducial_alignment",
    "align_fiducials",
]

log = logging.getLogger(__name__)

MIN_TILTS = 5
METHODS = ("projmatch", "xcorr", "fiducials")


@dataclass
class AlignmentResult:
    """What :func:`align` found.

    Attributes
    ----------
    xf : XfTransforms
        IMOD transforms raw -> aligned (write with :func:`tomoml.io.write_xf`).
    shifts_dydx : (n, 2) ndarray
        Shifts in pixels, applied after the rotation by ``-tilt_axis_deg``.
    tilt_axis_deg : float
        Tilt-axis angle of the raw images, from the image y axis, counter-clockwise.
    aligned : TiltSeries
        The aligned stack (tilt axis along y, ``tilt_axis_deg = 0``).
    residual : float
        Reprojection residual ``|P x - b| / |b|`` of the aligned stack (SIRT reconstruction;
        on binned images from 192 pixels up, so that the slices have 96-190 pixels).
    history : list of MatchRound
        Convergence report: one entry per projection-matching round.
    method : str
    axis_score : float
        Common-line score of the coarse axis estimate (0..1; < 0.2 is unreliable), NaN if the
        axis was not estimated.
    seconds : float
        Wall time of the alignment.
    """

    xf: XfTransforms
    shifts_dydx: np.ndarray
    tilt_axis_deg: float
    aligned: TiltSeries
    residual: float
    history: list[MatchRound] = field(default_factory=list)
    method: str = "projmatch"
    axis_score: float = float("nan")
    seconds: float = 0.0

    def summary(self) -> str:
        """One line: axis angle, shift range, residual."""
        r = np.hypot(self.shifts_dydx[:, 0], self.shifts_dydx[:, 1])
        return (f"tilt axis {self.tilt_axis_deg:.2f} deg, shifts dy {self.shifts_dydx[:, 0].min():.1f}"
                f"..{self.shifts_dydx[:, 0].max():.1f} px, dx {self.shifts_dydx[:, 1].min():.1f}.."
                f"{self.shifts_dydx[:, 1].max():.1f} px (largest {r.max():.1f} px), "
                f"reprojection residual {self.residual:.4f}")


def check_tilt_series(tilts: TiltSeries) -> None:
    """Raise :class:`InputError` for series that cannot be aligned.

    Too few tilts (< 5), repeated angles, or blank/constant images (name the indices, so they
    can be removed first, as with IMOD's ``excludelist``).
    """
    where = f"{tilts.source}: " if tilts.source else ""
    n = tilts.n_tilts
    if n < MIN_TILTS:
        raise InputError(f"{where}{n} tilt images; alignment needs at least {MIN_TILTS}")
    if min(tilts.shape[1:]) < 16:
        raise InputError(f"{where}images of {tilts.shape[1]}x{tilts.shape[2]} pixels are too "
                         "small to align (need at least 16x16)")
    if np.unique(np.round(tilts.angles_deg, 4)).size != n:
        raise InputError(f"{where}tilt angles repeat; each image needs its own angle")
    data = tilts.data
    scale = max(float(np.abs(data).max()), 1e-30)
    sd = np.array([float(im.std()) for im in data])
    flat = np.nonzero(sd <= 1e-6 * scale)[0]
    if flat.size:
        raise InputError(f"{where}tilt image(s) {', '.join(map(str, flat[:10].tolist()))} are "
                         "blank or constant; remove them before aligning")


def align(tilts: TiltSeries, *, method: str = "projmatch", estimate_axis: bool = True,
          axis_hint_deg: float | None = None, max_shift: float | None = None,
          iterations: int = 20, thickness: int | None = None, residual_iterations: int = 30,
          seed: int | None = 0) -> AlignmentResult:
    """Align a single-axis tilt series: per-tilt shifts and the tilt-axis angle.

    Parameters
    ----------
    tilts : TiltSeries
        Raw series. ``tilts.tilt_axis_deg`` is used as the axis angle when ``estimate_axis`` is
        false, and as the handedness hint otherwise.
    method : {"projmatch", "xcorr", "fiducials"}
        ``"xcorr"`` stops after the coarse alignment; ``"projmatch"`` refines it by projection
        matching; ``"fiducials"`` tracks gold beads and fits shifts and axis by least squares.
    estimate_axis : bool
        Estimate the tilt-axis angle (else keep ``tilts.tilt_axis_deg``).
    axis_hint_deg : float, optional
        The estimate is taken within ±90° of this (default ``tilts.tilt_axis_deg``): theta and
        theta+180° are the same axis line with mirrored handedness, which the projections
        cannot tell apart. Use the microscope's nominal axis angle (e.g. 90 for STEM along x).
    max_shift : float, optional
        Largest shift between neighbouring tilts, pixels (default 35% of the image size).
    iterations : int
        Most projection-matching rounds per binning level.
    thickness : int, optional
        Reconstruction thickness for projection matching and the residual (default: width).
    residual_iterations : int
        SIRT iterations for the reported residual.
    seed : int, optional
        Unused by the deterministic methods; kept so every stage takes one.

    Returns
    -------
    AlignmentResult

    Examples
    --------
    >>> res = align(tilts)                                  # doctest: +SKIP
    >>> res.tilt_axis_deg, res.residual                     # doctest: +SKIP
    >>> tomoml.io.write_xf(res.xf, "series.xf")             # doctest: +SKIP
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if iterations < 0:
        raise ConfigError(f"iterations must be >= 0, got {iterations}")
    if max_shift is not None and max_shift <= 0:
        raise ConfigError(f"max_shift must be > 0 pixels, got {max_shift}")
    check_tilt_series(tilts)
    t0 = time.perf_counter()
    raw = tilts.data
    angles = tilts.angles_deg
    hint = tilts.tilt_axis_deg if axis_hint_deg is None else float(axis_hint_deg)
    history: list[MatchRound] = []
    score = float("nan")

    if method == "fiducials":
        theta, shifts = align_fiducials(raw, angles, tilt_axis_deg=hint,
                                        estimate_axis=estimate_axis, max_shift=max_shift)
    else:
        if estimate_axis:
            theta, score = estimate_tilt_axis(raw, hint_deg=hint)
            if score < 0.2:
                log.warning("the tilt-axis estimate %.1f deg is unreliable (common-line score "
                            "%.2f); consider giving the axis angle and estimate_axis=False",
                            theta, score)
        else:
            theta = hint
        shifts, peaks = coarse_align(raw, angles, tilt_axis_deg=theta, max_shift=max_shift)
        weak = np.nonzero(peaks < 0.1)[0]
        if weak.size:
            log.warning("tilts %s correlate poorly with their neighbours (peak < 0.1): their "
                        "coarse shifts are doubtful", weak.tolist())
        if estimate_axis:
            theta, shifts, _ = refine_tilt_axis(raw, theta, shifts)
            shifts, _ = coarse_align(raw, angles, tilt_axis_deg=theta, max_shift=max_shift)
        if method == "projmatch" and iterations > 0:
            # Reconstructions stay small (the finest has 64-190 pixels across); the last rounds
            # register the full-size images to the interpolated reprojection.
            big = max(raw.shape[1:])
            fine = 1 if big < 128 else 2 ** int(np.clip(np.floor(np.log2(big / 96)), 1, 5))
            binnings = (2 * fine, fine)
            shifts = projection_matching(raw, angles, theta, shifts, iterations=iterations,
                                         binnings=binnings, thickness=thickness,
                                         history=history)
            if estimate_axis:
                theta, shifts, _ = refine_tilt_axis(raw, theta, shifts, span_deg=2.0,
                                                    step_deg=0.2)
                shifts = projection_matching(raw, angles, theta, shifts, iterations=2,
                                             binnings=binnings[-1:], thickness=thickness,
                                             history=history)

    xf = XfTransforms.from_alignment(shifts, theta)
    aligned_data = xf.apply(raw, order=3)
    big = max(raw.shape[1:])
    res_bin = 1 if big < 192 else 2 ** int(np.clip(np.floor(np.log2(big / 96)), 1, 5))
    residual = reprojection_residual(aligned_data, angles, iterations=residual_iterations,
                                     thickness=thickness, binning=res_bin)
    aligned = tilts.replace(data=aligned_data, tilt_axis_deg=0.0)
    res = AlignmentResult(xf=xf, shifts_dydx=np.asarray(shifts, float), tilt_axis_deg=theta,
                          aligned=aligned, residual=residual, history=history, method=method,
                          axis_score=score, seconds=time.perf_counter() - t0)
    log.info("alignment (%s): %s", method, res.summary())
    return res
