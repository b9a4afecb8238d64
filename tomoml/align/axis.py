"""Tilt-axis angle estimation: the in-plane rotation of the tilt axis from the image y axis.

Coarse estimate (:func:`estimate_tilt_axis`): the *common line*. By the projection-slice
theorem, the 2D Fourier transform of every projection of a single-axis series is a central plane
of the volume's 3D transform, and all these planes share one line: the one along the tilt axis.
So the Fourier amplitudes sampled along the axis direction are the same in every tilt image,
whatever the tilt and whatever the (unknown) shifts, since a shift changes only the phase. The
estimate is the direction, over a full 180° search, along which the (whitened) amplitudes of all
tilts agree best. It needs neither a starting guess nor aligned images, and works for any axis
angle, including ~90° (STEM). Its precision is limited by the angular resolution of the spectra
(~1° on 64-pixel images).

Refinement (:func:`refine_tilt_axis`): the same property in real space. Once the images are
shifted into register, the profile along the axis (each aligned image summed across the axis) is
the mass of each slab of the specimen perpendicular to the axis: the same at every tilt. With an
axis error ``d`` a feature at detector position ``u`` lands ``d * u`` off its row, and ``u``
changes with tilt, so the profiles disagree in proportion to ``d``. The profile disagreement,
after a sub-pixel re-fit of each profile's shift along the axis, is a parabola in the angle whose
minimum is found to a few hundredths of a degree.

The 180° ambiguity: ``theta`` and ``theta + 180`` describe the same axis line. Rotating every
image by 180° yields data that are exactly consistent with the point-reflected (mirror-image)
volume, so no method can tell the two apart from the projections alone: it is the handedness of
the reconstruction, known only from the microscope's calibration. tomoml returns the angle within
±90° of ``hint_deg`` (default 0: the axis roughly along +y); pass ``hint_deg=90`` for a series
whose axis runs roughly along x with the tilt direction of IMOD's ``RotationAngle = 90``.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage

__all__ = [
    "estimate_tilt_axis", "common_line_score", "wrap_axis_angle", "profile_inconsistency",
    "refine_tilt_axis", "axis_profiles",
]

log = logging.getLogger(__name__)


def wrap_axis_angle(theta_deg: float, hint_deg: float = 0.0) -> float:
    """The representative of the axis line ``theta`` (mod 180°) within ±90° of ``hint_deg``."""
    return float(hint_deg + ((theta_deg - hint_deg + 90.0) % 180.0) - 90.0)


def _whitened_amplitudes(images: np.ndarray, pad: int = 2) -> np.ndarray:
    """Centred log-amplitude spectra with the radial mean removed, one per image."""
    n, ny, nx = images.shape
    yy = (np.arange(ny) - (ny - 1) / 2) / (ny / 2)
    xx = (np.arange(nx) - (nx - 1) / 2) / (nx / 2)
    r = np.sqrt(yy[:, None] ** 2 + xx[None, :] ** 2)
    # A round window: no direction is favoured by the image edges.
    window = np.where(r < 1, 0.5 + 0.5 * np.cos(np.pi * np.clip(r, 0, 1)), 0.0)
    py, px = pad * ny, pad * nx
    fy = np.fft.fftshift(np.fft.fftfreq(py))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(px))[None, :]
    kr = np.sqrt(fy**2 + fx**2)
    bins = np.minimum((kr * min(py, px)).astype(int), min(py, px))
    counts = np.bincount(bins.ravel(), minlength=min(py, px) + 1).astype(float)
    out = np.empty((n, py, px), dtype=np.float32)
    for i in range(n):
        img = images[i].astype(np.float64)
        img = (img - (img * window).sum() / window.sum()) * window
        amp = np.abs(np.fft.fftshift(np.fft.fft2(img, s=(py, px))))
        amp = ndimage.gaussian_filter(amp, 0.7 * pad)
        la = np.log(amp + 1e-6 * amp.max() + 1e-30)
        radial = np.bincount(bins.ravel(), la.ravel(), minlength=counts.size) / np.maximum(counts, 1)
        out[i] = la - radial[bins]
    return out


def _line_samples(spectra: np.ndarray, thetas_deg: np.ndarray, k_min: float,
                  k_max: float) -> np.ndarray:
    """Whitened amplitudes along the direction of each candidate axis: (n_theta, n_img, n_k)."""
    n, py, px = spectra.shape
    n_k = max(8, int(np.ceil((k_max - k_min) * min(py, px) * 2)))
    k = np.linspace(k_min, k_max, n_k)
    th = np.deg2rad(np.asarray(thetas_deg, float))
    # axis direction in (x, y) = (-sin t, cos t); frequency (fx, fy) = k * direction
    rows = py // 2 + np.outer(np.cos(th), k) * py
    cols = px // 2 - np.outer(np.sin(th), k) * px
    out = np.empty((th.size, n, n_k), dtype=np.float64)
    for i in range(n):
        out[:, i, :] = ndimage.map_coordinates(spectra[i], [rows.ravel(), cols.ravel()],
                                               order=1, mode="nearest").reshape(th.size, n_k)
    return out


def common_line_score(lines: np.ndarray) -> np.ndarray:
    """Fraction of the whitened amplitude power along each line that all tilts share.

    ``lines`` is ``(n_theta, n_img, n_k)``; 1 = identical in every image, ~1/n_img = unrelated.
    """
    common = lines.mean(axis=1)
    total = (lines**2).mean(axis=1).sum(axis=-1)
    return (common**2).sum(axis=-1) / np.maximum(total, 1e-30)


def estimate_tilt_axis(images: np.ndarray, angles_deg: np.ndarray | None = None, *,
                       hint_deg: float = 0.0, step_deg: float = 0.5, k_min: float = 0.02,
                       k_max: float = 0.3, bin_to: int = 256) -> tuple[float, float]:
    """Estimate the tilt-axis angle of a raw tilt series by the common-line method.

    Parameters
    ----------
    images : (n, y, x) ndarray
        Raw tilt series (shifts need not be known).
    angles_deg : (n,) ndarray, optional
        Tilt angles; only used to leave out the zero-tilt neighbourhood's duplicates (unused
        otherwise, kept for symmetry with the other estimators).
    hint_deg : float
        The result lies within ±90° of this (the handedness choice, see the module notes).
    step_deg : float
        Grid step of the full 180° search; the maximum is then refined to 0.02°.
    k_min, k_max : float
        Frequency band used, cycles/pixel (of the binned images).
    bin_to : int
        Images larger than this are binned (averaged) down to about this size first.

    Returns
    -------
    theta_deg : float
        Tilt-axis angle from the image y axis, counter-clockwise, degrees.
    score : float
        Common-line score at the estimate (0..1); below ~0.2 the estimate is unreliable.
    """
    imgs = np.asarray(images, dtype=np.float32)
    b = max(1, int(np.floor(max(imgs.shape[1:]) / bin_to)))
    if b > 1:
        ny, nx = (imgs.shape[1] // b) * b, (imgs.shape[2] // b) * b
        imgs = imgs[:, :ny, :nx].reshape(imgs.shape[0], ny // b, b, nx // b, b).mean(axis=(2, 4))
    spectra = _whitened_amplitudes(imgs)
    grid = hint_deg - 90.0 + np.arange(0.0, 180.0, step_deg)
    scores = common_line_score(_line_samples(spectra, grid, k_min, k_max))
    best = float(grid[int(np.argmax(scores))])
    fine = best + np.arange(-2 * step_deg, 2 * step_deg + 1e-9, 0.02)
    fscores = common_line_score(_line_samples(spectra, fine, k_min, k_max))
    j = int(np.argmax(fscores))
    theta = float(fine[j])
    if 0 < j < fine.size - 1:
        c_m, c_0, c_p = fscores[j - 1], fscores[j], fscores[j + 1]
        denom = c_m - 2 * c_0 + c_p
        if denom < 0:
            theta += 0.02 * float(np.clip(0.5 * (c_m - c_p) / denom, -0.5, 0.5))
    theta = wrap_axis_angle(theta, hint_deg)
    score = float(fscores[j])
    if abs(abs(theta - hint_deg) - 90.0) < 10.0:
        log.warning("tilt axis %.2f deg is close to 90 deg from the hint %.1f deg: the sign of the "
                    "tilt direction (handedness) is a guess; give the microscope's axis angle as "
                    "the hint", theta, hint_deg)
    log.info("common-line tilt-axis estimate %.2f deg (score %.3f)", theta, score)
    return theta, score


def _profile_shift_fit(spectra: np.ndarray, length: int, rounds: int = 3,
                       max_shift: float = 1.5) -> np.ndarray:
    """Shift each profile's spectrum (rows) onto their mean, sub-pixel, by a 1D search."""
    k = np.fft.rfftfreq(length)
    ds = np.linspace(-max_shift, max_shift, int(round(40 * max_shift)) + 1)
    phase = np.exp(-2j * np.pi * np.outer(ds, k))
    f = spectra
    for _ in range(rounds):
        m = f.mean(axis=0)
        err = (np.abs(f[:, None, :] * phase[None] - m[None, None, :]) ** 2).sum(axis=-1)
        f = f * phase[np.argmin(err, axis=1)]
    return f


def axis_profiles(raw: np.ndarray, tilt_axis_deg: float, shifts_dydx: np.ndarray) -> np.ndarray:
    """Each image summed across the tilt axis: ``(n, ny)`` profiles along the aligned y axis.

    The same as rotating by ``-tilt_axis_deg``, shifting, and summing the rows, but computed by
    splatting every pixel onto the rotated y axis (cubic B-spline weights), which needs no
    resampled image and keeps the corners that a rotation would cut.
    """
    n, ny, nx = raw.shape
    th = np.deg2rad(tilt_axis_deg)
    yc = np.arange(ny) - (ny - 1) / 2
    xc = np.arange(nx) - (nx - 1) / 2
    # aligned y of each pixel (IMOD .xf: rotate by -theta about the centre, then shift)
    y_rot = (-np.sin(th) * xc[None, :] + np.cos(th) * yc[:, None]).ravel() + (ny - 1) / 2
    out = np.empty((n, ny))
    for i in range(n):
        pos = y_rot + shifts_dydx[i, 0]
        i0 = np.floor(pos).astype(np.int64)
        t = pos - i0
        vals = raw[i].ravel().astype(np.float64)
        # Cubic B-spline weights on bins i0-1 .. i0+2. Their sum of squares (the share of a
        # pixel's noise power that reaches the profile) varies by +-7% with the fractional
        # position, against +-33% for linear weights; near 0 and 90 degrees, where all pixels
        # share nearly one fraction, linear weights made the noise floor depend on the angle.
        t2, t3 = t * t, t * t * t
        weights = ((1 - t) ** 3 / 6, (3 * t3 - 6 * t2 + 4) / 6,
                   (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6)
        acc = np.zeros(ny)
        for k, w in zip((-1, 0, 1, 2), weights, strict=True):
            j = i0 + k
            ok = (j >= 0) & (j < ny)
            acc += np.bincount(j[ok], vals[ok] * w[ok], minlength=ny)[:ny]
        out[i] = acc
    return out


def profile_inconsistency(raw: np.ndarray, tilt_axis_deg: float,
                          shifts_dydx: np.ndarray) -> float:
    """Disagreement between the tilts' profiles along the axis (0 = identical), see module notes.

    Parameters
    ----------
    raw : (n, y, x) ndarray
        Raw tilt series.
    tilt_axis_deg : float
        Candidate axis angle.
    shifts_dydx : (n, 2) ndarray
        Shifts for that angle.
    """
    prof = axis_profiles(raw, tilt_axis_deg, shifts_dydx)
    ny = prof.shape[1]
    # Same total in every profile: removes the change of overall intensity with thickness.
    prof = prof / np.maximum(np.abs(prof.sum(axis=1, keepdims=True)), 1e-30) * ny
    # No padding and no mean removal: both would add edge steps that resist the sub-pixel shift.
    f = _profile_shift_fit(np.fft.rfft(prof, axis=1), ny)
    m = f.mean(axis=0)
    return float((np.abs(f - m) ** 2).sum() / max(float((np.abs(f) ** 2).sum()), 1e-30))


def refine_tilt_axis(raw: np.ndarray, tilt_axis_deg: float, shifts_dydx: np.ndarray, *,
                     span_deg: float = 2.5, step_deg: float = 0.25, max_moves: int = 3,
                     bin_to: int = 256) -> tuple[float, np.ndarray, float]:
    """Refine the tilt-axis angle by minimising :func:`profile_inconsistency`.

    Parameters
    ----------
    raw : (n, y, x) ndarray
        Raw tilt series.
    tilt_axis_deg : float
        Starting angle (e.g. from :func:`estimate_tilt_axis`), degrees.
    shifts_dydx : (n, 2) ndarray
        Shifts at the starting angle (e.g. from cross-correlation); they are turned with the
        frame at each candidate (:func:`tomoml.align.projmatch.rotate_shifts`).
    span_deg, step_deg : float
        The search grid around the current best; it moves if the minimum is on its edge.
    bin_to : int
        Larger images are binned to about this size for the search.

    Returns
    -------
    tilt_axis_deg : float
    shifts_dydx : (n, 2) ndarray
        The shifts turned to the refined angle.
    inconsistency : float
        The profile disagreement at the refined angle.
    """
    from tomoml.align.projmatch import bin_images, rotate_shifts

    raw = np.asarray(raw, dtype=np.float32)
    b = max(1, int(np.floor(max(raw.shape[1:]) / bin_to)))
    small = bin_images(raw, b) if b > 1 else raw
    # A slight blur: linear interpolation averages noise by an amount that depends on the
    # rotation angle, which would otherwise ripple the criterion.
    small = ndimage.gaussian_filter(small, (0, 1.0, 1.0))
    sh_small = np.asarray(shifts_dydx, float) / b
    centre = float(tilt_axis_deg)
    cache: dict[float, float] = {}

    def score(th: float) -> float:
        key = round(th, 6)
        if key not in cache:
            cache[key] = profile_inconsistency(small, th, rotate_shifts(sh_small,
                                                                        th - tilt_axis_deg))
        return cache[key]

    for _ in range(max_moves + 1):
        grid = centre + np.arange(-span_deg, span_deg + 1e-9, step_deg)
        vals = np.array([score(t) for t in grid])
        k = int(np.argmin(vals))
        centre = float(grid[k])
        if 2 <= k <= grid.size - 3:
            break
    else:
        log.warning("tilt-axis refinement did not settle within %.1f deg of %.2f deg",
                    (max_moves + 1) * span_deg, tilt_axis_deg)
    # Least-squares parabola through the points near the minimum.
    # (a wide fit: the criterion is smooth but slightly noisy near its minimum).
    near = np.abs(grid - centre) <= max(3 * step_deg, 1.5)
    c2, c1, _ = np.polyfit(grid[near] - centre, vals[near], 2)
    best = centre
    if c2 > 0:
        best = centre + float(np.clip(-c1 / (2 * c2), -2 * step_deg, 2 * step_deg))
    inc = score(best)
    log.info("tilt-axis refinement: %.3f -> %.3f deg (profile inconsistency %.3g)",
             tilt_axis_deg, best, inc)
    return best, rotate_shifts(np.asarray(shifts_dydx, float), best - tilt_axis_deg), inc
