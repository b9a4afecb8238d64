"""Simulated tilt series with known misalignment and dose-limited noise.

The pipeline, per tilt ``t`` (CONVENTIONS.md geometry, parallel beam, tilt axis along ``y``):

1. ``ideal = forward_project(volume, t)``: line integrals of the density, in density × pixel.
2. ``raw = true_xf.inverse().apply(ideal)``: the specimen drifts by random ``(dy, dx)`` and the
   tilt axis lies at ``tilt_axis_deg`` from the image ``y`` axis, so that
   ``true_xf.apply(raw)`` (what IMOD's ``newstack -xform`` does) gives the ideal images back.
3. ``raw = gaussian_filter(raw, blur_sigma)``: detector / optics blur.
4. Dose-limited noise: each half series (even, odd frames) counts
   ``N ~ Poisson(dose / 2 * exp(-mu * raw))`` electrons per pixel; the full series counts
   ``N_even + N_odd``. Each image is converted back with ``-log(N / N0) / mu`` (``N0`` the
   dose of that series), so all three are in the units of ``ideal`` (higher = more mass) and
   the noiseless limit is ``ideal`` itself.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tomoml.data import TiltSeries, Volume
from tomoml.errors import ConfigError, InputError
from tomoml.io.imod import XfTransforms

__all__ = ["SIMULATION_FILES", "SimulatedSeries", "save_simulation", "simulate_tilt_series",
           "tilt_angles"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SimulatedSeries:
    """A simulated tilt series with its ground truth.

    Attributes
    ----------
    tilts : TiltSeries
        The full-dose series as a microscope would record it: misaligned, noisy.
        ``tilt_axis_deg`` is 0 (unknown to a user); the truth is ``true_tilt_axis_deg``.
    even, odd : TiltSeries
        Half-dose series from the even and odd frames (for Noise2Noise); ``tilts`` is their
        sum in counts. Without noise (``dose=None``) both are ``tilts``.
    true_shifts_dydx : (n_tilts, 2) ndarray
        Shifts ``(dy, dx)`` in pixels that align each raw image after rotating it by
        ``-true_tilt_axis_deg`` (zero mean).
    true_xf : XfTransforms
        The aligning transforms, IMOD ``.xf`` semantics: ``true_xf.apply(tilts.data)`` is close
        to ``ideal`` (up to noise, blur and interpolation).
    true_tilt_axis_deg : float
        Tilt-axis angle of the raw images, from the image ``y`` axis, counter-clockwise.
    volume : (z, y, x) ndarray of float32
        The projected density volume.
    ideal : (n_tilts, y, x) ndarray of float32
        The aligned, noiseless, unblurred projections.
    contrast : float
        ``mu``: attenuation per unit density per pixel used for the noise.
    dose : float or None
        Electrons per pixel per image of the full series (None = noiseless).
    params : dict
        The arguments used (JSON-friendly).
    """

    tilts: TiltSeries
    even: TiltSeries
    odd: TiltSeries
    true_shifts_dydx: np.ndarray
    true_xf: XfTransforms
    true_tilt_axis_deg: float
    volume: np.ndarray
    ideal: np.ndarray
    contrast: float
    dose: float | None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def angles_deg(self) -> np.ndarray:
        return self.tilts.angles_deg

    def __repr__(self) -> str:
        return (f"SimulatedSeries({self.tilts!r}, dose={self.dose}, "
                f"true_tilt_axis_deg={self.true_tilt_axis_deg:g}, "
                f"shift rms={float(np.sqrt((self.true_shifts_dydx ** 2).mean())):.3g} px)")


def tilt_angles(tilt_range=(-60.0, 60.0, 2.0)) -> np.ndarray:
    """Tilt angles in degrees from ``(min, max, step)``, both ends included when on the grid.

    >>> tilt_angles((-60, 60, 2)).size
    61
    """
    try:
        lo, hi, step = (float(v) for v in tilt_range)
    except (TypeError, ValueError):
        raise ConfigError(f"tilt_range must be (min, max, step) in degrees, got {tilt_range!r}") \
            from None
    if not all(math.isfinite(v) for v in (lo, hi, step)) or step <= 0 or hi < lo:
        raise ConfigError(f"tilt_range must have min <= max and step > 0, got {tilt_range!r}")
    if lo < -90 or hi > 90:
        raise ConfigError(f"tilt_range must lie within -90..90 degrees, got {lo:g}..{hi:g}")
    n = int(math.floor((hi - lo) / step + 1e-9)) + 1
    return lo + step * np.arange(n, dtype=np.float64)


def _as_volume(volume) -> tuple[np.ndarray, float | None]:
    if isinstance(volume, Volume):
        if volume.is_labels:
            raise InputError("volume: labels given where densities are needed (use Phantom.volume)")
        return volume.data, volume.voxel_size_A
    data = getattr(volume, "volume", volume)  # a Phantom
    data = np.asarray(data)
    if data.ndim != 3:
        raise InputError(f"volume must be 3D (z, y, x), got shape {data.shape}")
    data = data.astype(np.float32, copy=False)
    if not np.isfinite(data).all():
        raise InputError("volume contains NaN or Inf values")
    return data, None


def simulate_tilt_series(
    volume,
    *,
    tilt_range=(-60.0, 60.0, 2.0),
    angles_deg=None,
    dose: float | None = None,
    shift_sigma: float = 0.0,
    shifts_dydx=None,
    tilt_axis_deg: float = 0.0,
    blur_sigma: float = 0.0,
    contrast: float | None = None,
    seed: int = 0,
    pixel_size_A: float | None = None,
) -> SimulatedSeries:
    """Simulate a single-axis tilt series of a density volume.

    Parameters
    ----------
    volume : (z, y, x) ndarray, Volume or Phantom
        Densities (0 = vacuum). Should fit in the cylinder inscribed in the ``(z, x)`` plane
        for the projections to stay on the detector (as wide as ``x``) at every tilt.
    tilt_range : (min, max, step) tuple of float
        Tilt angles in degrees; a range short of ±90° leaves a missing wedge.
    angles_deg : sequence of float, optional
        Explicit tilt angles (degrees); overrides ``tilt_range``.
    dose : float, optional
        Electrons per pixel per image of the full series in vacuum. ``None`` = noiseless.
        The relative noise of a projection value ``p`` is about
        ``1 / (mu * p * sqrt(dose * exp(-mu * p)))``.
    shift_sigma : float
        Standard deviation (pixels) of the random per-tilt drift, each of ``dy`` and ``dx``;
        the shifts are made zero-mean.
    shifts_dydx : (n_tilts, 2) array_like, optional
        Explicit aligning shifts ``(dy, dx)`` in pixels; overrides ``shift_sigma``.
    tilt_axis_deg : float
        Angle of the tilt axis in the raw images, from the image ``y`` axis, counter-clockwise.
    blur_sigma : float
        Gaussian blur of the raw images (pixels).
    contrast : float, optional
        ``mu``, attenuation per unit density per pixel length. Default: the thickest ray of the
        ideal series transmits ``exp(-1)`` (37 %) of the beam. Only the noise depends on it.
    seed : int
        Seed of the random generator (shifts, then even counts, then odd counts).
    pixel_size_A : float, optional
        Pixel size in ångström; default the volume's voxel size, else 1.

    Returns
    -------
    SimulatedSeries

    Examples
    --------
    >>> from tomoml.synthetic import porous_particle, simulate_tilt_series
    >>> sim = simulate_tilt_series(porous_particle((32, 32, 32)), dose=500, shift_sigma=1)
    >>> sim.tilts.shape, sim.even.shape
    ((61, 32, 32), (61, 32, 32))
    """
    from tomoml.reconstruct import forward_project

    data, vox = _as_volume(volume)
    if angles_deg is None:
        angles = tilt_angles(tilt_range)
    else:
        angles = np.asarray(angles_deg, dtype=np.float64).reshape(-1)
        if angles.size == 0 or not np.isfinite(angles).all() or np.abs(angles).max() > 90:
            raise ConfigError("angles_deg must be finite angles within ±90 degrees")
    if dose is not None and not (math.isfinite(dose) and dose > 0):
        raise ConfigError(f"dose must be > 0 electrons per pixel (or None), got {dose}")
    for name, v in (("shift_sigma", shift_sigma), ("blur_sigma", blur_sigma)):
        if not (math.isfinite(v) and v >= 0):
            raise ConfigError(f"{name} must be >= 0 pixels, got {v}")
    if not math.isfinite(tilt_axis_deg):
        raise ConfigError(f"tilt_axis_deg must be finite, got {tilt_axis_deg}")
    if contrast is not None and not (math.isfinite(contrast) and contrast > 0):
        raise ConfigError(f"contrast must be > 0, got {contrast}")
    pixel = float(pixel_size_A if pixel_size_A is not None else (vox or 1.0))
    rng = np.random.default_rng(seed)

    ideal = forward_project(data, angles)
    n = angles.size

    shifts = np.zeros((n, 2))
    if shift_sigma > 0:
        shifts = rng.normal(0.0, shift_sigma, (n, 2))
        shifts -= shifts.mean(axis=0)
    if shifts_dydx is not None:
        shifts = np.array(shifts_dydx, dtype=np.float64)
        if shifts.shape != (n, 2) or not np.isfinite(shifts).all():
            raise ConfigError(f"shifts_dydx must be finite with shape ({n}, 2), got {shifts.shape}")
    true_xf = XfTransforms.from_alignment(shifts, tilt_axis_deg)

    raw = ideal
    if np.any(shifts != 0) or tilt_axis_deg % 360 != 0:
        # Cubic interpolation here, so the raw images lose little detail before a user's
        # (usually linear) alignment resamples them once more.
        raw = true_xf.inverse().apply(ideal, order=3, mode="nearest")
    if blur_sigma > 0:
        from scipy import ndimage

        raw = ndimage.gaussian_filter(raw, (0, blur_sigma, blur_sigma), mode="nearest")
    raw = np.asarray(raw, dtype=np.float32)

    p_max = float(ideal.max())
    mu = float(contrast) if contrast is not None else (1.0 / p_max if p_max > 0 else 1.0)

    if dose is None:
        full = even = odd = raw
    else:
        half = dose / 2.0
        lam = half * np.exp(-mu * raw.astype(np.float64))
        n_even = rng.poisson(lam)
        n_odd = rng.poisson(lam)

        def _to_projection(counts: np.ndarray, n0: float) -> np.ndarray:
            # No count at all would be -log(0): take 1 electron (0.5 would bias more at low dose).
            return (-np.log(np.maximum(counts, 1) / n0) / mu).astype(np.float32)

        even = _to_projection(n_even, half)
        odd = _to_projection(n_odd, half)
        full = _to_projection(n_even + n_odd, float(dose))
        n_zero = int(np.count_nonzero(n_even == 0) + np.count_nonzero(n_odd == 0))
        if n_zero:
            log.warning("simulate: %d half-dose pixels counted no electron (dose %g too low "
                        "for contrast %g); set to 1 count", n_zero, dose, mu)

    def _ts(arr: np.ndarray) -> TiltSeries:
        return TiltSeries(arr, angles, pixel_size_A=pixel, tilt_axis_deg=0.0)

    ts_full = _ts(full)
    ts_even, ts_odd = (ts_full, ts_full) if dose is None else (_ts(even), _ts(odd))
    params = {
        "tilt_range": [float(v) for v in tilt_range] if angles_deg is None else None,
        "n_tilts": int(n),
        "dose": None if dose is None else float(dose),
        "shift_sigma": float(shift_sigma),
        "shifts_given": shifts_dydx is not None,
        "tilt_axis_deg": float(tilt_axis_deg),
        "blur_sigma": float(blur_sigma),
        "contrast": mu,
        "seed": int(seed),
        "pixel_size_A": pixel,
    }
    return SimulatedSeries(ts_full, ts_even, ts_odd, shifts, true_xf, float(tilt_axis_deg),
                           data, ideal, mu, None if dose is None else float(dose), params)


#: Files :func:`save_simulation` writes (and ``tomoml simulate`` with it).
SIMULATION_FILES = (
    "tilts.mrc", "tilts.tlt", "tilts_even.mrc", "tilts_odd.mrc", "truth_volume.mrc",
    "truth_labels.mrc", "true_shifts.csv", "true.xf", "simulate.json",
)


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def save_simulation(out_dir, sim: SimulatedSeries, phantom=None, *, force: bool = False,
                    extra: dict | None = None, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Write a simulated series and its truth into a folder.

    Files (see :data:`SIMULATION_FILES`): ``tilts.mrc``, ``tilts.tlt``, ``tilts_even.mrc``,
    ``tilts_odd.mrc``, ``truth_volume.mrc`` (float32 densities), ``truth_labels.mrc`` (labels of
    ``phantom``, if given), ``true_shifts.csv`` (``tilt_index, angle_deg, dy_px, dx_px``),
    ``true.xf`` (IMOD transforms that align the raw images) and ``simulate.json`` (parameters,
    the phantom's truth, the file list). Every file is checked before any is written, and
    written atomically.

    Parameters
    ----------
    out_dir : path-like
        Output folder, created if missing.
    sim : SimulatedSeries
        From :func:`simulate_tilt_series`.
    phantom : Phantom, optional
        The phantom that was projected: its labels and truth are saved too.
    force : bool
        Replace existing files.
    extra : dict, optional
        More entries for ``simulate.json`` (e.g. the phantom name and shape).
    skip : tuple of str
        File names not to write (e.g. ``("truth_volume.mrc",)`` to save space).

    Returns
    -------
    dict
        The content written to ``simulate.json``.
    """
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    from tomoml.io import (
        atomic_path,
        check_output_path,
        write_angles,
        write_tilt_series,
        write_volume,
        write_xf,
    )

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    names = [n for n in SIMULATION_FILES if n not in skip
             and not (n == "truth_labels.mrc" and phantom is None)]
    for name in names:  # refuse before writing anything
        check_output_path(out / name, force=force)
    out.mkdir(parents=True, exist_ok=True)

    px = sim.tilts.pixel_size_A
    written = {
        "tilts.mrc": lambda p: write_tilt_series(sim.tilts, p, force=force),
        "tilts_even.mrc": lambda p: write_tilt_series(sim.even, p, force=force),
        "tilts_odd.mrc": lambda p: write_tilt_series(sim.odd, p, force=force),
        "tilts.tlt": lambda p: write_angles(sim.angles_deg, p, force=force),
        "true.xf": lambda p: write_xf(sim.true_xf, p, force=force),
        "truth_volume.mrc": lambda p: write_volume(Volume(sim.volume, px), p, force=force),
    }
    if phantom is not None:
        written["truth_labels.mrc"] = lambda p: write_volume(Volume(phantom.labels, px), p,
                                                             force=force)
    for name in names:
        if name in written:
            written[name](out / name)

    if "true_shifts.csv" in names:
        rows = ["tilt_index,angle_deg,dy_px,dx_px\n"]
        for i, (a, (dy, dx)) in enumerate(zip(sim.angles_deg, sim.true_shifts_dydx,
                                              strict=True)):
            rows.append(f"{i},{a:.4f},{dy:.4f},{dx:.4f}\n")
        with atomic_path(out / "true_shifts.csv", force=force) as tmp:
            tmp.write_text("".join(rows))

    try:
        tomoml_version = version("tomoml")
    except PackageNotFoundError:  # running from a source tree that is not installed
        tomoml_version = "unknown"
    record: dict[str, Any] = {
        "tomoml_version": tomoml_version,
        **(extra or {}),
        "simulation": sim.params,
        "true_tilt_axis_deg": sim.true_tilt_axis_deg,
        "shape_zyx": list(sim.volume.shape),
        "units": {"shifts": "px", "angles": "deg", "pixel_size": "A",
                  "projections": "density x px (line integral; -log(N/N0)/contrast)"},
    }
    if phantom is not None:
        record["phantom"] = phantom.name
        record["phases"] = phantom.phases
        record["truth"] = phantom.truth
    record["files"] = names
    if "simulate.json" in names:
        import json

        with atomic_path(out / "simulate.json", force=force) as tmp:
            tmp.write_text(json.dumps(_json_safe(record), indent=1) + "\n")
    return _json_safe(record)
