"""Surface meshes from label volumes and density volumes, with smoothing, decimation and export.

Coordinates are in nanometres, in VTK's ``(x, y, z)`` order: voxel ``[k, j, i]`` of a ``(z, y, x)``
array sits at ``origin + (i, j, k) * voxel_size``. Voxel values are treated as samples at voxel
centres, as :func:`skimage.measure.marching_cubes` does with ``spacing``, so an unsmoothed label
mesh is the same surface that :mod:`tomoml.analyze` measures.

Definitions
-----------
- A **label surface** is the iso-surface at 0.5 of the binary mask ``labels == k`` (flying edges,
  the marching-cubes surface computed in one pass per edge row), one mesh per label. The mask is
  padded with background so every surface is closed, also where the phase touches the border.
- An **iso-surface** of a density volume is the surface where the density equals ``level``.
- **Smoothing** is the windowed-sinc low-pass filter of Taubin et al. (``vtkWindowedSincPolyData``):
  it removes the voxel staircase without shrinking the surface (the enclosed volume changes by
  well under 1%, unlike Laplacian smoothing).
- **Decimation** is quadric-error edge collapse (Garland & Heckbert), which keeps the area within
  1% at 90% reduction on smoothed surfaces; the area change is checked after each run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tomoml.data import Volume
from tomoml.errors import ConfigError, InputError, OutputError

if TYPE_CHECKING:  # pragma: no cover
    import pyvista as pv

__all__ = [
    "LABEL_COLORS", "MESH_SUFFIXES", "label_color", "to_image_data", "label_surfaces",
    "iso_surface", "default_iso_level", "smooth_surface", "decimate_surface",
    "merge_label_surfaces", "surface_area_nm2", "enclosed_volume_nm3", "write_mesh",
]

log = logging.getLogger(__name__)

#: Fixed colour table for labels 1, 2, 3, ... (cycled): Okabe & Ito's colour-blind safe palette
#: without black, then a few extra distinct hues. Label ``k`` always gets ``LABEL_COLORS[(k-1) % n]``.
LABEL_COLORS: tuple[str, ...] = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#999999", "#8C510A", "#01665E", "#762A83", "#1B7837",
)

#: Mesh file formats that :func:`write_mesh` writes (by suffix).
MESH_SUFFIXES = (".vtp", ".stl", ".ply", ".obj")

_DEFAULT_SMOOTH_ITERATIONS = 30
_DEFAULT_PASS_BAND = 0.02


def label_color(label: int) -> tuple[float, float, float]:
    """RGB colour (0..1) of ``label`` from the fixed table :data:`LABEL_COLORS`."""
    if label < 1:
        return (0.5, 0.5, 0.5)
    h = LABEL_COLORS[(int(label) - 1) % len(LABEL_COLORS)].lstrip("#")
    return tuple(int(h[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


def _unpack(data: Volume | np.ndarray, voxel_size_A: float | None,
            origin_A: Iterable[float] | None = None) -> tuple[np.ndarray, float, tuple]:
    """Array, voxel size (Å) and origin (z, y, x, Å) from a Volume or an array."""
    if isinstance(data, Volume):
        vs = data.voxel_size_A if voxel_size_A is None else float(voxel_size_A)
        origin = data.origin_A if origin_A is None else tuple(origin_A)
        arr = data.data
    else:
        arr = np.asarray(data)
        if arr.ndim != 3:
            raise InputError(f"volume must be 3D (z, y, x), got shape {arr.shape}")
        vs = 1.0 if voxel_size_A is None else float(voxel_size_A)
        origin = (0.0, 0.0, 0.0) if origin_A is None else tuple(origin_A)
    if not (np.isfinite(vs) and vs > 0):
        raise ConfigError(f"voxel_size_A must be > 0, got {vs}")
    return arr, vs, tuple(float(v) for v in origin)


def to_image_data(data: Volume | np.ndarray, voxel_size_A: float | None = None, *,
                  origin_A: Iterable[float] | None = None, name: str = "values") -> pv.ImageData:
    """Wrap a ``(z, y, x)`` array as a :class:`pyvista.ImageData` in nanometres.

    Parameters
    ----------
    data : Volume or (z, y, x) ndarray
        Densities or labels.
    voxel_size_A : float, optional
        Voxel size in Å (default: the Volume's, else 1 Å).
    origin_A : (3,) floats, optional
        Position of voxel ``(0, 0, 0)`` in Å, ``(z, y, x)`` order.
    name : str
        Name of the point-data array.

    Returns
    -------
    pyvista.ImageData
        ``dimensions = (nx, ny, nz)``, spacing and origin in nm (x, y, z); the point data share
        memory with ``data`` where it is C-contiguous (VTK's x-fastest order is C order of
        ``(z, y, x)``).
    """
    import pyvista as pv

    arr, vs, origin = _unpack(data, voxel_size_A, origin_A)
    arr = np.ascontiguousarray(arr)
    if arr.dtype == bool:
        arr = arr.view(np.uint8)
    vs_nm = vs / 10.0
    grid = pv.ImageData(dimensions=arr.shape[::-1], spacing=(vs_nm,) * 3,
                        origin=tuple(o / 10.0 for o in origin[::-1]))
    grid.point_data[name] = arr.reshape(-1)
    grid.set_active_scalars(name)
    return grid


def _contour(arr: np.ndarray, level: float, vs_nm: float, origin_nm_xyz) -> pv.PolyData:
    """Flying-edges iso-surface of a C-contiguous ``(z, y, x)`` array (no normals, no scalars)."""
    import pyvista as pv

    grid = pv.ImageData(dimensions=arr.shape[::-1], spacing=(vs_nm,) * 3, origin=origin_nm_xyz)
    grid.point_data["v"] = arr.reshape(-1)
    surf = grid.contour([level], scalars="v", method="flying_edges", compute_scalars=False)
    return surf.triangulate() if surf.n_cells and not surf.is_all_triangles else surf


def label_surfaces(labels: Volume | np.ndarray, voxel_size_A: float | None = None, *,
                   select: Iterable[int] | None = None,
                   origin_A: Iterable[float] | None = None,
                   smooth_iterations: int = _DEFAULT_SMOOTH_ITERATIONS,
                   pass_band: float = _DEFAULT_PASS_BAND,
                   decimate: float = 0.0) -> dict[int, pv.PolyData]:
    """One closed surface mesh per label of a label volume.

    Parameters
    ----------
    labels : Volume or (z, y, x) ndarray of int
        0 = background, 1..N = phases or objects.
    voxel_size_A : float, optional
        Voxel size in Å (default: the Volume's, else 1 Å). Mesh coordinates are in nm.
    select : iterable of int, optional
        Labels to mesh (default: every label present except 0).
    origin_A : (3,) floats, optional
        Position of voxel ``(0, 0, 0)`` in Å, ``(z, y, x)``.
    smooth_iterations : int
        Windowed-sinc smoothing iterations (0 = the raw marching-cubes surface, identical to
        :func:`skimage.measure.marching_cubes` on the mask at level 0.5).
    pass_band : float
        Pass band of the smoothing filter (0..2; smaller smooths more).
    decimate : float
        Fraction of triangles to remove (0 = none, 0.9 = keep 10%).

    Returns
    -------
    dict of int to pyvista.PolyData
        Triangle meshes keyed by label, each with a ``label`` cell array. Labels absent from the
        volume are left out.

    Examples
    --------
    >>> import numpy as np
    >>> z, y, x = np.mgrid[:32, :32, :32]
    >>> ball = ((z - 16) ** 2 + (y - 16) ** 2 + (x - 16) ** 2 < 100).astype(np.uint8)
    >>> meshes = label_surfaces(ball, voxel_size_A=10.0)
    >>> sorted(meshes)
    [1]
    """
    from scipy import ndimage as ndi

    from tomoml._progress import track

    arr, vs, origin = _unpack(labels, voxel_size_A, origin_A)
    if not np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool:
        raise InputError(f"labels must be an integer array, got dtype {arr.dtype}; "
                         "use iso_surface for densities")
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.view(np.uint8)
    if np.issubdtype(arr.dtype, np.signedinteger) and arr.size and arr.min() < 0:
        raise InputError("labels must be >= 0 (0 = background)")
    vs_nm = vs / 10.0
    # Bounding boxes of all labels in one pass (also tells which labels are present, without
    # sorting the volume): objects are meshed inside their box only, so a volume with
    # thousands of small objects costs about one pass, not one pass per object.
    boxes = ndi.find_objects(arr) if arr.max(initial=0) > 0 else []
    present = [i + 1 for i, b in enumerate(boxes) if b is not None]
    wanted = present if select is None else [int(v) for v in select if int(v) in set(present)]
    if select is not None:
        missing = sorted(set(int(v) for v in select) - set(present))
        if missing:
            log.warning("labels %s are not in the volume; skipped", missing)
    meshes: dict[int, pv.PolyData] = {}
    for lab in track(wanted, desc="meshing labels", unit="label"):
        box = boxes[lab - 1]
        if box is None:
            continue
        # One voxel of background around the box closes the surface at the volume border.
        mask = np.zeros(tuple(b.stop - b.start + 2 for b in box), dtype=np.uint8)
        np.equal(arr[box], lab, out=mask[1:-1, 1:-1, 1:-1].view(bool))
        start_zyx = [s.start - 1 for s in box]
        origin_xyz = tuple(origin[2 - a] / 10.0 + start_zyx[2 - a] * vs_nm for a in range(3))
        surf = _contour(mask, 0.5, vs_nm, origin_xyz)
        if surf.n_cells == 0:
            continue
        if smooth_iterations > 0:
            surf = smooth_surface(surf, smooth_iterations, pass_band=pass_band)
        if decimate > 0:
            surf = decimate_surface(surf, decimate)
        surf.cell_data["label"] = np.full(surf.n_cells, lab, dtype=np.int32)
        meshes[lab] = surf
    return meshes


def default_iso_level(volume: np.ndarray, *, max_samples: int = 2_000_000, seed: int = 0) -> float:
    """Otsu threshold of the densities (on a random subsample of large volumes)."""
    from skimage.filters import threshold_otsu

    flat = np.asarray(volume).reshape(-1)
    if flat.size > max_samples:
        rng = np.random.default_rng(seed)
        flat = flat[rng.integers(0, flat.size, max_samples)]
    if flat.min() == flat.max():
        raise InputError("volume is constant; there is no iso-surface to draw")
    return float(threshold_otsu(flat.astype(np.float32)))


def iso_surface(volume: Volume | np.ndarray, level: float | None = None,
                voxel_size_A: float | None = None, *, origin_A: Iterable[float] | None = None,
                smooth_iterations: int = 0, pass_band: float = _DEFAULT_PASS_BAND,
                decimate: float = 0.0, closed: bool = False) -> pv.PolyData:
    """Iso-surface of a density volume at ``level``.

    Parameters
    ----------
    volume : Volume or (z, y, x) ndarray
        Densities.
    level : float, optional
        Iso-level in the volume's units (default: Otsu's threshold).
    voxel_size_A : float, optional
        Voxel size in Å (default: the Volume's, else 1 Å). Mesh coordinates are in nm.
    origin_A : (3,) floats, optional
        Position of voxel ``(0, 0, 0)`` in Å, ``(z, y, x)``.
    smooth_iterations, pass_band, decimate
        As in :func:`label_surfaces` (no smoothing by default: densities are already smooth).
    closed : bool
        Pad with a value below ``level`` so the surface is closed at the volume border.

    Returns
    -------
    pyvista.PolyData
        Triangle mesh with field data ``iso_level``.
    """
    arr, vs, origin = _unpack(volume, voxel_size_A, origin_A)
    arr = np.asarray(arr, dtype=np.float32)
    if level is None:
        level = default_iso_level(arr)
        log.info("iso-level (Otsu): %g", level)
    level = float(level)
    lo, hi = float(arr.min()), float(arr.max())
    if not lo < level < hi:
        raise ConfigError(f"iso level {level:g} is outside the data range {lo:g}..{hi:g}")
    vs_nm = vs / 10.0
    origin_xyz = tuple(o / 10.0 for o in origin[::-1])
    if closed:
        arr = np.pad(arr, 1, constant_values=min(lo, level - 1.0))
        origin_xyz = tuple(o - vs_nm for o in origin_xyz)
    surf = _contour(np.ascontiguousarray(arr), level, vs_nm, origin_xyz)
    if surf.n_cells and smooth_iterations > 0:
        surf = smooth_surface(surf, smooth_iterations, pass_band=pass_band)
    if surf.n_cells and decimate > 0:
        surf = decimate_surface(surf, decimate)
    surf.field_data["iso_level"] = np.array([level])
    return surf


def smooth_surface(mesh: pv.PolyData, iterations: int = _DEFAULT_SMOOTH_ITERATIONS, *,
                   pass_band: float = _DEFAULT_PASS_BAND) -> pv.PolyData:
    """Volume-preserving windowed-sinc smoothing (Taubin) of a triangle mesh.

    Parameters
    ----------
    mesh : pyvista.PolyData
        Surface to smooth (not modified).
    iterations : int
        Filter order (10-50 typical).
    pass_band : float
        0..2; smaller removes more of the voxel staircase. The default (30 iterations, 0.02)
        brings the area of a voxelised sphere of radius 14 from +8.5% (raw marching cubes)
        to -0.5% of the true sphere, changes the enclosed volume by < 0.1% (1% for radius 5)
        and removes the long terraces of large flat or cylindrical faces.

    Returns
    -------
    pyvista.PolyData
        Smoothed copy; the relative change of enclosed volume is logged at INFO level.
    """
    if iterations <= 0 or mesh.n_cells == 0:
        return mesh
    if not 0 < pass_band <= 2:
        raise ConfigError(f"pass_band must be in (0, 2], got {pass_band}")
    out = mesh.smooth_taubin(n_iter=int(iterations), pass_band=float(pass_band),
                             normalize_coordinates=True, boundary_smoothing=False,
                             feature_smoothing=False, non_manifold_smoothing=False)
    if log.isEnabledFor(logging.INFO):
        v0, v1 = abs(mesh.volume), abs(out.volume)
        if v0 > 0:
            log.info("smoothing changed the enclosed volume by %+.3f%%", 100 * (v1 / v0 - 1))
    return out


def _quadric_decimate(mesh: pv.PolyData, reduction: float) -> pv.PolyData:
    try:
        # fast-simplification (PyVista's wrapper of Fast-Quadric-Mesh-Simplification) is ~10x
        # faster than vtkQuadricDecimation with the same area error (measured: 600k triangles,
        # 90% reduction, 1.6 s vs 25 s, area change 0.15% for both).
        import fast_simplification
    except ImportError:
        return mesh.decimate(reduction, volume_preservation=True)
    out = fast_simplification.simplify_mesh(mesh, target_reduction=reduction)
    out.field_data.update(mesh.field_data)  # type: ignore[arg-type]
    return out


def decimate_surface(mesh: pv.PolyData, reduction: float, *,
                     max_area_change: float = 0.01) -> pv.PolyData:
    """Remove a fraction of the triangles by quadric edge collapse, keeping the area.

    Parameters
    ----------
    mesh : pyvista.PolyData
        Triangle mesh (not modified).
    reduction : float
        Fraction of triangles to remove, in [0, 1).
    max_area_change : float
        If the area changes by more than this fraction, the reduction is halved and decimation
        retried keeping twice as many triangles (up to three times), with a warning. Small
        objects (a few hundred triangles) need this: at 90% they lose their curvature.

    Returns
    -------
    pyvista.PolyData
        Decimated copy.
    """
    if not 0 <= reduction < 1:
        raise ConfigError(f"decimation must be a fraction in [0, 1), got {reduction}")
    if reduction == 0 or mesh.n_cells < 8:
        return mesh
    if not mesh.is_all_triangles:
        mesh = mesh.triangulate()
    area0 = mesh.area
    cell_data = {k: mesh.cell_data[k] for k in mesh.cell_data.keys()}
    r = float(reduction)
    for _ in range(4):
        out = _quadric_decimate(mesh, r)
        change = abs(out.area / area0 - 1) if area0 > 0 else 0.0
        if change <= max_area_change:
            break
        r_next = max(1.0 - 2.0 * (1.0 - r), 0.0)  # keep twice as many triangles
        log.warning("decimation %.2f changed the area by %.2f%% (> %.2f%%); retrying with %.2f",
                    r, 100 * change, 100 * max_area_change, r_next)
        r = r_next
        if r == 0.0:
            return mesh
    # Uniform per-mesh cell arrays (the label) survive decimation; others are dropped.
    for k, v in cell_data.items():
        if v.size and np.all(v == v[0]):
            out.cell_data[k] = np.full(out.n_cells, v[0], dtype=v.dtype)
    return out


def merge_label_surfaces(meshes: Mapping[int, pv.PolyData] | pv.PolyData) -> pv.PolyData:
    """One PolyData holding every label's surface, with ``label`` (cell) and ``RGB`` (point) arrays."""
    import pyvista as pv

    if isinstance(meshes, pv.PolyData):
        return meshes
    parts = []
    for lab, m in meshes.items():
        m = m.copy()
        m.cell_data["label"] = np.full(m.n_cells, lab, dtype=np.int32)
        rgb = (np.array(label_color(lab)) * 255).round().astype(np.uint8)
        m.point_data["RGB"] = np.tile(rgb, (m.n_points, 1))
        parts.append(m)
    if not parts:
        return pv.PolyData()
    merged = parts[0] if len(parts) == 1 else pv.merge(parts, merge_points=False)
    return merged


def surface_area_nm2(mesh: pv.PolyData) -> float:
    """Area of a mesh whose coordinates are in nm, in nm²."""
    return float(mesh.area)


def enclosed_volume_nm3(mesh: pv.PolyData) -> float:
    """Volume enclosed by a closed mesh in nm coordinates, in nm³ (divergence theorem)."""
    return float(abs(mesh.volume))


def write_mesh(mesh: pv.PolyData | Mapping[int, pv.PolyData], path: str | os.PathLike, *,
               force: bool = False) -> Path:
    """Write a mesh (or one mesh per label, merged) to ``.vtp``, ``.stl``, ``.ply`` or ``.obj``.

    Coordinates are in nm. ``.vtp`` keeps every array (``label``, ``RGB``); ``.ply`` keeps the
    per-vertex colours; ``.stl`` and ``.obj`` keep the geometry only. The file is written to a
    temporary sibling and renamed, so a crash leaves no half file.

    Parameters
    ----------
    mesh : pyvista.PolyData or dict of int to PolyData
        Surface(s) to write.
    path : path-like
        Output file; the suffix picks the format.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    from tomoml.io import atomic_path

    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise OutputError(f"{out}: unknown mesh format {suffix or '(none)'}; "
                          f"use one of {', '.join(MESH_SUFFIXES)}")
    merged = merge_label_surfaces(mesh)
    if merged.n_points == 0:
        raise OutputError(f"{out}: the mesh is empty (no surface at this level / no labels)")
    with atomic_path(out, force=force) as tmp:
        if suffix == ".ply" and "RGB" in merged.point_data:
            merged.save(tmp, texture="RGB")
        else:
            merged.save(tmp)
    log.info("wrote %s (%d triangles)", out, merged.n_cells)
    return out
