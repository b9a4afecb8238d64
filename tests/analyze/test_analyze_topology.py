import numpy as np
import pytest
from analyze_phantoms import ball, rod_lattice
from skimage.measure import euler_number as skimage_euler

from tomoml.analyze import (
    connected_components,
    connectivity_density,
    euler_characteristic,
    euler_number,
    percolation,
)


def test_euler_number_matches_scikit_image_connectivity_3():
    rng = np.random.default_rng(3)
    for p in (0.2, 0.4, 0.6):
        mask = rng.random((11, 13, 12)) < p
        assert euler_number(mask) == skimage_euler(mask, connectivity=3)


def test_torus_has_euler_characteristic_zero():
    n = 48
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    torus = (np.sqrt(x ** 2 + y ** 2) - 14) ** 2 + z ** 2 <= 5 ** 2
    res = euler_characteristic(torus)
    assert res["euler_characteristic"] == 0
    assert (res["objects"], res["tunnels"], res["cavities"]) == (1, 1, 0)


def test_n_disjoint_spheres_give_n_components_and_euler_n():
    shape = (40, 40, 40)
    centres = [(8, 8, 8), (8, 30, 10), (30, 10, 30), (28, 30, 28), (18, 20, 20)]
    mask = np.zeros(shape, bool)
    for c in centres:
        mask |= ball(shape, c, 5)
    assert euler_characteristic(mask)["euler_characteristic"] == len(centres)
    assert connected_components(mask, 10.0)["count"] == len(centres)


def test_hollow_cube_counts_one_cavity():
    mask = np.zeros((12, 12, 12), bool)
    mask[2:10, 2:10, 2:10] = True
    mask[4:8, 4:8, 4:8] = False
    res = euler_characteristic(mask)
    assert (res["euler_characteristic"], res["cavities"]) == (2, 1)


def test_component_sizes_in_voxels_and_nm3():
    mask = np.zeros((10, 10, 10), bool)
    mask[:2, :2, :2] = True  # 8 voxels
    mask[5:, 5:, 5:] = True  # 125 voxels
    res = connected_components(mask, voxel_size_A=20.0)
    assert res["count"] == 2
    assert res["largest_voxels"] == 125
    assert res["largest_nm3"] == pytest.approx(125 * 8.0)
    assert res["min_voxels"] == 8


def test_corner_voxel_contributes_one_eighth_to_the_structure():
    mask = np.zeros((3, 3, 3), bool)
    mask[0, 0, 0] = True
    assert connectivity_density(mask, 10.0)["delta_chi"] == pytest.approx(1 / 8)


@pytest.mark.parametrize("size, offset", [(36, 0), (36, 5), (48, 7), (60, 3)])
def test_edge_corrected_connectivity_density_of_a_subvolume_matches_the_lattice(size, offset):
    # A cubic rod lattice has chi = -2 per unit cell, so connectivity density 2 / period^3.
    period = 12
    whole = connectivity_density(rod_lattice(72, period=period), 10.0)
    sub_mask = rod_lattice(size, period=period, offset=offset)
    sub = connectivity_density(sub_mask, 10.0)
    expected = 2 / period ** 3
    assert whole["connectivity_density_per_vox3"] == pytest.approx(expected, rel=0.03)
    assert sub["connectivity_density_per_vox3"] == pytest.approx(expected, rel=0.05)
    assert sub["connectivity_density_per_nm3"] == pytest.approx(
        sub["connectivity_density_per_vox3"])


def test_without_the_edge_correction_the_subvolume_density_is_biased():
    period = 12
    sub = rod_lattice(36, period=period, offset=7)
    naive = (1 - euler_number(sub)) / sub.size
    assert abs(naive - 2 / period ** 3) / (2 / period ** 3) > 0.3


def test_straight_channels_percolate_along_their_axis_only():
    mask = np.zeros((30, 24, 24), bool)
    for y in (5, 12, 19):
        for x in (5, 12, 19):
            mask[:, y - 1:y + 2, x - 1:x + 2] = True
    res = percolation(mask)
    assert (res["z"], res["y"], res["x"]) == (True, False, False)
    assert res["percolating_fraction_z"] == 1.0
