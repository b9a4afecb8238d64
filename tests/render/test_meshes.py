"""Surface meshes: geometry against analytic spheres, agreement with skimage/analyze, export."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
from render_volumes import ball, gaussian_blob

from tomoml.data import Volume
from tomoml.errors import OutputError
from tomoml.render import (
    LABEL_COLORS,
    decimate_surface,
    enclosed_volume_nm3,
    iso_surface,
    label_color,
    label_surfaces,
    smooth_surface,
    surface_area_nm2,
    write_mesh,
)

VOXEL_A = 5.0  # 0.5 nm voxels
NM = VOXEL_A / 10


def test_smoothed_label_sphere_matches_analytic_area_and_volume_within_2_percent(sphere_labels):
    labels, r = sphere_labels
    mesh = label_surfaces(labels, VOXEL_A)[1]
    area, volume = 4 * np.pi * (r * NM) ** 2, 4 / 3 * np.pi * (r * NM) ** 3
    assert surface_area_nm2(mesh) == pytest.approx(area, rel=0.02)
    assert enclosed_volume_nm3(mesh) == pytest.approx(volume, rel=0.02)


def test_raw_label_surface_is_skimage_marching_cubes_on_the_mask(sphere_labels):
    from skimage.measure import marching_cubes, mesh_surface_area

    labels, _ = sphere_labels
    mesh = label_surfaces(labels, VOXEL_A, smooth_iterations=0)[1]
    verts, faces, _, _ = marching_cubes(np.pad(labels, 1).astype(np.float32), 0.5,
                                        spacing=(NM,) * 3)
    assert surface_area_nm2(mesh) == pytest.approx(mesh_surface_area(verts, faces), rel=1e-4)
    # The staircase overestimates a sphere's area by ~8%: smoothing is what removes it.
    assert surface_area_nm2(mesh) > 1.05 * 4 * np.pi * (14.3 * NM) ** 2


def test_label_surface_area_agrees_with_analyze_surface_area(sphere_labels):
    surfaces = pytest.importorskip("tomoml.analyze.surfaces")
    labels, _ = sphere_labels
    raw = label_surfaces(labels, VOXEL_A, smooth_iterations=0)[1]
    smooth = label_surfaces(labels, VOXEL_A)[1]
    ref_raw = surfaces.surface_area(labels.astype(bool), VOXEL_A, smoothing_sigma=0,
                                    closed=True)["area_nm2"]
    ref = surfaces.surface_area(labels.astype(bool), VOXEL_A, closed=True)["area_nm2"]
    assert surface_area_nm2(raw) == pytest.approx(ref_raw, rel=1e-3)
    assert surface_area_nm2(smooth) == pytest.approx(ref, rel=0.02)


def test_mesh_coordinates_are_nm_in_xyz_order_with_origin():
    labels = ball((40, 48, 56), (10, 30, 40), 6)  # (z, y, x)
    vol = Volume(labels, voxel_size_A=20.0, origin_A=(100.0, 0.0, -50.0))
    mesh = label_surfaces(vol)[1]
    cx, cy, cz = mesh.center
    assert cx == pytest.approx(-5.0 + 40 * 2.0, abs=0.1)
    assert cy == pytest.approx(0.0 + 30 * 2.0, abs=0.1)
    assert cz == pytest.approx(10.0 + 10 * 2.0, abs=0.1)


def test_iso_surface_of_gaussian_blob_is_sphere_of_expected_radius():
    sigma, level = 8.0, 0.3
    density = gaussian_blob((48, 48, 48), (23.5, 23.5, 23.5), sigma)
    mesh = iso_surface(density, level, VOXEL_A)
    r = sigma * np.sqrt(-2 * np.log(level)) * NM
    assert surface_area_nm2(mesh) == pytest.approx(4 * np.pi * r ** 2, rel=0.01)
    assert enclosed_volume_nm3(mesh) == pytest.approx(4 / 3 * np.pi * r ** 3, rel=0.01)
    assert float(mesh.field_data["iso_level"][0]) == level


def test_default_iso_level_separates_object_from_background():
    density = gaussian_blob((32, 32, 32), (15.5, 15.5, 15.5), 4.0)
    mesh = iso_surface(density, None, VOXEL_A)
    assert 0.05 < float(mesh.field_data["iso_level"][0]) < 0.95
    assert mesh.n_cells > 100


def test_smoothing_changes_enclosed_volume_by_less_than_1_percent(sphere_labels):
    labels, _ = sphere_labels
    raw = label_surfaces(labels, VOXEL_A, smooth_iterations=0)[1]
    for iterations in (10, 20, 50):
        smooth = smooth_surface(raw, iterations)
        assert enclosed_volume_nm3(smooth) == pytest.approx(enclosed_volume_nm3(raw), rel=0.01)


def test_decimation_removes_90_percent_of_triangles_keeping_area_within_1_percent(sphere_labels):
    labels, _ = sphere_labels
    mesh = label_surfaces(labels, VOXEL_A)[1]
    small = decimate_surface(mesh, 0.9)
    assert small.n_cells <= 0.12 * mesh.n_cells
    assert surface_area_nm2(small) == pytest.approx(surface_area_nm2(mesh), rel=0.01)
    assert np.all(small.cell_data["label"] == 1)


def test_one_mesh_per_label_with_colours_from_the_fixed_table():
    labels = ball((40, 40, 40), (12, 12, 12), 6) + 3 * ball((40, 40, 40), (28, 28, 28), 5)
    meshes = label_surfaces(labels.astype(np.uint16), VOXEL_A)
    assert sorted(meshes) == [1, 3]
    assert np.all(meshes[3].cell_data["label"] == 3)
    assert meshes[1].center[0] < meshes[3].center[0]
    assert label_color(1) == pytest.approx(tuple(int(LABEL_COLORS[0][i:i + 2], 16) / 255
                                                 for i in (1, 3, 5)))
    assert label_color(1 + len(LABEL_COLORS)) == label_color(1)
    only = label_surfaces(labels, VOXEL_A, select=[3])
    assert sorted(only) == [3]


def test_many_small_objects_are_meshed_in_their_bounding_boxes():
    rng = np.random.default_rng(0)
    labels = np.zeros((48, 48, 48), np.uint16)
    for k in range(1, 61):
        z, y, x = rng.integers(2, 44, 3)
        labels[z:z + 3, y:y + 3, x:x + 3] = k
    meshes = label_surfaces(labels, VOXEL_A, smooth_iterations=0)
    present = set(np.unique(labels)) - {0}
    assert set(meshes) == present
    for k, m in meshes.items():  # each mesh encloses its own voxels only
        assert enclosed_volume_nm3(m) <= np.count_nonzero(labels == k) * NM ** 3 * 1.01


@pytest.mark.parametrize("suffix", [".vtp", ".stl", ".ply", ".obj"])
def test_mesh_export_round_trips(tmp_path, suffix):
    labels = ball((32, 32, 32), (12, 12, 12), 5) + 2 * ball((32, 32, 32), (22, 22, 22), 4)
    meshes = label_surfaces(labels, VOXEL_A, decimate=0.5)
    total_area = sum(surface_area_nm2(m) for m in meshes.values())
    path = write_mesh(meshes, tmp_path / f"surfaces{suffix}")
    back = pv.read(path)
    assert back.n_cells == sum(m.n_cells for m in meshes.values())
    assert back.area == pytest.approx(total_area, rel=1e-4)
    if suffix == ".vtp":
        assert sorted(np.unique(back.cell_data["label"])) == [1, 2]
    if suffix == ".ply":
        rgb = np.unique(np.asarray(back.point_data["RGB"]), axis=0)
        expected = {tuple(round(c * 255) for c in label_color(k)) for k in (1, 2)}
        assert {tuple(int(v) for v in c) for c in rgb} == expected
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_write_mesh_refuses_existing_file_and_unknown_format(tmp_path):
    mesh = label_surfaces(ball((24, 24, 24), (12, 12, 12), 5), VOXEL_A)
    out = write_mesh(mesh, tmp_path / "a.vtp")
    with pytest.raises(OutputError, match="exists"):
        write_mesh(mesh, out)
    write_mesh(mesh, out, force=True)
    with pytest.raises(OutputError, match="format"):
        write_mesh(mesh, tmp_path / "a.xyz")
