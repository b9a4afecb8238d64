"""Phantoms: their stated truth matches what is in the arrays."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import euler_number

from tomoml.errors import ConfigError
from tomoml.synthetic import PHANTOMS, gyroid, make_phantom, porous_particle, sphere_pack, sponge

SHAPE = (48, 40, 48)


@pytest.mark.parametrize("porosity", [0.3, 0.5, 0.7])
def test_gyroid_porosity_equals_its_level_set_fraction(porosity):
    # 4 whole unit cells per axis: the voxel fraction samples the continuum fraction
    g = gyroid((64, 64, 64), seed=3, porosity=porosity, period=16, envelope="none")
    measured = float(np.mean(g.labels == 0))
    assert g.truth["porosity"] == pytest.approx(measured, abs=1e-12)
    assert measured == pytest.approx(porosity, abs=0.005)


def test_gyroid_level_is_zero_at_half_porosity_by_symmetry():
    # f(-x) = -f(x) for the gyroid, so its median over a cell is 0
    g = gyroid((32, 32, 32), porosity=0.5, period=16, envelope="none")
    assert g.truth["level"] == pytest.approx(0.0, abs=2e-3)


def test_spinodal_porosity_is_exact_inside_the_envelope():
    s = sponge(SHAPE, kind="spinodal", seed=1, porosity=0.35, period=12)
    env = s.pore_mask | (s.labels == 1)
    assert np.mean(s.labels[env] == 0) == pytest.approx(0.35, abs=1e-4)
    assert not s.labels[~env].any()  # vacuum outside the pillar


@pytest.mark.parametrize("name", sorted(PHANTOMS))
def test_phantom_is_deterministic_by_seed_and_differs_across_seeds(name):
    a = make_phantom(name, SHAPE, seed=5)
    b = make_phantom(name, SHAPE, seed=5)
    c = make_phantom(name, SHAPE, seed=6)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.volume, b.volume)
    assert np.mean(a.labels != c.labels) > 0.01


@pytest.mark.parametrize("name", sorted(PHANTOMS))
def test_phantom_arrays_have_the_agreed_types(name):
    p = make_phantom(name, SHAPE, seed=0)
    assert p.volume.dtype == np.float32 and p.labels.dtype == np.uint8
    assert p.volume.shape == p.labels.shape == SHAPE
    assert set(np.unique(p.labels)) <= set(p.phases)
    assert np.all(p.volume[p.labels == 0] == 0)  # vacuum and pores are empty


def test_porous_particle_euler_number_is_one_body_with_n_cavities():
    p = porous_particle((64, 64, 64), seed=2)
    assert p.truth["n_pores"] >= 20
    assert euler_number(p.labels > 0, connectivity=3) == p.truth["euler_number"]
    assert p.truth["euler_number"] == 1 + p.truth["n_pores"]


def test_porous_particle_pores_are_separate_and_enclosed():
    p = porous_particle((64, 64, 64), seed=4)
    _, n = ndimage.label(p.pore_mask)
    assert n == p.truth["n_pores"] == int(p.instances.max())
    # no pore voxel touches the vacuum outside: the background has one 6-connected outer part
    outer, _ = ndimage.label(p.labels == 0)
    assert len(np.unique(outer[p.pore_mask])) == n
    assert not np.any(np.isin(outer[p.pore_mask], outer[0, 0, 0]))


def test_porous_particle_porosity_matches_its_pore_radii():
    p = porous_particle((96, 96, 96), seed=0)
    assert p.truth["porosity"] == pytest.approx(p.truth["porosity_analytic"], rel=0.03)
    assert 0.05 < p.truth["porosity"] < 0.3


def test_porous_particle_has_three_phases_with_dense_particles_densest():
    p = porous_particle((64, 64, 64), seed=0, edge_sigma=0.0)
    assert p.truth["n_surface_particles"] >= 8
    vals = {k: np.unique(p.volume[p.labels == k]) for k in (0, 1, 2)}
    assert vals[0].tolist() == [0.0]
    assert vals[2][0] > vals[1][0] > 0
    _, n = ndimage.label(p.labels == 2)
    assert n == p.truth["n_surface_particles"]


def test_sphere_pack_count_equals_connected_objects():
    s = sphere_pack((64, 64, 64), seed=1)
    _, n = ndimage.label(s.labels > 0, structure=np.ones((3, 3, 3)))
    assert n == s.truth["n_spheres"] == int(s.instances.max()) > 20
    assert euler_number(s.labels > 0, connectivity=3) == s.truth["euler_number"]


def test_sphere_pack_volume_fraction_matches_its_radii():
    s = sphere_pack((96, 96, 96), seed=0)
    assert s.truth["solid_fraction"] == pytest.approx(s.truth["solid_fraction_analytic"],
                                                      rel=0.03)


def test_sphere_pack_requested_count_is_honoured():
    s = sphere_pack(SHAPE, seed=0, n_spheres=7)
    assert s.truth["n_spheres"] == 7 and int(s.instances.max()) == 7


def test_objects_fit_the_cylinder_inscribed_in_the_zx_plane():
    # so that no projection at any tilt runs off a detector as wide as x
    nz, ny, nx = SHAPE
    z = np.arange(nz)[:, None] - (nz - 1) / 2
    x = np.arange(nx)[None, :] - (nx - 1) / 2
    outside = np.sqrt(z**2 + x**2) > min(nz, nx) / 2
    for name in PHANTOMS:
        p = make_phantom(name, SHAPE, seed=0)
        assert not p.labels.transpose(1, 0, 2)[:, outside].any(), name


def test_edge_sigma_softens_density_but_not_labels():
    sharp = porous_particle(SHAPE, seed=0)
    soft = porous_particle(SHAPE, seed=0, edge_sigma=1.0)
    np.testing.assert_array_equal(sharp.labels, soft.labels)
    assert len(np.unique(soft.volume)) > 100 > len(np.unique(sharp.volume))
    assert soft.volume.sum() == pytest.approx(sharp.volume.sum(), rel=1e-3)


def test_unknown_phantom_and_bad_parameters_raise_config_errors():
    with pytest.raises(ConfigError, match="unknown phantom 'cube'"):
        make_phantom("cube", SHAPE)
    with pytest.raises(ConfigError, match="porosity"):
        sponge(SHAPE, porosity=1.5)
    with pytest.raises(ConfigError, match="kind"):
        sponge(SHAPE, kind="foam")
    with pytest.raises(ConfigError, match="shape"):
        porous_particle((32, 32))
    with pytest.raises(ConfigError, match="phantom 'gyroid'"):
        make_phantom("gyroid", SHAPE, n_pores=3)
