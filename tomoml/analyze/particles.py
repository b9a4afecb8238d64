"""Per-object table of labelled particles: volume, equivalent diameter, surface, sphericity.

Objects are either the 26-connected components of a phase or a given instance label volume
(0 = background, 1..N = objects). For each object:

- volume = voxel count × voxel volume;
- equivalent diameter = diameter of the sphere of the same volume, (6 V / π)^(1/3);
- surface area = marching-cubes area of the object alone (smoothed like
  :func:`tomoml.analyze.surfaces.surface_area`); as for a whole phase, the faces of the volume are
  a cut, not surface: an object cut by them has ``touches_border`` set and its area and
  sphericity describe only the part inside the volume;
- sphericity = π^(1/3) (6 V)^(2/3) / A (1 for a sphere, less for any other shape);
- centroid (nm, z y x, from voxel centres, origin at voxel (0, 0, 0)) and bounding box (voxels,
  half-open: start inclusive, stop exclusive).
"""

from __future__ import annotations

import numpy as np

from tomoml._progress import track
from tomoml.analyze.surfaces import DEFAULT_SMOOTHING_SIGMA, surface_area

__all__ = ["particle_table", "COLUMNS"]

COLUMNS = (
    "label", "volume_voxels", "volume_nm3", "equivalent_diameter_nm", "surface_area_nm2",
    "surface_area_vox2", "sphericity", "centroid_z_nm", "centroid_y_nm", "centroid_x_nm",
    "bbox_z0", "bbox_y0", "bbox_x0", "bbox_z1", "bbox_y1", "bbox_x1", "touches_border",
)


def particle_table(objects: np.ndarray, voxel_size_A: float, *,
                   smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA,
                   min_voxels: int = 1,
                   areas_vox2: dict[int, float] | None = None) -> dict[str, list]:
    """One row per object of an instance label volume.

    Parameters
    ----------
    objects : (z, y, x) ndarray of int
        Instance labels (0 = background). Pass
        ``connected_components(mask, ..., return_labels=True)[1]`` for the particles of a phase.
    voxel_size_A : float
        Voxel size in ångström.
    smoothing_sigma : float
        Gaussian sigma (voxels) before marching cubes, as in :func:`surface_area`.
    min_voxels : int
        Skip objects smaller than this (noise specks).
    areas_vox2 : dict of label -> area, optional
        Surface areas already known (voxel-face units), e.g. the whole phase's area when the
        phase is one object; these objects are not meshed again.

    Returns
    -------
    dict of column name -> list
        Columns :data:`COLUMNS`, one entry per object.
    """
    from scipy import ndimage as ndi

    objects = np.asarray(objects)
    vs_nm = float(voxel_size_A) / 10.0
    table: dict[str, list] = {c: [] for c in COLUMNS}
    slices = ndi.find_objects(objects)
    shape = objects.shape
    halo = int(np.ceil(4 * smoothing_sigma)) + 2 if smoothing_sigma > 0 else 1
    for idx, sl in track(list(enumerate(slices, start=1)), desc="particles", unit="obj"):
        if sl is None:
            continue
        obj = objects[sl] == idx
        n = int(np.count_nonzero(obj))
        if n < min_voxels:
            continue
        # centroid from the voxel counts per plane along each axis (np.nonzero would build
        # three int64 coordinate arrays of the object's size: 1.6 GiB for a 512³ sponge)
        centroid = []
        for ax, start in enumerate(s.start for s in sl):
            other = tuple(k for k in range(3) if k != ax)
            per_plane = np.count_nonzero(obj, axis=other)
            centroid.append((float(per_plane @ np.arange(per_plane.size)) / n + start) * vs_nm)
        touches = any(s.start == 0 or s.stop == dim for s, dim in zip(sl, shape, strict=True))
        if areas_vox2 is not None and idx in areas_vox2:
            area_vox = float(areas_vox2[idx])
        else:
            # Close the surface inside the volume, leave it open at the volume's faces (the cut),
            # as surface_area does for a whole phase.
            pad = [(0 if s.start == 0 else halo, 0 if s.stop == dim else halo)
                   for s, dim in zip(sl, shape, strict=True)]
            area_vox = surface_area(np.pad(obj, pad), voxel_size_A,
                                    smoothing_sigma=smoothing_sigma)["area_vox2"]
        v_nm3 = n * vs_nm ** 3
        a_nm2 = area_vox * vs_nm ** 2
        row = {
            "label": idx, "volume_voxels": n, "volume_nm3": v_nm3,
            "equivalent_diameter_nm": (6.0 * v_nm3 / np.pi) ** (1.0 / 3.0),
            "surface_area_nm2": a_nm2, "surface_area_vox2": area_vox,
            "sphericity": (np.pi ** (1 / 3) * (6 * n) ** (2 / 3) / area_vox) if area_vox else None,
            "centroid_z_nm": centroid[0], "centroid_y_nm": centroid[1],
            "centroid_x_nm": centroid[2],
            "bbox_z0": sl[0].start, "bbox_y0": sl[1].start, "bbox_x0": sl[2].start,
            "bbox_z1": sl[0].stop, "bbox_y1": sl[1].stop, "bbox_x1": sl[2].stop,
            "touches_border": bool(touches),
        }
        for c in COLUMNS:
            table[c].append(row[c])
    return table
