"""Phase masks, envelopes, porosity, volume fractions and local-thickness size distributions.

Conventions (also written into every JSON report, see :mod:`tomoml.analyze.report`):

- labels: 0 = pore / background, 1..N = solid phases; ``phase=None`` means all non-zero labels
  together form "the solid", ``phase=K`` selects label ``K`` only.
- porosity = pore voxels / (pore + solid voxels); voxels outside the envelope mask count as
  neither (porespy's convention).
- local thickness is reported as a **diameter** (porespy returns the radius in voxels of the
  largest inscribed sphere that covers the voxel; ImageJ/BoneJ report the diameter).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from tomoml.errors import ConfigError, InputError

__all__ = [
    "as_labels", "solid_mask", "pore_mask", "envelope_mask", "porosity", "local_thickness",
    "thickness_distribution",
]

log = logging.getLogger(__name__)

ENVELOPES = ("closing", "convex_hull", "slab")
_SLAB = 32  # z-slices per chunk for chunked, memory-bounded loops
# porespy's ball insertion is a numba parallel kernel, already on every core; numba's default
# threading layer aborts when two threads launch one at the same time (analyze's workers).
_PARALLEL_KERNEL = threading.Lock()


def as_labels(labels) -> np.ndarray:
    """Return ``labels`` as a 3D integer array (a :class:`tomoml.data.Volume` is unwrapped)."""
    data = getattr(labels, "data", labels)
    arr = np.asarray(data)
    if arr.ndim != 3:
        raise InputError(f"labels must be a 3D (z, y, x) array, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.view(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(
            f"labels must be an integer label volume (0 = pore), got dtype {arr.dtype}; "
            "segment the volume first (tomoml segment)"
        )
    if arr.size and arr.min() < 0:
        raise InputError("labels must be >= 0 (0 = pore, 1..N = phases)")
    return arr


def solid_mask(labels: np.ndarray, phase: int | None = None,
               envelope: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the solid: label ``phase``, or every non-zero label when ``phase`` is None."""
    labels = as_labels(labels)
    if phase is None:
        mask = labels > 0
    else:
        if int(phase) == 0:
            raise ConfigError("phase: 0 is the pore phase; choose a solid label 1..N")
        mask = labels == int(phase)
    if envelope is not None:
        mask &= envelope
    return mask


def pore_mask(labels: np.ndarray, envelope: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the pore space (label 0), restricted to ``envelope`` when given."""
    mask = as_labels(labels) == 0
    if envelope is not None:
        mask &= envelope
    return mask


def envelope_mask(labels: np.ndarray, method: str = "closing", *, radius_vox: int = 5) -> np.ndarray:
    """The sample envelope: the region pores are counted in (e.g. a porous particle's outline).

    Parameters
    ----------
    labels : (z, y, x) ndarray of int
        Label volume; every non-zero label is material.
    method : {"closing", "convex_hull", "slab"}
        ``closing``: morphological closing of the material with a ball of ``radius_vox``
        (computed exactly with Euclidean distance transforms on a padded copy), then holes
        filled. ``convex_hull``: the convex hull of the material. ``slab``: the specimen layer
        of a film or section, between two planes fitted to its top and bottom surfaces (as
        IMOD's findsection finds the section's boundaries); the vacuum above and below a
        reconstruction thicker than the specimen is left out.
    radius_vox : int
        Closing radius in voxels; it must exceed the radius of pore mouths at the surface.

    Returns
    -------
    (z, y, x) ndarray of bool
    """
    from scipy import ndimage as ndi

    material = as_labels(labels) > 0
    if not material.any():
        raise InputError("envelope: the label volume holds no material (all labels are 0)")
    if method == "closing":
        import edt

        r = int(radius_vox)
        if r < 1:
            raise ConfigError(f"envelope radius must be >= 1 voxel, got {radius_vox}")
        padded = np.pad(material, r + 1)
        # Closing = dilation then erosion by a ball of radius r, both via exact EDTs.
        dilated = edt.edt(~padded, black_border=False) <= r
        del padded
        closed = edt.edt(dilated, black_border=False) > r
        del dilated
        sl = (slice(r + 1, -(r + 1)),) * 3
        env = ndi.binary_fill_holes(closed[sl])
        return env | material
    if method == "convex_hull":
        return _convex_hull_mask(material)
    if method == "slab":
        return _slab_mask(material)
    raise ConfigError(f"envelope: unknown method {method!r}; choose one of {ENVELOPES} or None")


def _slab_mask(material: np.ndarray, tiles: int = 8) -> np.ndarray:
    """Voxels between the planes ``z = a + b y + c x`` fitted to the specimen's top and bottom.

    The (y, x) plane is cut into ``tiles`` x ``tiles`` tiles; each tile gives its outermost
    material voxel on each side (the lowest z of the top surface, the highest of the bottom),
    so pores open to the surface do not pull the planes inwards, and the planes are the least
    squares fits through the tile points. A tile without material gives no point.
    """
    nz, ny, nx = material.shape
    has = material.any(axis=0)
    first = np.where(has, material.argmax(axis=0), nz).astype(np.float64)
    last = np.where(has, nz - 1 - material[::-1].argmax(axis=0), -1).astype(np.float64)
    pts_top, pts_bot = [], []
    ys = np.linspace(0, ny, min(tiles, ny) + 1).astype(int)
    xs = np.linspace(0, nx, min(tiles, nx) + 1).astype(int)
    for y0, y1 in zip(ys[:-1], ys[1:], strict=True):
        for x0, x1 in zip(xs[:-1], xs[1:], strict=True):
            f, g = first[y0:y1, x0:x1], last[y0:y1, x0:x1]
            if not has[y0:y1, x0:x1].any():
                continue
            i = np.unravel_index(np.argmin(f), f.shape)
            j = np.unravel_index(np.argmax(g), g.shape)
            pts_top.append((y0 + i[0], x0 + i[1], f[i]))
            pts_bot.append((y0 + j[0], x0 + j[1], g[j]))
    yy, xx = np.mgrid[:ny, :nx]

    def plane(pts, extreme):
        p = np.asarray(pts, dtype=np.float64)
        if len(p) < 3:  # too few tiles for a tilt: a flat plane at the extreme
            return np.full((ny, nx), extreme(p[:, 2]))
        design = np.column_stack([np.ones(len(p)), p[:, 0], p[:, 1]])
        coef, *_ = np.linalg.lstsq(design, p[:, 2], rcond=None)
        return coef[0] + coef[1] * yy + coef[2] * xx

    top, bottom = plane(pts_top, np.min), plane(pts_bot, np.max)
    z = np.arange(nz)[:, None, None]
    return ((z >= top[None] - 0.5) & (z <= bottom[None] + 0.5)) | material


def _convex_hull_mask(material: np.ndarray) -> np.ndarray:
    """Voxels whose centres lie in the convex hull of the material's voxel centres.

    Built slice by slice: the hull's cross-section at each z is the 2D hull of the points where
    the 3D hull's edges cross that plane, filled with ``grid_points_in_poly``; memory stays at
    one slice and the cost at O(hull edges + slice area) per slice.
    """
    from scipy import ndimage as ndi
    from scipy.spatial import ConvexHull, QhullError
    from skimage.measure import grid_points_in_poly

    boundary = material & ~ndi.binary_erosion(material)  # only these can be hull vertices
    pts = np.argwhere(boundary).astype(np.float64)
    try:
        hull = ConvexHull(pts)
    except QhullError as exc:
        raise InputError(f"envelope: convex hull failed (material is flat?): {exc}") from exc
    simplices = hull.simplices
    edges = np.unique(np.sort(np.concatenate(
        [simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [0, 2]]]), axis=1), axis=0)
    p0, p1 = pts[edges[:, 0]], pts[edges[:, 1]]
    verts = pts[hull.vertices]
    out = np.zeros(material.shape, bool)
    z_lo, z_hi = int(np.ceil(verts[:, 0].min())), int(np.floor(verts[:, 0].max()))
    for z in range(z_lo, z_hi + 1):
        on_plane = verts[verts[:, 0] == z][:, 1:]
        dz = p1[:, 0] - p0[:, 0]
        cross = (np.minimum(p0[:, 0], p1[:, 0]) < z) & (np.maximum(p0[:, 0], p1[:, 0]) > z)
        t = (z - p0[cross, 0]) / dz[cross]
        cut = p0[cross, 1:] + t[:, None] * (p1[cross, 1:] - p0[cross, 1:])
        poly = np.concatenate([on_plane, cut])
        if len(poly) == 0:
            continue
        try:
            ring = poly[ConvexHull(poly).vertices]
        except QhullError:  # a degenerate (line or point) cross-section
            ring = poly
        out[z] = grid_points_in_poly(material.shape[1:], ring, binarize=False) > 0
    return out | material


def porosity(labels: np.ndarray, *, envelope: np.ndarray | None = None) -> dict:
    """Porosity and the volume fraction of each phase.

    porosity = pore voxels / (pore + solid voxels); voxels outside ``envelope`` count as
    neither. Each phase fraction is its voxel count over the voxels inside the envelope.

    Returns
    -------
    dict
        ``porosity``, ``pore_voxels``, ``solid_voxels``, ``envelope_voxels`` and
        ``phase_fractions`` (label -> fraction) and ``phase_voxels`` (label -> count).
    """
    labels = as_labels(labels)
    if envelope is not None and envelope.shape != labels.shape:
        raise InputError(f"envelope shape {envelope.shape} != labels shape {labels.shape}")
    counts = np.zeros(1, np.int64)
    for z0 in range(0, labels.shape[0], _SLAB):  # slab-wise: no full-size int64 copy
        block = labels[z0:z0 + _SLAB]
        values = block[envelope[z0:z0 + _SLAB]] if envelope is not None else block.reshape(-1)
        c = np.bincount(values.astype(np.intp, copy=False))
        if c.size > counts.size:
            c[:counts.size] += counts
            counts = c
        else:
            counts[:c.size] += c
    return porosity_from_counts(counts, what="porosity: the envelope")


def porosity_from_counts(counts: np.ndarray, *, what: str = "labels: the volume") -> dict:
    """The :func:`porosity` dictionary from voxel counts per label (``counts[k]`` = label k)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        raise InputError(f"{what} holds no voxels")
    pore = int(counts[0])
    return {
        "porosity": pore / total,
        "pore_voxels": pore,
        "solid_voxels": total - pore,
        "envelope_voxels": total,
        "phase_voxels": {str(k): int(c) for k, c in enumerate(counts) if c > 0},
        "phase_fractions": {str(k): float(c) / total for k, c in enumerate(counts) if c > 0},
    }


def local_thickness(mask: np.ndarray) -> np.ndarray:
    """Local thickness of a phase as a **diameter in voxels** (uint16; 0 outside the phase).

    The diameter of the largest ball (integer radius) that fits inside the phase and covers the
    voxel: porespy's ``local_thickness`` with every integer radius (method "bf", identical to
    method "dt"), whose radius output is doubled. porespy 3.2 is called with
    ``return_indices=True`` so the result is a small integer image (uint8 indices) rather than
    a float64 volume, and only a float32 distance map is held beside it.

    Parameters
    ----------
    mask : (z, y, x) ndarray of bool
        The phase; the volume border is not treated as a wall.

    Returns
    -------
    (z, y, x) ndarray of uint16
        Diameter ``2 r`` in voxels.
    """
    import edt
    import porespy as ps

    mask = np.asarray(mask, dtype=bool)
    out = np.zeros(mask.shape, np.uint16)
    if not mask.any():
        return out
    dt = edt.edt(mask, black_border=False).astype(np.float32, copy=False)
    if dt.max() < 1:
        return out
    # method "bf": porespy 3.2's numba ball insertion, only at the new shell of each radius
    # (contained balls skipped); the same result as method "dt" (one EDT per radius) at about
    # half the CPU time on sponges (benchmarks/analyze.py).
    with _PARALLEL_KERNEL:
        values, indices = ps.filters.local_thickness(mask, dt=dt, method="bf",
                                                     return_indices=True)
    del dt
    lut = (2 * np.asarray(values)).astype(np.uint16)
    for z0 in range(0, mask.shape[0], _SLAB):  # chunked: no int64 temporaries of full size
        out[z0:z0 + _SLAB] = lut[indices[z0:z0 + _SLAB]]
    return out


def thickness_distribution(mask: np.ndarray, voxel_size_A: float, *,
                           diameters_vox: np.ndarray | None = None) -> dict:
    """Volume-weighted distribution of local thickness (diameter) in a phase.

    Parameters
    ----------
    mask : (z, y, x) ndarray of bool
        The phase (pores for the pore-size distribution, solid for the thickness).
    voxel_size_A : float
        Voxel size in ångström.
    diameters_vox : ndarray of uint16, optional
        A precomputed :func:`local_thickness` map.

    Returns
    -------
    dict
        ``diameter_nm`` (bin values), ``volume_fraction`` (fraction of the phase's voxels at
        each diameter), ``voxels`` per bin, and mean / median / d10 / d90 / max diameters in nm
        and voxels (volume-weighted: every voxel of the phase counts once).
    """
    vs_nm = float(voxel_size_A) / 10.0
    if diameters_vox is None:
        diameters_vox = local_thickness(mask)
    counts = np.zeros(1, np.int64)
    for z0 in range(0, mask.shape[0], _SLAB):
        d = diameters_vox[z0:z0 + _SLAB][mask[z0:z0 + _SLAB]]
        c = np.bincount(d)
        if c.size > counts.size:
            c[:counts.size] += counts
            counts = c
        else:
            counts[:c.size] += c
    n = int(counts.sum())
    result: dict = {"quantity": "local thickness as a DIAMETER (2 x porespy's radius)",
                    "phase_voxels": n}
    # Voxels the integer-radius method cannot cover (thinner than one voxel) get diameter 0.
    bins = np.nonzero(counts)[0]
    if n == 0:
        result.update({"diameter_vox": [], "diameter_nm": [], "voxels": [], "volume_fraction": [],
                       "mean_nm": None, "median_nm": None, "d10_nm": None, "d90_nm": None,
                       "max_nm": None})
        return result
    cum = np.cumsum(counts) / n

    def quantile(q: float) -> int:
        return int(np.searchsorted(cum, q))

    mean_vox = float((np.arange(counts.size) * counts).sum() / n)
    result.update({
        "diameter_vox": bins.tolist(),
        "diameter_nm": (bins * vs_nm).tolist(),
        "voxels": counts[bins].tolist(),
        "volume_fraction": (counts[bins] / n).tolist(),
        "mean_vox": mean_vox,
        "mean_nm": mean_vox * vs_nm,
        "median_vox": quantile(0.5),
        "median_nm": quantile(0.5) * vs_nm,
        "d10_nm": quantile(0.1) * vs_nm,
        "d90_nm": quantile(0.9) * vs_nm,
        "max_vox": int(bins[-1]),
        "max_nm": int(bins[-1]) * vs_nm,
    })
    return result
