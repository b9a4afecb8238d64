"""tomoml.analyze.chunked: additive metrics per chunk equal the whole-volume metrics."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import euler_number as skimage_euler

from tomoml import analyze
from tomoml.analyze import chunked

CHUNKINGS = [(16, 16, 16), (20, 13, 38), (9, 45, 20)]


def test_euler_table_gives_one_for_a_single_voxel_and_a_cube():
    one = np.zeros((3, 3, 3), np.uint8)
    one[1, 1, 1] = 1
    assert chunked.euler_number(one, chunks=2) == 1
    cube = np.zeros((10, 10, 10), np.uint8)
    cube[2:8, 2:8, 2:8] = 1
    assert chunked.euler_number(cube, chunks=5) == 1
    cube[4:6, 4:6, 4:6] = 0  # a cavity
    assert chunked.euler_number(cube, chunks=5) == 2
    cube[4:6, 4:6, :] = 0  # now a tunnel through it instead
    assert chunked.euler_number(cube, chunks=5) == 0


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_chunked_euler_is_bit_identical_to_whole_volume(porous_labels, chunks):
    mask = porous_labels > 0
    expected = analyze.euler_number(mask)
    assert expected == skimage_euler(mask, connectivity=3)
    assert abs(expected) > 10  # a structure with real topology, not a trivial 1
    assert chunked.euler_number(porous_labels, chunks=chunks) == expected
    assert chunked.euler_number(porous_labels, phase=2, chunks=chunks) == \
        analyze.euler_number(porous_labels == 2)


@pytest.mark.parametrize("chunks", CHUNKINGS[:2])
@pytest.mark.parametrize("sigma", [0.8, 0.0])
def test_chunked_surface_area_equals_whole_marching_cubes(porous_labels, chunks, sigma):
    whole = analyze.surface_area(porous_labels > 0, 10.0, smoothing_sigma=sigma)
    part = chunked.surface_area(porous_labels, 10.0, chunks=chunks, smoothing_sigma=sigma)
    assert part["area_nm2"] == pytest.approx(whole["area_nm2"], rel=1e-6)
    assert part["area_vox2"] > 1000


def test_chunked_fractions_equal_whole_porosity_exactly(porous_labels):
    assert chunked.phase_fractions(porous_labels, chunks=(16, 16, 16)) == \
        analyze.porosity(porous_labels)


def test_chunked_metrics_from_zarr_store_in_one_pass(porous_labels, tmp_path):
    from tomoml.io import write_zarr

    store = write_zarr(porous_labels, tmp_path / "labels.zarr", voxel_size_A=10.0, chunks=16)
    m = chunked.chunked_metrics(store, 10.0, scheduler="threads")
    assert m["porosity"] == analyze.porosity(porous_labels)["porosity"]
    assert m["euler_characteristic"] == analyze.euler_number(porous_labels > 0)
    area = analyze.surface_area(porous_labels > 0, 10.0)["area_nm2"]
    assert m["surface_area_nm2"] == pytest.approx(area, rel=1e-6)
    assert m["specific_surface_area_per_nm"] == pytest.approx(
        area / (porous_labels.size * 1.0), rel=1e-6)
