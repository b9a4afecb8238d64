"""Phantoms with ground-truth labels: test objects whose answers are known.

Every generator has the signature ``generator(shape=(z, y, x), *, seed=0, **params) -> Phantom``,
is vectorised numpy, and is deterministic for a given ``seed`` (a local
:func:`numpy.random.default_rng`; nothing is seeded globally).

Coordinates are voxel indices; the array centre is ``(n - 1) / 2`` along each axis. By default
every object lies inside the cylinder inscribed in the ``(z, x)`` plane (its axis along ``y``,
the tilt axis), so projections at any tilt stay on a detector as wide as ``x``.

Labels follow CONVENTIONS.md: ``0`` = vacuum / pore, ``1..N`` = solid phases.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tomoml.errors import ConfigError

__all__ = [
    "Phantom", "PHANTOMS", "porous_particle", "sponge", "gyroid", "spinodal", "sphere_pack",
    "make_phantom",
]


@dataclass(frozen=True, eq=False)
class Phantom:
    """A test volume with its ground truth.

    Attributes
    ----------
    volume : (z, y, x) ndarray of float32
        Densities (0 = vacuum; denser phases have larger values). Input to
        :func:`tomoml.synthetic.simulate_tilt_series`.
    labels : (z, y, x) ndarray of uint8
        Phase of each voxel: 0 = vacuum / pore, 1..N = phases (see ``phases``).
    name : str
        Generator name (a key of :data:`PHANTOMS`).
    truth : dict
        Known quantities (porosity, object counts, Euler number, the parameters used...).
        Plain Python numbers and lists, so it can be written as JSON.
    phases : dict of int to str
        What each label value means.
    pore_mask : (z, y, x) ndarray of bool, optional
        Enclosed pores (``porous_particle``): void voxels inside the particle.
    instances : (z, y, x) ndarray of uint16, optional
        Countable objects numbered 1..n, 0 elsewhere; ``truth["instances_of"]`` says which
        (the pores of ``porous_particle``, the spheres of ``sphere_pack``).
    """

    volume: np.ndarray
    labels: np.ndarray
    name: str
    truth: dict[str, Any] = field(default_factory=dict)
    phases: dict[int, str] = field(default_factory=dict)
    pore_mask: np.ndarray | None = None
    instances: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.labels.shape)  # type: ignore[return-value]

    def __repr__(self) -> str:
        keys = ", ".join(k for k in self.truth if not isinstance(self.truth[k], list))
        return f"Phantom({self.name!r}, shape={self.shape}, phases={self.phases}, truth: {keys})"


# ----------------------------------------------------------------------------- helpers


def _check_shape(shape) -> tuple[int, int, int]:
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"shape must be three integers (z, y, x), got {shape!r}") from None
    if len(out) != 3 or min(out) < 8:
        raise ConfigError(f"shape must be three integers (z, y, x) each >= 8, got {shape!r}")
    return out  # type: ignore[return-value]


def _check_range(name: str, value: float, lo: float, hi: float) -> float:
    value = float(value)
    if not (lo <= value <= hi) or not math.isfinite(value):
        raise ConfigError(f"{name} must lie in [{lo:g}, {hi:g}], got {value:g}")
    return value


def _centre(shape) -> np.ndarray:
    return (np.asarray(shape, dtype=np.float64) - 1.0) / 2.0


def _ball_box(shape, centre, radius):
    """Index slices of the bounding box of a ball, clipped to the array, and its local grid."""
    lo = np.maximum(np.floor(centre - radius).astype(int), 0)
    hi = np.minimum(np.ceil(centre + radius).astype(int) + 1, shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    grid = np.ogrid[sl]
    d2 = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True))
    return sl, d2 <= radius * radius


def _paint_ball(arr: np.ndarray, centre, radius: float, value) -> None:
    sl, inside = _ball_box(arr.shape, np.asarray(centre, float), float(radius))
    arr[sl][inside] = value


def _densities(labels: np.ndarray, densities: dict[int, float], edge_sigma: float) -> np.ndarray:
    lut = np.zeros(int(labels.max()) + 1 if labels.size else 1, dtype=np.float32)
    for k, d in densities.items():
        if k < lut.size:
            lut[k] = d
    vol = lut[labels]
    if edge_sigma > 0:
        from scipy import ndimage

        vol = ndimage.gaussian_filter(vol, edge_sigma, mode="constant").astype(np.float32)
    return vol


def _cylinder_mask(shape, radius: float) -> np.ndarray:
    """Cylinder along ``y`` through the centre of the ``(z, x)`` plane, as (z, 1, x) bool."""
    c = _centre(shape)
    z = np.arange(shape[0])[:, None, None] - c[0]
    x = np.arange(shape[2])[None, None, :] - c[2]
    return (z * z + x * x) <= radius * radius


def _envelope(shape, kind: str, radius_fraction: float) -> np.ndarray:
    """Sample envelope as a full-size bool array: 'cylinder' (along y), 'sphere' or 'none'."""
    nz, ny, nx = shape
    if kind == "none":
        return np.ones(shape, dtype=bool)
    if kind == "cylinder":
        r = radius_fraction * min(nz, nx)
        return np.broadcast_to(_cylinder_mask(shape, r), shape).copy()
    if kind == "sphere":
        r = radius_fraction * min(shape)
        c = _centre(shape)
        g = np.ogrid[: shape[0], : shape[1], : shape[2]]
        d2 = sum((gi - ci) ** 2 for gi, ci in zip(g, c, strict=True))
        return d2 <= r * r
    raise ConfigError(f"envelope must be 'cylinder', 'sphere' or 'none', got {kind!r}")


def _random_unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _random_in_ball(rng: np.random.Generator, n: int, radius: np.ndarray) -> np.ndarray:
    """``n`` points uniform in balls of the given radii (one radius per point), about 0."""
    u = rng.random(n) ** (1.0 / 3.0)
    return _random_unit_vectors(rng, n) * (u * radius)[:, None]


def _rsa(candidates: np.ndarray, radii: np.ndarray, gap: float, limit: int | None,
         batch: int = 256) -> np.ndarray:
    """Random sequential addition: keep each candidate ball that clears all kept ones by ``gap``.

    Candidates are tried in order (the result is that of the plain sequential loop); each batch
    is first screened against the balls kept before it in one vectorised step, and only its
    survivors are checked one by one. Stops after ``limit`` balls. Returns the kept indices.
    """
    candidates = np.asarray(candidates, dtype=np.float64).reshape(-1, 3)
    radii = np.asarray(radii, dtype=np.float64).reshape(-1)
    cen = np.empty((len(candidates), 3))
    rad = np.empty(len(candidates))
    kept: list[int] = []
    n = 0

    def clear(c, r, cs, rs) -> np.ndarray:
        d2 = ((cs[None, :, :] - c[:, None, :]) ** 2).sum(axis=-1)
        reach = rs[None, :] + (r[:, None] + gap)
        return ~np.any(d2 < reach * np.abs(reach), axis=1)

    for start in range(0, len(candidates), batch):
        if limit is not None and n >= limit:
            break
        idx = np.arange(start, min(start + batch, len(candidates)))
        if n:
            idx = idx[clear(candidates[idx], radii[idx], cen[:n], rad[:n])]
        n_before = n
        for i in idx:
            c, r = candidates[i : i + 1], radii[i : i + 1]
            if n > n_before and not clear(c, r, cen[n_before:n], rad[n_before:n])[0]:
                continue
            cen[n], rad[n] = c[0], r[0]
            n += 1
            kept.append(int(i))
            if limit is not None and n >= limit:
                break
    return np.asarray(kept, dtype=int)


def _euler_note() -> str:
    return "skimage.measure.euler_number(labels > 0, connectivity=3): 26-connected solid"


# ----------------------------------------------------------------------------- porous particle


def porous_particle(
    shape=(128, 128, 128),
    *,
    seed: int = 0,
    radius: float | None = None,
    n_pores: int = 40,
    pore_radius: tuple[float, float] = (0.06, 0.16),
    n_surface_particles: int = 16,
    surface_particle_radius: tuple[float, float] = (0.05, 0.09),
    matrix_density: float = 1.0,
    particle_density: float = 4.0,
    wall: float = 2.0,
    edge_sigma: float = 0.0,
) -> Phantom:
    """A dense spherical particle with enclosed spherical pores and small dense surface particles.

    The kind of object a catalysis tomogram shows: a porous support (label 1) holding a few
    dense metal particles on its surface (label 2, partly embedded), with closed pores inside
    (label 0, like the vacuum around it).

    Parameters
    ----------
    shape : (z, y, x) tuple of int
        Volume shape in voxels.
    seed : int
        Seed of the random generator (pore and particle positions and sizes).
    radius : float, optional
        Particle radius in voxels; default ``0.34 * min(shape)``.
    n_pores : int
        Pores to place; fewer are placed if they do not fit (``truth["n_pores"]`` is the count).
    pore_radius : (min, max) tuple of float
        Pore radii as fractions of ``radius`` (uniform); at least 1.5 voxels.
    n_surface_particles : int
        Dense particles to place on the surface (fewer if they do not fit).
    surface_particle_radius : (min, max) tuple of float
        Their radii as fractions of ``radius``; at least 1.5 voxels.
    matrix_density, particle_density : float
        Densities of phases 1 and 2 (vacuum and pores are 0).
    wall : float
        Least solid thickness, in voxels, between two pores and between a pore and the outside,
        so pores stay separate enclosed cavities after voxelisation.
    edge_sigma : float
        Gaussian blur (voxels) of the density volume for soft edges; labels stay sharp.

    Returns
    -------
    Phantom
        ``truth`` holds ``porosity`` (pore voxels / voxels of the particle's ball),
        ``porosity_analytic`` (from the pore radii), ``n_pores``, ``n_surface_particles``,
        ``euler_number`` of the solid (1 + n_pores: one body with n cavities),
        ``particle_radius``, ``pore_centres``/``pore_radii`` (voxels, ``(z, y, x)``),
        ``surface_particle_centres``/``_radii``, ``phase_fractions``. ``pore_mask`` marks the
        pores and ``instances`` numbers them 1..n.

    Examples
    --------
    >>> p = porous_particle((64, 64, 64), seed=1)
    >>> int(p.labels.max()), p.truth["euler_number"] == 1 + p.truth["n_pores"]
    (2, True)
    """
    shape = _check_shape(shape)
    rng = np.random.default_rng(seed)
    R = float(radius) if radius is not None else 0.34 * min(shape)
    _check_range("radius", R, 4.0, min(shape) / 2.0)
    if n_pores < 0 or n_surface_particles < 0:
        raise ConfigError("n_pores and n_surface_particles must be >= 0")
    c0 = _centre(shape)

    # Surface particles first: pores must stay clear of their embedded part.
    rs_lo, rs_hi = (max(1.5, f * R) for f in surface_particle_radius)
    n_try = max(20 * n_surface_particles, 1)
    rs = rng.uniform(rs_lo, rs_hi, n_try)
    embed = 0.35  # fraction of a particle's radius sunk below the surface: it sits on it, attached
    s_centres = c0 + _random_unit_vectors(rng, n_try) * (R + (1 - 2 * embed) * rs)[:, None]
    keep = _rsa(s_centres, rs, 2.0, n_surface_particles)
    s_centres, rs = s_centres[keep], rs[keep]

    # Pores: random sequential addition inside the particle, clear of surface and of each other.
    rp_lo, rp_hi = (max(1.5, f * R) for f in pore_radius)
    n_try = max(50 * n_pores, 1)
    rp = np.sort(rng.uniform(rp_lo, rp_hi, n_try))[::-1]  # large first: denser packing
    inner = R - wall - (rs_hi * 2 * embed if len(rs) else 0.0)
    room = inner - rp
    ok = room > 0
    rp = rp[ok]
    p_centres = c0 + _random_in_ball(rng, rp.size, room[ok])
    keep = _rsa(p_centres, rp, wall, n_pores)
    p_centres, rp = p_centres[keep], rp[keep]

    g = np.ogrid[: shape[0], : shape[1], : shape[2]]
    ball = sum((gi - ci) ** 2 for gi, ci in zip(g, c0, strict=True)) <= R * R
    labels = ball.astype(np.uint8)
    instances = np.zeros(shape, dtype=np.uint16)
    for i, (c, r) in enumerate(zip(p_centres, rp, strict=True), 1):
        _paint_ball(instances, c, r, i)
    pore_mask = instances > 0
    labels[pore_mask] = 0
    for c, r in zip(s_centres, rs, strict=True):
        _paint_ball(labels, c, r, 2)

    n_ball = int(ball.sum())
    counts = np.bincount(labels.ravel(), minlength=3)
    truth = {
        "porosity": float(pore_mask.sum() / n_ball),
        "porosity_analytic": float(np.sum(rp**3) / R**3),
        "n_pores": int(rp.size),
        "n_surface_particles": int(rs.size),
        "euler_number": 1 + int(rp.size),
        "euler_number_definition": _euler_note(),
        "particle_radius": R,
        "particle_centre": c0.tolist(),
        "particle_voxels": n_ball,
        "pore_centres": p_centres.round(4).tolist(),
        "pore_radii": rp.round(4).tolist(),
        "surface_particle_centres": s_centres.round(4).tolist(),
        "surface_particle_radii": rs.round(4).tolist(),
        "phase_fractions": (counts / labels.size).round(6).tolist(),
        "instances_of": "pores",
        "seed": int(seed),
    }
    volume = _densities(labels, {1: matrix_density, 2: particle_density}, edge_sigma)
    return Phantom(volume, labels, "porous_particle", truth,
                   {0: "vacuum and pores", 1: "particle matrix", 2: "dense surface particles"},
                   pore_mask=pore_mask, instances=instances)


# ----------------------------------------------------------------------------- sponges


def _gyroid_field(shape, period: float, phase: np.ndarray, origin: np.ndarray | None = None):
    k = 2 * np.pi / period
    c = _centre(shape) if origin is None else origin
    Z, Y, X = (k * (np.arange(n, dtype=np.float32) - ci) + ph
               for n, ci, ph in zip(shape, c, phase, strict=True))
    Z, Y, X = Z[:, None, None], Y[None, :, None], X[None, None, :]
    sX, cX, sY, cY, sZ, cZ = np.sin(X), np.cos(X), np.sin(Y), np.cos(Y), np.sin(Z), np.cos(Z)
    return sX * cY + sY * cZ + sZ * cX


def _gyroid_level(porosity: float) -> float:
    """Level ``t`` with ``{f <= t}`` filling ``porosity`` of a gyroid unit cell (continuum).

    Estimated on a 96^3 cell-centred sampling of one period (error ~1e-4 in the fraction).
    """
    n = 96
    s = (np.arange(n, dtype=np.float64) + 0.5) * (2 * np.pi / n)
    X, Y, Z = s[:, None, None], s[None, :, None], s[None, None, :]
    f = np.sin(X) * np.cos(Y) + np.sin(Y) * np.cos(Z) + np.sin(Z) * np.cos(X)
    return float(np.quantile(f, porosity))


def _spinodal_field(shape, wavelength: float, bandwidth: float, rng: np.random.Generator):
    """Gaussian random field with power on a shell |k| = 1/wavelength (Cahn's spinodal model)."""
    noise = rng.standard_normal(shape).astype(np.float32)
    spec = np.fft.rfftn(noise)
    kz = np.fft.fftfreq(shape[0])[:, None, None]
    ky = np.fft.fftfreq(shape[1])[None, :, None]
    kx = np.fft.rfftfreq(shape[2])[None, None, :]
    k = np.sqrt(kz * kz + ky * ky + kx * kx)
    k0 = 1.0 / wavelength
    spec *= np.exp(-0.5 * ((k - k0) / (bandwidth * k0)) ** 2)
    return np.fft.irfftn(spec, s=shape, axes=(0, 1, 2)).astype(np.float32)


def sponge(
    shape=(128, 128, 128),
    *,
    kind: str = "gyroid",
    seed: int = 0,
    porosity: float = 0.5,
    period: float | None = None,
    bandwidth: float = 0.15,
    envelope: str = "cylinder",
    envelope_radius: float = 0.45,
    density: float = 1.0,
    edge_sigma: float = 0.0,
) -> Phantom:
    """A bicontinuous sponge: a gyroid or a spinodal (phase-separated) structure.

    Both are level sets: the solid (label 1) is ``f > t`` and the pores (label 0) ``f <= t``.
    For the gyroid ``f = sin X cos Y + sin Y cos Z + sin Z cos X`` (``X = 2 pi x / period +``
    a random phase per axis from ``seed``), and ``t`` is chosen so the pores fill exactly
    ``porosity`` of a unit cell. For the spinodal ``f`` is a Gaussian random field whose power
    lies on a shell ``|k| = 1 / period`` (relative width ``bandwidth``), the wave model of
    spinodal decomposition, and ``t`` is the ``porosity`` quantile of ``f`` within the envelope,
    so the voxel porosity is exact.

    Parameters
    ----------
    shape : (z, y, x) tuple of int
        Volume shape in voxels.
    kind : {"gyroid", "spinodal"}
        Which sponge.
    seed : int
        Seed of the random generator (gyroid: phase; spinodal: the field).
    porosity : float
        Pore fraction (0..1) of the sponge.
    period : float, optional
        Unit-cell length (gyroid) or dominant wavelength (spinodal) in voxels; default
        ``min(shape) / 4``.
    bandwidth : float
        Spinodal only: relative width of the spectral shell.
    envelope : {"cylinder", "sphere", "none"}
        Sample shape: a pillar along ``y`` (the tilt axis) of radius
        ``envelope_radius * min(nz, nx)``, a ball of radius ``envelope_radius * min(shape)``, or
        the whole box. Outside the envelope is vacuum (label 0).
    envelope_radius : float
        See ``envelope``.
    density : float
        Density of the solid phase.
    edge_sigma : float
        Gaussian blur (voxels) of the density volume for soft edges; labels stay sharp.

    Returns
    -------
    Phantom
        ``truth["porosity"]`` is the pore fraction of the voxels inside the envelope,
        ``truth["porosity_target"]`` the requested value, ``truth["level"]`` the threshold
        ``t``, ``truth["envelope_voxels"]``. ``pore_mask`` marks the pores inside the envelope.

    Examples
    --------
    >>> g = sponge((64, 64, 64), kind="gyroid", envelope="none", period=16)
    >>> abs(g.truth["porosity"] - 0.5) < 0.005
    True
    """
    shape = _check_shape(shape)
    porosity = _check_range("porosity", porosity, 0.01, 0.99)
    period = float(period) if period is not None else min(shape) / 4.0
    _check_range("period", period, 3.0, 1e6)
    env = _envelope(shape, envelope, _check_range("envelope_radius", envelope_radius, 0.05, 1.0))
    rng = np.random.default_rng(seed)
    if kind == "gyroid":
        f = _gyroid_field(shape, period, rng.uniform(0, 2 * np.pi, 3))
        level = _gyroid_level(porosity)
    elif kind == "spinodal":
        _check_range("bandwidth", bandwidth, 0.01, 2.0)
        f = _spinodal_field(shape, period, bandwidth, rng)
        level = float(np.quantile(f[env], porosity))
    else:
        raise ConfigError(f"kind must be 'gyroid' or 'spinodal', got {kind!r}")

    solid = (f > level) & env
    labels = solid.astype(np.uint8)
    pore_mask = env & ~solid
    n_env = int(env.sum())
    truth = {
        "porosity": float(pore_mask.sum() / n_env),
        "porosity_target": porosity,
        "level": level,
        "kind": kind,
        "period": period,
        "envelope": envelope,
        "envelope_voxels": n_env,
        "solid_fraction": float(solid.sum() / n_env),
        "seed": int(seed),
    }
    if kind == "spinodal":
        truth["bandwidth"] = float(bandwidth)
    volume = _densities(labels, {1: density}, edge_sigma)
    return Phantom(volume, labels, kind, truth, {0: "vacuum and pores", 1: "solid"},
                   pore_mask=pore_mask)


def gyroid(shape=(128, 128, 128), *, seed: int = 0, **params) -> Phantom:
    """:func:`sponge` with ``kind="gyroid"``."""
    return sponge(shape, kind="gyroid", seed=seed, **params)


def spinodal(shape=(128, 128, 128), *, seed: int = 0, **params) -> Phantom:
    """:func:`sponge` with ``kind="spinodal"``."""
    return sponge(shape, kind="spinodal", seed=seed, **params)


# ----------------------------------------------------------------------------- sphere pack


def sphere_pack(
    shape=(128, 128, 128),
    *,
    seed: int = 0,
    radius: float | None = None,
    polydispersity: float = 0.15,
    gap: float = 2.0,
    n_spheres: int | None = None,
    container_radius: float = 0.45,
    density: float = 1.0,
    max_candidates: int = 20000,
    edge_sigma: float = 0.0,
) -> Phantom:
    """A packed bed of spheres in a cylindrical column along ``y`` (the tilt axis).

    Spheres are placed by random sequential addition (each random candidate is kept if it
    clears every sphere kept so far by ``gap`` voxels), largest first, until ``n_spheres``
    are placed or the candidates run out (the random-close-packing limit of RSA, a solid
    fraction of about 0.3-0.4).

    Parameters
    ----------
    shape : (z, y, x) tuple of int
        Volume shape in voxels.
    seed : int
        Seed of the random generator.
    radius : float, optional
        Mean sphere radius in voxels; default ``min(shape) / 14``.
    polydispersity : float
        Relative standard deviation of the radii (normal, clipped to +-2 sigma).
    gap : float
        Least surface-to-surface distance in voxels. Above sqrt(3) the voxelised spheres are
        separate 26-connected objects; a negative gap lets neighbours overlap (sinter) by that
        much.
    n_spheres : int, optional
        Spheres to place; default as many as fit.
    container_radius : float
        Column radius as a fraction of ``min(nz, nx)``; spheres lie wholly inside it and inside
        the ``y`` extent of the volume.
    density : float
        Density of the spheres.
    max_candidates : int
        Random candidates tried.
    edge_sigma : float
        Gaussian blur (voxels) of the density volume for soft edges; labels stay sharp.

    Returns
    -------
    Phantom
        ``truth``: ``n_spheres``, ``centres``/``radii`` (voxels), ``porosity`` (void fraction of
        the column), ``solid_fraction``, ``euler_number`` (= ``n_spheres`` when ``gap > sqrt(3)``,
        else ``None``), ``specific_surface_area_analytic`` (sphere area / column volume,
        voxel^-1). ``instances`` numbers the spheres 1..n.

    Examples
    --------
    >>> s = sphere_pack((64, 64, 64), seed=0)
    >>> int(s.instances.max()) == s.truth["n_spheres"]
    True
    """
    shape = _check_shape(shape)
    nz, ny, nx = shape
    rng = np.random.default_rng(seed)
    r_mean = float(radius) if radius is not None else min(shape) / 14.0
    _check_range("radius", r_mean, 1.5, min(shape) / 4.0)
    _check_range("polydispersity", polydispersity, 0.0, 0.5)
    _check_range("gap", gap, -r_mean, r_mean)
    Rc = _check_range("container_radius", container_radius, 0.1, 0.5) * min(nz, nx)
    c0 = _centre(shape)

    r = r_mean * (1 + polydispersity * np.clip(rng.standard_normal(max_candidates), -2, 2))
    r = np.sort(np.maximum(r, 1.0))[::-1]
    room = Rc - r  # the centre's distance from the column axis
    ok = (room > 0) & (ny - 1 - 2 * r > 0)
    r, room = r[ok], room[ok]
    rho = room * np.sqrt(rng.random(r.size))  # uniform in the disc
    phi = rng.uniform(0, 2 * np.pi, r.size)
    y = r + rng.random(r.size) * (ny - 1 - 2 * r)
    centres = np.stack([c0[0] + rho * np.sin(phi), y, c0[2] + rho * np.cos(phi)], axis=1)
    keep = _rsa(centres, r, gap, n_spheres)
    centres, r = centres[keep], r[keep]

    instances = np.zeros(shape, dtype=np.uint16)
    for i, (c, ri) in enumerate(zip(centres, r, strict=True), 1):
        _paint_ball(instances, c, ri, i)
    labels = (instances > 0).astype(np.uint8)
    column = np.broadcast_to(_cylinder_mask(shape, Rc), shape)
    n_col = int(column.sum())
    solid = int(labels.sum())
    truth = {
        "n_spheres": int(r.size),
        "centres": centres.round(4).tolist(),
        "radii": r.round(4).tolist(),
        "porosity": float(1 - solid / n_col),
        "solid_fraction": float(solid / n_col),
        "solid_fraction_analytic": float(np.sum(4 / 3 * np.pi * r**3) / (np.pi * Rc**2 * ny)),
        "specific_surface_area_analytic": float(np.sum(4 * np.pi * r**2) / (np.pi * Rc**2 * ny)),
        "euler_number": int(r.size) if gap > math.sqrt(3) else None,
        "euler_number_definition": _euler_note(),
        "container_radius": Rc,
        "container_voxels": n_col,
        "mean_radius": float(r.mean()) if r.size else 0.0,
        "instances_of": "spheres",
        "seed": int(seed),
    }
    volume = _densities(labels, {1: density}, edge_sigma)
    return Phantom(volume, labels, "sphere_pack", truth, {0: "void", 1: "spheres"},
                   instances=instances)


# ----------------------------------------------------------------------------- registry

PHANTOMS: dict[str, Callable[..., Phantom]] = {
    "porous_particle": porous_particle,
    "sponge": sponge,
    "gyroid": gyroid,
    "spinodal": spinodal,
    "sphere_pack": sphere_pack,
}


def make_phantom(name: str, shape=(128, 128, 128), *, seed: int = 0, **params) -> Phantom:
    """Build the phantom registered as ``name`` in :data:`PHANTOMS`."""
    try:
        gen = PHANTOMS[name]
    except KeyError:
        raise ConfigError(
            f"unknown phantom {name!r}; choose one of {', '.join(sorted(PHANTOMS))}"
        ) from None
    try:
        return gen(shape, seed=seed, **params)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ConfigError(f"phantom {name!r}: {exc}") from None
