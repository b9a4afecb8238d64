"""Filtered (weighted) back-projection: a 1D filter along the detector, then ``A.T``.

Definitions
-----------
The ramp filter is the band-limited Ram-Lak filter built in real space (Kak & Slaney, eq. 61:
``h[0] = 1/4``, ``h[k] = -1/(pi k)^2`` for odd ``k``, 0 for even ``k``) and transformed, with the
detector zero-padded to the next power of two >= ``2 n_det`` so the circular convolution does not
wrap. This is ASTRA's ramp, so the CPU engine matches ASTRA's FBP to float precision. The other
filters multiply the ramp by a window of ``w = f / f_Nyquist`` in ``[0, 1]``:
``shepp-logan`` sinc ``sin(pi w/2) / (pi w/2)``, ``cosine`` ``cos(pi w / 2)``, ``hann``
``(1 + cos(pi w)) / 2``.

Each tilt is weighted by the angle it stands for (midpoint rule on the sorted angles, radians):
``(t[i+1] - t[i-1]) / 2``, with the end tilts standing for one step. With uniform steps over
180° this is ASTRA's ``pi / n``; with non-uniform steps (dose-symmetric or Saxton schemes) it
keeps densely sampled tilts from dominating. The result is in the units of the data per voxel:
a uniform object of density 1 reconstructs to 1 from full-range data (less the missing wedge's
share from limited tilt ranges).

References
----------
A. C. Kak and M. Slaney, *Principles of Computerized Tomographic Imaging*, IEEE Press 1988, ch. 3.
"""

from __future__ import annotations

import functools

import numpy as np

from tomoml.errors import ConfigError

__all__ = ["FILTERS", "filter_response", "tilt_weights", "filter_projections", "fbp"]

FILTERS = ("ramp", "shepp-logan", "cosine", "hann")


def _check_filter(name: str) -> str:
    key = str(name).lower().replace("_", "-")
    key = {"ram-lak": "ramp", "ramlak": "ramp", "shepplogan": "shepp-logan", "hanning": "hann"}.get(
        key, key)
    if key not in FILTERS:
        raise ConfigError(f"filter must be one of {', '.join(FILTERS)}, got {name!r}")
    return key


@functools.lru_cache(maxsize=16)
def filter_response(n_det: int, filter: str = "ramp") -> tuple[int, np.ndarray]:
    """The filter's frequency response on the padded detector.

    Returns
    -------
    n_fft : int
        Padded detector length (next power of two >= ``2 n_det``).
    response : (n_fft // 2 + 1,) ndarray of float32
        Multiplier for ``numpy.fft.rfft`` of a padded detector row.
    """
    key = _check_filter(filter)
    n_fft = int(2 ** np.ceil(np.log2(max(2 * int(n_det), 2))))
    k = np.arange(n_fft)
    dist = np.minimum(k, n_fft - k)  # circular distance from 0
    h = np.zeros(n_fft)
    h[0] = 0.25
    odd = dist % 2 == 1
    h[odd] = -1.0 / (np.pi * dist[odd]) ** 2
    response = np.real(np.fft.rfft(h))
    w = np.fft.rfftfreq(n_fft) / 0.5
    if key == "shepp-logan":
        response = response * np.sinc(w / 2)
    elif key == "cosine":
        response = response * np.cos(np.pi * w / 2)
    elif key == "hann":
        response = response * (1 + np.cos(np.pi * w)) / 2
    response = response.astype(np.float32)
    response.setflags(write=False)
    return n_fft, response


def tilt_weights(angles_deg) -> np.ndarray:
    """Angle (radians) each tilt stands for: midpoint rule on the sorted angles."""
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64).reshape(-1))
    if a.size == 1:
        return np.array([np.pi])
    order = np.argsort(a, kind="stable")
    s = a[order]
    w_sorted = np.empty_like(s)
    w_sorted[1:-1] = (s[2:] - s[:-2]) / 2
    w_sorted[0] = s[1] - s[0]
    w_sorted[-1] = s[-1] - s[-2]
    w = np.empty_like(w_sorted)
    w[order] = w_sorted
    return w


def filter_projections(projections: np.ndarray, angles_deg, *, filter: str = "ramp",
                       padding: str = "edge", workers: int = -1) -> np.ndarray:
    """Filter ``(n, y, n_det)`` projections along the detector and weight each tilt.

    Parameters
    ----------
    projections : (n, y, n_det) ndarray
        Tilt images (a slab of rows is fine).
    angles_deg : (n,) array_like
        Tilt angles in degrees (for the tilt weights).
    filter : {"ramp", "shepp-logan", "cosine", "hann"}
        Ramp filter and its apodisation window.
    padding : {"edge", "zero"}
        How the detector is extended before filtering. ``"edge"`` repeats the border pixels,
        which suppresses the bright rim that truncated specimens (the usual case in ET) give
        with ``"zero"`` (ASTRA's choice).
    workers : int
        Threads for scipy.fft (-1: all cores).
    """
    import scipy.fft

    p = np.asarray(projections, dtype=np.float32)
    n, _, n_det = p.shape
    n_fft, response = filter_response(n_det, filter)
    if padding == "zero":
        padded = p
    elif padding == "edge":
        left = (n_fft - n_det) // 2
        padded = np.pad(p, ((0, 0), (0, 0), (left, n_fft - n_det - left)), mode="edge")
        # roll so the data start at 0 and the padding wraps around both sides
        padded = np.roll(padded, -left, axis=-1)
    else:
        raise ConfigError(f"padding must be 'edge' or 'zero', got {padding!r}")
    spec = scipy.fft.rfft(padded, n=n_fft, axis=-1, workers=workers)
    spec *= response
    out = scipy.fft.irfft(spec, n=n_fft, axis=-1, workers=workers)[..., :n_det]
    out *= tilt_weights(angles_deg).astype(np.float32)[:, None, None]
    return out.astype(np.float32, copy=False)


def fbp(op, projections: np.ndarray, angles_deg, *, filter: str = "ramp",
        padding: str = "edge") -> np.ndarray:
    """Filtered back-projection of ``(n, y, n_det)`` projections with the operator ``op``.

    Returns the volume ``(nz, y, nx)`` in tomoml's layout.
    """
    q = filter_projections(projections, angles_deg, filter=filter, padding=padding)
    return op.domain_to_volume(op.T(op.projections_to_range(q)))
