"""Coarse alignment by cross-correlation of neighbouring tilts with cosine stretching.

The approach of IMOD's ``tiltxcorr``: each image is band-pass filtered, its edges tapered, and
it is correlated with its neighbour towards the zero tilt; the image of the higher tilt is first
stretched perpendicular to the tilt axis by ``cos(t_lower) / cos(t_higher)`` so that a thin
specimen looks alike in both. Shifts are chained outwards from the image nearest zero tilt, which
keeps its position.

All shifts are ``(dy, dx)`` in pixels, applied to the image (after the rotation by
``-tilt_axis_deg``) to align it, as in :class:`tomoml.io.XfTransforms`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from tomoml.errors import InputError

__all__ = [
    "bandpass_filter", "edge_taper", "normalize_image", "register_translation", "Registration",
    "rotate_images", "coarse_align",
]

log = logging.getLogger(__name__)


def normalize_image(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Zero mean, unit standard deviation (over ``mask`` where given).

    Removes the change of overall intensity with specimen thickness before correlation.
    A constant image is returned as zeros.
    """
    img = np.asarray(image, dtype=np.float64)
    vals = img[mask > 0.5] if mask is not None else img
    mu = float(vals.mean()) if vals.size else 0.0
    sd = float(vals.std()) if vals.size else 0.0
    if not np.isfinite(sd) or sd <= 1e-12 * max(1.0, abs(mu)):
        return np.zeros_like(img)
    return (img - mu) / sd


def edge_taper(shape: tuple[int, int], fraction: float = 0.1,
               mask: np.ndarray | None = None) -> np.ndarray:
    """A smooth window, 1 inside and falling to 0 at the edges over ``fraction`` of each side.

    Where ``mask`` (1 = valid data) is given, the window also falls to 0 over the same width
    towards the invalid region (e.g. the corners left empty by a rotation).
    """
    ny, nx = shape
    w = np.ones(shape, dtype=np.float64)
    for axis, n in ((0, ny), (1, nx)):
        m = max(1, int(round(fraction * n)))
        ramp = np.ones(n)
        r = 0.5 - 0.5 * np.cos(np.pi * (np.arange(m) + 0.5) / m)
        ramp[:m] = r
        ramp[n - m:] = np.minimum(ramp[n - m:], r[::-1])
        w *= ramp[:, None] if axis == 0 else ramp[None, :]
    if mask is not None:
        width = max(1.0, fraction * min(shape))
        dist = ndimage.distance_transform_edt(np.asarray(mask) > 0.5)
        w *= 0.5 - 0.5 * np.cos(np.pi * np.clip(dist / width, 0.0, 1.0))
    return w


def _frequency_radius(shape: tuple[int, int]) -> np.ndarray:
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    return np.sqrt(fy**2 + fx**2)


def _bandpass_response(shape: tuple[int, int], sigma1: float, radius2: float,
                       sigma2: float) -> np.ndarray:
    k = _frequency_radius(shape)
    h = np.ones_like(k)
    if sigma1 > 0:
        h *= 1.0 - np.exp(-(k**2) / (2 * sigma1**2))
    if radius2 > 0:
        above = k > radius2
        h[above] *= np.exp(-((k[above] - radius2) ** 2) / (2 * max(sigma2, 1e-6) ** 2))
    return h


def bandpass_filter(image: np.ndarray, *, sigma1: float = 0.03, radius2: float = 0.25,
                    sigma2: float = 0.05) -> np.ndarray:
    """Band-pass filter an image in Fourier space (IMOD ``tiltxcorr`` filter parameters).

    Parameters
    ----------
    image : (y, x) ndarray
    sigma1 : float
        Gaussian high-pass: frequencies below about ``sigma1`` cycles/pixel are damped
        (removes slow intensity gradients). 0 turns it off.
    radius2, sigma2 : float
        Low-pass: frequencies above ``radius2`` cycles/pixel fall off as a Gaussian of width
        ``sigma2`` (removes noise). ``radius2 = 0`` turns it off.
    """
    img = np.asarray(image, dtype=np.float64)
    f = np.fft.rfft2(img)
    f *= _bandpass_response(img.shape, sigma1, radius2, sigma2)
    return np.fft.irfft2(f, s=img.shape)


@dataclass(frozen=True)
class Registration:
    """Result of :func:`register_translation`.

    Attributes
    ----------
    shift_dydx : (2,) ndarray
        Shift to apply to the moving image to match the reference, pixels.
    peak : float
        Normalised correlation at the peak (about 1 for identical images, ~0 for unrelated ones).
    at_limit : bool
        The peak lies on the edge of the search window: the true shift may be larger.
    """

    shift_dydx: np.ndarray
    peak: float
    at_limit: bool


def _subpixel_offset(c_m: float, c_0: float, c_p: float) -> float:
    """Vertex of the parabola through three samples at -1, 0, +1."""
    denom = c_m - 2 * c_0 + c_p
    if denom >= 0 or not np.isfinite(denom):
        return 0.0
    return float(np.clip(0.5 * (c_m - c_p) / denom, -0.5, 0.5))


def register_translation(reference: np.ndarray, moving: np.ndarray, *,
                         max_shift: float | tuple[float, float] | None = None,
                         filtered: bool = False, taper: np.ndarray | None = None,
                         sigma1: float = 0.03, radius2: float = 0.25,
                         sigma2: float = 0.05) -> Registration:
    """Sub-pixel translation that maps ``moving`` onto ``reference`` by cross-correlation.

    Both images are normalised, tapered at the edges, band-pass filtered and zero-padded, so
    the correlation is not circular. The peak is searched within ``max_shift`` and located to
    sub-pixel precision by a parabolic fit in y and x.

    Written here rather than using ``skimage.registration.phase_cross_correlation`` because
    alignment needs a bounded search window (neighbouring tilts share most structure at many
    shifts) and a report of peaks on its edge; phase correlation also whitens the spectrum,
    which amplifies the noise of low-dose tilts.

    Parameters
    ----------
    reference, moving : (y, x) ndarray
    max_shift : float or (float, float), optional
        Largest shift searched, pixels (per axis if a pair). Default: a quarter of each size.
    filtered : bool
        The images are already normalised, tapered and filtered.
    taper : (y, x) ndarray, optional
        Window to apply (default :func:`edge_taper`).

    Returns
    -------
    Registration
    """
    ref = np.asarray(reference, dtype=np.float64)
    mov = np.asarray(moving, dtype=np.float64)
    if ref.shape != mov.shape or ref.ndim != 2:
        raise InputError(f"registration needs two images of one 2D shape, got {ref.shape} "
                         f"and {mov.shape}")
    ny, nx = ref.shape
    if max_shift is None:
        lim = (ny / 4.0, nx / 4.0)
    elif np.ndim(max_shift) == 0:
        lim = (float(max_shift), float(max_shift))
    else:
        lim = (float(max_shift[0]), float(max_shift[1]))
    lim = (min(lim[0], ny / 2.0 - 1), min(lim[1], nx / 2.0 - 1))
    if not filtered:
        w = edge_taper(ref.shape) if taper is None else taper
        ref = bandpass_filter(normalize_image(ref) * w, sigma1=sigma1, radius2=radius2,
                              sigma2=sigma2)
        mov = bandpass_filter(normalize_image(mov) * w, sigma1=sigma1, radius2=radius2,
                              sigma2=sigma2)
    py, px = 2 * ny, 2 * nx
    fr = np.fft.rfft2(ref, s=(py, px))
    fm = np.fft.rfft2(mov, s=(py, px))
    cc = np.fft.irfft2(fr * np.conj(fm), s=(py, px))
    norm = np.sqrt(float((ref**2).sum()) * float((mov**2).sum()))
    if norm <= 0:
        return Registration(np.zeros(2), 0.0, False)
    cc /= norm
    # cc[k] = sum ref(x) mov(x - k): shifting `moving` by +k matches `reference`.
    iy = np.arange(-int(np.floor(lim[0])), int(np.floor(lim[0])) + 1)
    ix = np.arange(-int(np.floor(lim[1])), int(np.floor(lim[1])) + 1)
    win = cc[np.ix_(iy % py, ix % px)]
    ky, kx = np.unravel_index(int(np.argmax(win)), win.shape)
    peak = float(win[ky, kx])
    at_limit = ky in (0, win.shape[0] - 1) or kx in (0, win.shape[1] - 1)
    sy, sx = int(iy[ky]), int(ix[kx])

    def val(dy: int, dx: int) -> float:
        return float(cc[(sy + dy) % py, (sx + dx) % px])

    oy = _subpixel_offset(val(-1, 0), peak, val(1, 0))
    ox = _subpixel_offset(val(0, -1), peak, val(0, 1))
    return Registration(np.array([sy + oy, sx + ox]), peak, bool(at_limit))


def rotate_images(images: np.ndarray, tilt_axis_deg: float, shifts_dydx: np.ndarray | None = None,
                  *, order: int = 1) -> np.ndarray:
    """Rotate raw images by ``-tilt_axis_deg`` and shift them: the aligned stack (IMOD .xf)."""
    from tomoml.io.imod import XfTransforms

    n = images.shape[0]
    shifts = np.zeros((n, 2)) if shifts_dydx is None else np.asarray(shifts_dydx, float)
    return XfTransforms.from_alignment(shifts, tilt_axis_deg).apply(images, order=order)


def valid_mask(shape: tuple[int, int], tilt_axis_deg: float) -> np.ndarray:
    """Where an image rotated by ``-tilt_axis_deg`` holds data (1) rather than edge fill (0)."""
    from tomoml.io.imod import XfTransforms

    ones = np.ones((1, *shape), dtype=np.float32)
    xf = XfTransforms.from_alignment(np.zeros((1, 2)), tilt_axis_deg)
    return xf.apply(ones, order=0, mode="constant")[0] > 0.5


def _warp(image: np.ndarray, shift_dydx: np.ndarray, stretch_x: float) -> np.ndarray:
    """Shift an image by ``(dy, dx)``, then stretch it along x about the centre by ``stretch_x``."""
    ny, nx = image.shape
    c = np.array([(ny - 1) / 2, (nx - 1) / 2])
    # out(p) = in(c + S^-1 (p - c) - d) with S = diag(1, stretch)
    m = np.array([1.0, 1.0 / stretch_x])
    offset = c - m * c - np.asarray(shift_dydx, float)
    return ndimage.affine_transform(image, m, offset=offset, order=1, mode="constant", cval=0.0)


def coarse_align(images: np.ndarray, angles_deg: np.ndarray, *, tilt_axis_deg: float = 0.0,
                 max_shift: float | None = None, stretch: bool = True, passes: int = 2,
                 sigma1: float = 0.03, radius2: float = 0.25, sigma2: float = 0.05,
                 taper_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Shifts from correlating each tilt with its neighbour towards zero tilt, chained.

    Parameters
    ----------
    images : (n, y, x) ndarray
        Raw tilt series.
    angles_deg : (n,) ndarray
        Tilt angles; the images need not be sorted.
    tilt_axis_deg : float
        Tilt-axis angle; the images are rotated by ``-tilt_axis_deg`` first.
    max_shift : float, optional
        Largest shift between neighbours, pixels (default 35% of the image size).
    stretch : bool
        Stretch the higher tilt by ``cos(t_lower)/cos(t_higher)`` across the axis.
    passes : int
        The second pass repeats each correlation with the image pre-shifted by the first
        estimate, which removes the bias of stretching about an off-centre point.

    Returns
    -------
    shifts_dydx : (n, 2) ndarray
        Per-tilt shifts in the rotated frame; the tilt nearest 0° has ``(0, 0)``.
    peaks : (n,) ndarray
        Correlation peak of each image with its neighbour (1.0 for the reference).
    """
    images = np.asarray(images)
    angles = np.asarray(angles_deg, dtype=np.float64)
    n, ny, nx = images.shape
    if abs(tilt_axis_deg) > 1e-9:
        rot = rotate_images(images, tilt_axis_deg)
        mask = valid_mask((ny, nx), tilt_axis_deg)
    else:
        rot = images.astype(np.float32, copy=False)
        mask = None
    window = edge_taper((ny, nx), taper_fraction, mask)
    bp = {"sigma1": sigma1, "radius2": radius2, "sigma2": sigma2}

    def prep(img: np.ndarray) -> np.ndarray:
        return bandpass_filter(normalize_image(img, window > 0.5) * window, **bp)

    ref = int(np.argmin(np.abs(angles)))
    order = np.argsort(angles, kind="stable")
    pos = int(np.nonzero(order == ref)[0][0])
    # Chains outward from the reference: (neighbour towards 0, image).
    pairs = [(order[k + 1], order[k]) for k in range(pos - 1, -1, -1)]
    pairs += [(order[k - 1], order[k]) for k in range(pos + 1, n)]
    shifts = np.zeros((n, 2))
    peaks = np.ones(n)
    prepared_low: dict[int, np.ndarray] = {}
    lim = 0.35 * min(ny, nx) if max_shift is None else float(max_shift)
    first_at_limit = np.zeros(n, dtype=bool)
    for p in range(max(1, passes)):
        prepared_low.clear()
        for low, high in pairs:
            f = 1.0
            if stretch:
                c_lo, c_hi = np.cos(np.deg2rad(angles[low])), np.cos(np.deg2rad(angles[high]))
                f = float(np.clip(c_lo / max(c_hi, 1e-3), 0.5, 2.0))
            if low not in prepared_low:
                prepared_low[low] = prep(_warp(rot[low], shifts[low], 1.0))
            guess = shifts[high] if p > 0 else shifts[low]
            mov = prep(_warp(rot[high], guess, f))
            plim = lim if p == 0 else max(3.0, 0.25 * lim)
            reg = register_translation(prepared_low[low], mov, max_shift=plim, filtered=True)
            d = reg.shift_dydx
            shifts[high] = guess + np.array([d[0], d[1] / f])
            peaks[high] = reg.peak
            if p == 0:
                first_at_limit[high] = reg.at_limit
            elif first_at_limit[high] and reg.at_limit:
                first_at_limit[high] = True
            else:
                first_at_limit[high] = False
    for i in np.nonzero(first_at_limit)[0]:
        log.warning("tilt %d (%.1f deg): the shift to its neighbour lies beyond the search range "
                    "(%.0f px); its alignment is unreliable: raise max_shift", i, angles[i], lim)
    return shifts, peaks
