import numpy as np
import pytest
from analyze_phantoms import ball, rod_lattice

from tomoml.analyze import connected_components, particle_table, skeleton_statistics


def test_sphere_table_row_volume_area_sphericity_centroid():
    shape = (40, 40, 40)
    r = 12
    mask = ball(shape, (20, 18, 21), r)
    _, objects = connected_components(mask, 10.0, return_labels=True)
    t = particle_table(objects, voxel_size_A=10.0)
    assert t["label"] == [1]
    assert t["volume_nm3"][0] == pytest.approx(4 / 3 * np.pi * r ** 3, rel=0.02)
    assert t["surface_area_nm2"][0] == pytest.approx(4 * np.pi * r ** 2, rel=0.02)
    assert t["sphericity"][0] == pytest.approx(1.0, abs=0.05)
    assert t["equivalent_diameter_nm"][0] == pytest.approx(2 * r, rel=0.01)
    assert (t["centroid_z_nm"][0], t["centroid_y_nm"][0], t["centroid_x_nm"][0]) == \
        pytest.approx((20, 18, 21), abs=1e-6)
    assert (t["bbox_z0"][0], t["bbox_z1"][0]) == (8, 33)
    assert t["touches_border"] == [False]


def test_elongated_object_is_less_spherical():
    objects = np.zeros((20, 20, 60), np.uint8)
    objects[7:13, 7:13, 5:55] = 3
    t = particle_table(objects, voxel_size_A=10.0)
    assert t["label"] == [3]
    assert t["sphericity"][0] < 0.75


def test_lattice_skeleton_has_one_junction_per_node_and_six_branches_per_node():
    # 3x3x3 nodes; 54 branches between nodes and 54 to the border
    stats = skeleton_statistics(rod_lattice(36, period=12), voxel_size_A=20.0)
    assert stats["junctions"] == 27
    assert stats["branches"] == 108
    assert stats["mean_branch_length_nm"] == pytest.approx(stats["mean_branch_length_vox"] * 2)
    # node-to-node branches are one period (12 voxels), border branches half of it
    assert 8.0 <= stats["mean_branch_length_vox"] <= 10.0


def test_centroid_of_an_off_centre_box_is_its_middle_in_nm():
    from tomoml.analyze.particles import particle_table

    objects = np.zeros((20, 30, 40), np.int32)
    objects[2:6, 10:20, 5:36] = 1
    row = particle_table(objects, 20.0)
    assert row["centroid_z_nm"][0] == pytest.approx(3.5 * 2.0)
    assert row["centroid_y_nm"][0] == pytest.approx(14.5 * 2.0)
    assert row["centroid_x_nm"][0] == pytest.approx(20.0 * 2.0)
