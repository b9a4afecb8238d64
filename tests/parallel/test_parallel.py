"""tomoml.parallel: scheduler resolution and the overlapping-chunk mapper on local schedulers."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from scipy import ndimage as ndi

from tomoml.errors import ConfigError, InputError
from tomoml.parallel import as_dask_array, map_blocks_overlap, resolve_scheduler


@pytest.mark.parametrize("name, expected", [("threads", "threads"), ("Sync", "sync"),
                                            ("synchronous", "sync"), ("processes", "processes"),
                                            (None, "threads"),
                                            ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786")])
def test_resolve_scheduler_names_and_addresses(name, expected):
    assert resolve_scheduler(name) == expected


def test_resolve_scheduler_rejects_unknown_name():
    with pytest.raises(ConfigError, match="scheduler must be one of"):
        resolve_scheduler("gpu-cluster")


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_gaussian_by_overlapping_chunks_is_bit_identical(random_field, scheduler):
    smooth = partial(ndi.gaussian_filter, sigma=2.0)  # radius int(4*2+0.5) = 8
    whole = smooth(random_field)
    chunked = map_blocks_overlap(random_field, smooth, depth=8, chunks=16, scheduler=scheduler)
    assert chunked.dtype == np.float32
    np.testing.assert_array_equal(chunked, whole)


def test_too_small_depth_differs_from_whole_volume(random_field):
    # the check above can fail: with less context than the filter radius it does
    smooth = partial(ndi.gaussian_filter, sigma=2.0)
    chunked = map_blocks_overlap(random_field, smooth, depth=2, chunks=16, scheduler="sync")
    assert np.abs(chunked - smooth(random_field)).max() > 1e-4


def test_median_filter_with_edge_mode_is_bit_identical(random_field):
    med = partial(ndi.median_filter, size=5, mode="nearest")
    chunked = map_blocks_overlap(random_field, med, depth=2, chunks=(12, 20, 9))
    np.testing.assert_array_equal(chunked, med(random_field))


def test_writes_zarr_and_mrc_outputs_chunk_by_chunk(random_field, tmp_path):
    from tomoml.io import read_volume

    smooth = partial(ndi.gaussian_filter, sigma=1.0)
    whole = smooth(random_field)
    for name in ("smooth.zarr", "smooth.mrc"):
        path = map_blocks_overlap(random_field, smooth, depth=4, chunks=16,
                                  out=tmp_path / name, voxel_size_A=3.5)
        vol = read_volume(path)
        np.testing.assert_array_equal(vol.data, whole)
        assert vol.voxel_size_A == pytest.approx(3.5)


def test_reads_mrc_path_and_writes_into_memmap(random_field, tmp_path):
    from tomoml.data import Volume as V
    from tomoml.io import write_volume

    write_volume(V(random_field, voxel_size_A=2.0), tmp_path / "in.mrc")
    out = np.lib.format.open_memmap(tmp_path / "out.npy", mode="w+", dtype=np.float32,
                                    shape=random_field.shape)
    smooth = partial(ndi.gaussian_filter, sigma=1.0)
    map_blocks_overlap(tmp_path / "in.mrc", smooth, depth=4, chunks=16, out=out)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), smooth(random_field))


def test_existing_output_is_refused_without_force(random_field, tmp_path):
    from tomoml.errors import OutputError

    target = tmp_path / "o.zarr"
    map_blocks_overlap(random_field, np.negative, depth=0, out=target)
    with pytest.raises(OutputError, match="exists"):
        map_blocks_overlap(random_field, np.negative, depth=0, out=target)
    map_blocks_overlap(random_field, np.negative, depth=0, out=target, force=True)


def test_as_dask_array_rejects_unknown_file_type(tmp_path):
    p = tmp_path / "vol.raw"
    p.write_bytes(b"\0" * 64)
    with pytest.raises(InputError, match="a .zarr store or an MRC"):
        as_dask_array(p)


def test_otsu_segmentation_by_chunks_equals_whole_volume_threshold(random_field, tmp_path):
    from skimage.filters import threshold_otsu

    from tomoml.io import read_volume
    from tomoml.parallel import segment_blocks

    out = segment_blocks(random_field, method="otsu", sigma=1.0, chunks=16,
                         out=tmp_path / "labels.mrc")
    labels = read_volume(out).data
    smooth = ndi.gaussian_filter(random_field, 1.0)
    # the subsample is the whole volume here (< 4 M voxels): the same threshold
    expected = (smooth > threshold_otsu(smooth)).astype(np.uint8)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, expected)
    assert 0.2 < labels.mean() < 0.8
