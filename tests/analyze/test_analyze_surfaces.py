import numpy as np
import pytest
from analyze_phantoms import ball

from tomoml.analyze import specific_surface_area, surface_area


@pytest.fixture
def sphere():
    r = 14
    return ball((40, 40, 40), (19.5, 19.5, 19.5), r), r


def test_sphere_area_within_2_percent(sphere):
    mask, r = sphere
    res = surface_area(mask, voxel_size_A=10.0)
    assert res["area_vox2"] == pytest.approx(4 * np.pi * r ** 2, rel=0.02)
    assert res["area_nm2"] == pytest.approx(res["area_vox2"])  # 1 nm voxels


def test_sphere_volume_within_2_percent(sphere):
    mask, r = sphere
    assert mask.sum() == pytest.approx(4 / 3 * np.pi * r ** 3, rel=0.02)


def test_raw_binary_mesh_overestimates_the_area_which_smoothing_removes(sphere):
    mask, r = sphere
    raw = surface_area(mask, smoothing_sigma=0)["area_vox2"] / (4 * np.pi * r ** 2)
    assert raw > 1.05  # the staircase bias the default smoothing is there to remove


def test_area_scales_with_voxel_size_squared(sphere):
    mask, _ = sphere
    a1 = surface_area(mask, voxel_size_A=10.0)["area_nm2"]
    a2 = surface_area(mask, voxel_size_A=25.0)["area_nm2"]
    assert a2 == pytest.approx(a1 * 2.5 ** 2)


def test_slab_chunking_gives_the_same_area_as_one_block(sphere):
    mask, _ = sphere
    whole = surface_area(mask, slab=1000)["area_vox2"]
    assert surface_area(mask, slab=5)["area_vox2"] == pytest.approx(whole, rel=1e-5)


def test_specific_surface_reports_per_total_and_per_phase_volume():
    shape = (40, 40, 40)
    mask = ball(shape, (19.5, 19.5, 19.5), 12)
    res = specific_surface_area(mask, voxel_size_A=20.0)  # 2 nm voxels
    a = res["surface_area_nm2"]
    assert res["S_over_V_total_per_nm"] == pytest.approx(a / (mask.size * 8.0))
    assert res["S_over_V_phase_per_nm"] == pytest.approx(a / (mask.sum() * 8.0))
    # a sphere's S/V is 3/R: R = 12 voxels = 24 nm
    assert res["S_over_V_phase_per_nm"] == pytest.approx(3 / 24, rel=0.03)


def test_flying_edges_area_equals_scikit_image_marching_cubes():
    from analyze_phantoms import gyroid
    from scipy import ndimage as ndi
    from skimage.measure import marching_cubes, mesh_surface_area

    from tomoml.analyze.surfaces import isosurface_area

    for mask in (ball((40, 36, 32), (20, 18, 16), 11.3), gyroid(40, 16)):
        field = ndi.gaussian_filter(mask.astype(np.float32), 0.8, mode="nearest")
        verts, faces, _, _ = marching_cubes(field, 0.5, method="lewiner")
        assert isosurface_area(field, 0.5) == pytest.approx(mesh_surface_area(verts, faces), rel=1e-6)
