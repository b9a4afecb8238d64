import numpy as np
import pytest
from analyze_phantoms import ball, gyroid

from tomoml.analyze import envelope_mask, local_thickness, porosity, thickness_distribution
from tomoml.errors import ConfigError


def test_gyroid_porosity_equals_the_pore_voxel_fraction_exactly():
    solid = gyroid(40, 20)
    labels = solid.astype(np.uint8)
    res = porosity(labels)
    assert res["porosity"] == np.count_nonzero(~solid) / solid.size
    assert res["pore_voxels"] + res["solid_voxels"] == solid.size


def test_phase_fractions_count_each_label():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[:2] = 1
    labels[2:5] = 2
    res = porosity(labels)
    assert res["phase_fractions"] == {"0": 0.5, "1": 0.2, "2": 0.3}
    assert res["porosity"] == 0.5


def test_voxels_outside_the_envelope_count_as_neither_pore_nor_solid():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[2:8, 2:8, 2:8] = 1
    labels[4:6, 4:6, 4:6] = 0  # 8 pore voxels inside a 216-voxel envelope
    env = np.zeros_like(labels, bool)
    env[2:8, 2:8, 2:8] = True
    res = porosity(labels, envelope=env)
    assert res["porosity"] == pytest.approx(8 / 216)
    assert res["envelope_voxels"] == 216


def test_closing_envelope_recovers_a_porous_particles_outline():
    shape = (48, 48, 48)
    particle = ball(shape, (23.5, 23.5, 23.5), 18)
    rng = np.random.default_rng(0)
    holes = np.zeros(shape, bool)
    for c in rng.integers(10, 38, (25, 3)):
        holes |= ball(shape, c, 3)
    labels = (particle & ~holes).astype(np.uint8)
    env = envelope_mask(labels, "closing", radius_vox=4)
    assert np.count_nonzero(env ^ particle) / particle.sum() < 0.02
    true_porosity = np.count_nonzero(holes & particle) / particle.sum()
    # Holes cut by the particle surface are open to the outside and partly excluded.
    assert porosity(labels, envelope=env)["porosity"] == pytest.approx(true_porosity, abs=0.015)


def test_convex_hull_envelope_of_a_ball_with_a_notch_is_the_ball():
    shape = (40, 40, 40)
    b = ball(shape, (19.5, 19.5, 19.5), 15)
    notched = b.copy()
    notched[15:25, 15:25, :12] = False  # a slot cut into the surface
    env = envelope_mask(notched.astype(np.uint8), "convex_hull")
    assert np.count_nonzero(env ^ b) / b.sum() < 0.01


def test_slab_envelope_of_a_tilted_porous_film_leaves_out_the_vacuum():
    # a gyroid film between two tilted planes (z = 14 + 0.1 y ... z = 34 + 0.1 y) in a 56-deep box
    nz, ny, nx = 56, 48, 48
    solid = gyroid(nz, 12)[:, :ny, :nx]
    z, y, _ = np.mgrid[:nz, :ny, :nx]
    inside = (z >= 14 + 0.1 * y) & (z <= 34 + 0.1 * y)
    labels = (solid & inside).astype(np.uint8)
    env = envelope_mask(labels, "slab")
    truth = np.count_nonzero(~solid & inside) / np.count_nonzero(inside)
    assert porosity(labels, envelope=env)["porosity"] == pytest.approx(truth, abs=0.01)
    assert porosity(labels)["porosity"] > truth + 0.2  # the whole box counts the vacuum
    assert np.count_nonzero(env ^ inside) < 0.03 * np.count_nonzero(inside)


def test_unknown_envelope_method_is_a_config_error():
    with pytest.raises(ConfigError, match="envelope"):
        envelope_mask(np.ones((4, 4, 4), np.uint8), "sphere")


@pytest.mark.parametrize("thickness", [10, 11])
def test_local_thickness_of_a_slab_is_its_thickness_as_a_diameter(thickness):
    slab = np.zeros((16, 24, 30), bool)
    slab[:, :, 5:5 + thickness] = True
    d = local_thickness(slab)
    assert d.dtype == np.uint16
    assert np.all(np.abs(d[slab].astype(int) - thickness) <= 1)
    assert np.all(d[~slab] == 0)


def test_thickness_distribution_reports_diameter_in_nm():
    slab = np.zeros((16, 24, 30), bool)
    slab[:, :, 5:15] = True
    dist = thickness_distribution(slab, voxel_size_A=5.0)  # 0.5 nm voxels
    assert dist["mean_nm"] == pytest.approx(10 * 0.5)
    assert dist["diameter_nm"] == [5.0]
    assert dist["volume_fraction"] == [1.0]
    assert "DIAMETER" in dist["quantity"]


def test_local_thickness_equals_porespy_dt_method_on_a_random_structure():
    import porespy as ps
    from scipy import ndimage as ndi

    im = ndi.gaussian_filter(np.random.default_rng(5).random((30, 32, 34)), 2.5) > 0.5
    values, idx = ps.filters.local_thickness(im, method="dt", return_indices=True)
    np.testing.assert_array_equal(local_thickness(im), 2 * np.asarray(values)[idx])
