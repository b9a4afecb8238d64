"""Simulated training tomograms for the default segmenter: phantom -> tilt series -> reconstruction.

Each sample is a random structure (gyroid or spinodal sponge, sphere pack, porous particle,
matrix with dense inclusions), with random densities and a random background, projected in the
CONVENTIONS geometry over a random missing wedge (±45..±75°), degraded by detector blur and
Poisson (shot) noise over a wide dose range, and reconstructed by FBP or SIRT. The label is the
phantom collapsed to 2 classes: 0 = pore / background / vacuum, 1 = material (any phase).

Phantoms come from :mod:`tomoml.synthetic` when it is installed and ``phantoms="synthetic"`` or
``"mixed"``; the built-in generators below need nothing but numpy/scipy, so training data (and
the shipped model) can be reproduced from a seed alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

__all__ = ["TrainingSample", "simulate_sample", "simulate_tomogram", "make_phantom", "PHANTOM_KINDS"]

log = logging.getLogger(__name__)

PHANTOM_KINDS = ("gyroid", "spinodal", "sphere_pack", "porous_particle", "inclusions")


@dataclass
class TrainingSample:
    """A simulated reconstruction, its 2-class truth and the parameters that made it."""

    image: np.ndarray  # (z, y, x) float32 reconstruction
    labels: np.ndarray  # (z, y, x) uint8, 0 = pore/background, 1 = material
    params: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# built-in phantoms (binary structure + densities)
# --------------------------------------------------------------------------------------------

def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
    ])


def _smooth_noise(shape, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise, rescaled to unit standard deviation."""
    f = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return f / (f.std() + 1e-8)


def _gyroid(shape, rng) -> np.ndarray:
    zz, yy, xx = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    coords = np.stack([zz, yy, xx]).reshape(3, -1)
    coords = _random_rotation(rng) @ coords
    period = rng.uniform(14.0, 34.0)
    k = 2 * np.pi / period
    # a smooth random warp makes the lattice imperfect, like a real templated material
    warp = rng.uniform(0.0, 3.0)
    if warp > 0:
        coords = coords + warp * np.stack([_smooth_noise(shape, 8, rng).ravel() for _ in range(3)])
    x, y, z = (coords * k + rng.uniform(0, 2 * np.pi, size=(3, 1)))
    f = (np.sin(x) * np.cos(y) + np.sin(y) * np.cos(z) + np.sin(z) * np.cos(x)).reshape(shape)
    if rng.random() < 0.3:  # sheet gyroid: a wall around the zero level set
        return np.abs(f) < rng.uniform(0.3, 0.8)
    return f > rng.uniform(-0.6, 0.6)


def _spinodal(shape, rng) -> np.ndarray:
    sigma = rng.uniform(1.8, 5.0)
    sig = (sigma * rng.uniform(0.7, 1.4), sigma, sigma * rng.uniform(0.7, 1.4))
    f = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sig, mode="wrap")
    return f > np.quantile(f, rng.uniform(0.3, 0.7))


def _balls(shape, centers, radii) -> np.ndarray:
    out = np.zeros(shape, dtype=bool)
    for c, r in zip(centers, radii, strict=True):
        lo = [max(0, int(np.floor(ci - r))) for ci in c]
        hi = [min(n, int(np.ceil(ci + r)) + 1) for ci, n in zip(c, shape, strict=True)]
        if any(h <= l for l, h in zip(lo, hi, strict=True)):
            continue
        g = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        d2 = sum((gi - ci) ** 2 for gi, ci in zip(g, c, strict=True))
        out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] |= d2 <= r * r
    return out


def _sphere_pack(shape, rng) -> np.ndarray:
    rmin, rmax = sorted(rng.uniform(2.5, 11.0, size=2))
    target = rng.uniform(0.15, 0.45)
    n = np.prod(shape)
    centers = np.empty((0, 3))
    radii = np.empty(0)
    filled = 0.0
    for _ in range(3000):
        if filled >= target * n:
            break
        r = rng.uniform(rmin, rmax + 0.5)
        c = rng.uniform(0, 1, size=3) * np.array(shape)
        # mild overlap allowed: touching and slightly sintered particles, as in real beds
        if np.all(np.linalg.norm(centers - c, axis=1) > 0.85 * (radii + r)):
            centers = np.vstack([centers, c])
            radii = np.append(radii, r)
            filled += 4 / 3 * np.pi * r**3
    return _balls(shape, centers, radii)


def _porous_particle(shape, rng) -> np.ndarray:
    zz, yy, xx = np.ogrid[[slice(0, n) for n in shape]]
    out = np.zeros(shape, dtype=bool)
    for _ in range(rng.integers(1, 4)):
        c = np.array(shape) * rng.uniform(0.25, 0.75, size=3)
        ax = np.array(shape) * rng.uniform(0.18, 0.42, size=3)
        r = ((zz - c[0]) / ax[0]) ** 2 + ((yy - c[1]) / ax[1]) ** 2 + ((xx - c[2]) / ax[2]) ** 2
        out |= r + 0.25 * _smooth_noise(shape, 4, rng) < 1.0
    n_pores = int(rng.integers(5, 40))
    pores = _spinodal(shape, rng) if rng.random() < 0.5 else _balls(
        shape, rng.uniform(0, 1, size=(n_pores, 3)) * np.array(shape),
        rng.uniform(1.5, 6.0, size=n_pores))
    keep = rng.uniform(0.3, 0.8)  # fraction of the pore network inside the particle
    if pores.mean() > keep:
        pores &= _smooth_noise(shape, 3, rng) > 0
    return out & ~pores


def make_phantom(kind: str, shape: tuple[int, int, int], rng: np.random.Generator
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A built-in random phantom: ``(density float32, labels uint8 (0 pore, 1 material))``.

    Densities are relative (material about 1), with a random weak background, smooth density
    variation inside the material and, for ``"inclusions"``, denser inclusions (still material).
    """
    if kind == "gyroid":
        mat = _gyroid(shape, rng)
    elif kind == "spinodal":
        mat = _spinodal(shape, rng)
    elif kind == "sphere_pack":
        mat = _sphere_pack(shape, rng)
    elif kind == "porous_particle":
        mat = _porous_particle(shape, rng)
    elif kind == "inclusions":
        mat = _spinodal(shape, rng) if rng.random() < 0.5 else _gyroid(shape, rng)
    else:
        raise ValueError(f"unknown phantom kind {kind!r}; one of {PHANTOM_KINDS}")
    rho_m = rng.uniform(0.6, 1.4)
    rho_b = rho_m * rng.uniform(0.0, 0.35) if rng.random() < 0.6 else 0.0
    density = np.where(mat, rho_m, rho_b).astype(np.float32)
    vary = rng.uniform(0.0, 0.25)
    if vary > 0:
        density *= 1 + vary * np.clip(_smooth_noise(shape, 6, rng), -2.5, 2.5) * mat
    if kind == "inclusions" or rng.random() < 0.15:
        n_inc = int(rng.integers(3, 30))
        inc = _balls(shape, rng.uniform(0, 1, size=(n_inc, 3)) * np.array(shape),
                     rng.uniform(1.0, 4.0, size=n_inc)) & mat
        density[inc] = rho_m * rng.uniform(1.8, 5.0)
    return density, mat.astype(np.uint8)


def _synthetic_phantom(kind: str, shape, rng) -> tuple[np.ndarray, np.ndarray]:
    """A :mod:`tomoml.synthetic` phantom with random parameters, collapsed to 2 classes."""
    import tomoml.synthetic as syn

    seed = int(rng.integers(2**31))
    m = min(shape)
    if kind in ("gyroid", "spinodal"):
        ph = syn.sponge(shape, kind=kind, seed=seed, porosity=float(rng.uniform(0.3, 0.7)),
                        period=float(rng.uniform(0.16, 0.45) * m),
                        envelope=str(rng.choice(["cylinder", "none", "sphere"])),
                        envelope_radius=float(rng.uniform(0.35, 0.5)))
    elif kind == "sphere_pack":
        ph = syn.sphere_pack(shape, seed=seed, radius=float(rng.uniform(0.05, 0.14) * m),
                             gap=float(rng.uniform(0.0, 3.0)),
                             container_radius=float(rng.uniform(0.35, 0.5)))
    else:
        ph = syn.porous_particle(shape, seed=seed,
                                 particle_density=float(rng.uniform(1.5, 5.0)))
    density = np.asarray(ph.volume, dtype=np.float32) * np.float32(rng.uniform(0.6, 1.4))
    labels = (np.asarray(ph.labels) > 0).astype(np.uint8)
    if rng.random() < 0.4:  # a weak embedding / support density in the pores
        density = density + np.float32(rng.uniform(0.05, 0.3) * density.max()) * (labels == 0)
    return density.astype(np.float32), labels


# --------------------------------------------------------------------------------------------
# tilt series simulation and reconstruction
# --------------------------------------------------------------------------------------------

def _fbp_sirt_slices(sino: np.ndarray, angles_deg: np.ndarray, nz: int, nx: int, *,
                     method: str, filter_type: str = "ram-lak", iterations: int = 50
                     ) -> np.ndarray:
    """Reconstruct ``(n, y, n_det)`` to ``(nz, y, nx)`` with ASTRA's CPU FBP or a matrix SIRT.

    A stand-in that keeps training data independent of the reconstruction stage's defaults;
    the geometry (ASTRA angle = -tilt) is the one in :mod:`tomoml.reconstruct._astra`.
    SIRT runs on all ``y`` slices at once with ASTRA's sparse system matrix, because ASTRA's
    CPU SIRT, one slice at a time, is ~30x slower at these sizes.
    """
    import astra

    from tomoml.reconstruct._astra import projector_2d

    n, ny, n_det = sino.shape
    out = np.empty((nz, ny, nx), dtype=np.float32)
    with projector_2d((nz, nx), angles_deg, n_det) as pid:
        if method == "sirt":
            mid = astra.projector.matrix(pid)
            try:
                W = astra.matrix.get(mid).tocsr().astype(np.float32)
            finally:
                astra.matrix.delete(mid)
            b = np.ascontiguousarray(sino.transpose(0, 2, 1).reshape(n * n_det, ny))
            row = np.asarray(W.sum(axis=1)).ravel()
            col = np.asarray(W.sum(axis=0)).ravel()
            inv_row = np.where(row > 0, 1.0 / np.maximum(row, 1e-12), 0).astype(np.float32)
            inv_col = np.where(col > 0, 1.0 / np.maximum(col, 1e-12), 0).astype(np.float32)
            WT = W.T.tocsr()
            x = np.zeros((nz * nx, ny), dtype=np.float32)
            for _ in range(iterations):
                x += inv_col[:, None] * (WT @ (inv_row[:, None] * (b - W @ x)))
            return np.ascontiguousarray(x.reshape(nz, nx, ny).transpose(0, 2, 1))
        proj_geom = astra.projector.projection_geometry(pid)
        vol_geom = astra.projector.volume_geometry(pid)
        sid = astra.data2d.create("-sino", proj_geom, 0)
        rid = astra.data2d.create("-vol", vol_geom, 0)
        try:
            cfg = astra.astra_dict("FBP")
            cfg["ProjectorId"] = pid
            cfg["ProjectionDataId"] = sid
            cfg["ReconstructionDataId"] = rid
            cfg["FilterType"] = filter_type
            aid = astra.algorithm.create(cfg)
            try:
                for iy in range(ny):
                    astra.data2d.store(sid, np.ascontiguousarray(sino[:, iy, :]))
                    astra.algorithm.run(aid, 1)
                    out[:, iy, :] = astra.data2d.get_shared(rid)
            finally:
                astra.algorithm.delete(aid)
        finally:
            astra.data2d.delete([sid, rid])
    return out


def simulate_tomogram(density: np.ndarray, rng: np.random.Generator, *,
                      max_tilt: float | None = None, tilt_step: float | None = None,
                      dose: float | None = None, blur_sigma: float | None = None,
                      method: str | None = None, pad_x: int = 0) -> tuple[np.ndarray, dict]:
    """Project ``density`` over a missing wedge, add blur and shot noise, reconstruct.

    Parameters left as ``None`` are drawn at random (the training distribution).
    ``dose`` is in electrons per pixel per tilt for a transmission ``exp(-k p)`` where the
    densest ray keeps about ``exp(-1)``. ``pad_x`` voxels on each side in ``x`` lie outside
    the reconstructed field (a laterally extended sample, as in most real tomograms).
    Returns the reconstruction ``(z, y, x - 2 pad_x)`` and the parameters used.
    """
    from tomoml.reconstruct import forward_project

    nz, ny, nx_full = density.shape
    nx = nx_full - 2 * pad_x
    max_tilt = float(rng.uniform(45.0, 75.0)) if max_tilt is None else float(max_tilt)
    tilt_step = float(rng.choice([1.5, 2.0, 3.0])) if tilt_step is None else float(tilt_step)
    dose = float(np.exp(rng.uniform(np.log(10.0), np.log(1000.0)))) if dose is None else float(dose)
    blur_sigma = float(rng.uniform(0.0, 1.5)) if blur_sigma is None else float(blur_sigma)
    if method is None:
        method = "fbp" if rng.random() < 0.6 else "sirt"
    angles = np.arange(-max_tilt, max_tilt + 1e-6, tilt_step)

    # a (partial-volume) smoothing of the binary phantom before projection
    vol = ndi.gaussian_filter(density, 0.5)
    n_det = nx if pad_x else int(np.ceil(np.hypot(nz, nx))) + 2
    # Centre the field of view: detector spans the central nx columns when padded.
    proj = forward_project(vol, angles, n_det=n_det)
    if blur_sigma > 0:
        proj = ndi.gaussian_filter(proj, (0, blur_sigma, blur_sigma))
    k = 1.0 / max(float(proj.max()), 1e-6)
    counts = rng.poisson(dose * np.exp(-k * proj.astype(np.float64)))
    noisy = (-np.log(np.maximum(counts, 0.5) / dose) / k).astype(np.float32)
    filt = str(rng.choice(["ram-lak", "shepp-logan", "hann"]))
    iters = int(rng.integers(20, 100))
    rec = _fbp_sirt_slices(noisy, angles, nz, nx, method=method, filter_type=filt,
                           iterations=iters)
    params = {"max_tilt": max_tilt, "tilt_step": tilt_step, "dose": dose,
              "blur_sigma": blur_sigma, "method": method,
              "filter": filt if method == "fbp" else None,
              "iterations": iters if method == "sirt" else None}
    return rec, params


def simulate_sample(shape: tuple[int, int, int] = (64, 64, 64), *, seed: int,
                    kind: str | None = None, phantoms: str = "builtin",
                    **simulation) -> TrainingSample:
    """One random training tomogram with its 2-class truth.

    Parameters
    ----------
    shape : (z, y, x)
        Shape of the reconstruction.
    seed : int
        Everything random follows from it.
    kind : str, optional
        Phantom kind (one of :data:`PHANTOM_KINDS`); random when None.
    phantoms : {"builtin", "synthetic", "mixed"}
        Built-in phantoms, :mod:`tomoml.synthetic` phantoms, or either at random.
    **simulation
        Fixed values for :func:`simulate_tomogram` parameters (``max_tilt``, ``dose``, ...).
    """
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(PHANTOM_KINDS)) if kind is None else kind
    nz, ny, nx = shape
    # Sponges extend beyond the field of view in x; particles and packs sit inside it.
    extended = kind in ("gyroid", "spinodal", "inclusions") and rng.random() < 0.6
    pad_x = int(np.ceil(nz * 0.6)) if extended else 0
    full = (nz, ny, nx + 2 * pad_x)
    use_syn = phantoms == "synthetic" or (phantoms == "mixed" and rng.random() < 0.5)
    use_syn = use_syn and kind != "inclusions"  # tomoml.synthetic has no inclusion phantom
    if use_syn:
        density, labels = _synthetic_phantom(kind, full, rng)
    else:
        density, labels = make_phantom(kind, full, rng)
    if not extended and rng.random() < 0.5 and kind in ("gyroid", "spinodal", "inclusions"):
        # a film: the sponge fills only a central z range, with vacuum above and below
        t = rng.uniform(0.5, 0.9)
        z0 = int(nz * (1 - t) / 2 + rng.integers(-3, 4))
        z1 = z0 + int(nz * t)
        mask = np.zeros(full, dtype=bool)
        mask[max(z0, 0):min(z1, nz)] = True
        labels = labels * mask
        density = np.where(mask, density, 0.0).astype(np.float32)
    rec, params = simulate_tomogram(density, rng, pad_x=pad_x, **simulation)
    labels = labels[:, :, pad_x:pad_x + nx] if pad_x else labels
    # arbitrary gain and offset, as between microscopes and reconstruction programs
    gain = float(np.exp(rng.uniform(np.log(0.01), np.log(100.0))))
    offset = float(rng.normal(0.0, 2.0)) * gain
    rec = rec * np.float32(gain) + np.float32(offset)
    params.update(kind=kind, seed=seed, extended=extended, synthetic=bool(use_syn), gain=gain,
                  offset=offset)
    return TrainingSample(image=rec, labels=np.ascontiguousarray(labels, dtype=np.uint8),
                          params=params)
