"""Zarr volumes: round trips, lazy dask reads, chunked dask writes, OME-Zarr groups."""

import dask.array as da
import numpy as np
import pytest
import zarr

from tomoml.data import TiltSeries, Volume
from tomoml.io import read_tilt_series, read_volume, write_tilt_series, write_volume
from tomoml.io.zarr_io import read_zarr, write_zarr


@pytest.fixture
def vol():
    return np.random.default_rng(0).normal(size=(10, 12, 14)).astype(np.float32)


def test_volume_round_trip_keeps_voxel_size_and_origin(tmp_path, vol):
    back = read_volume(write_volume(Volume(vol, 2.5, (0.0, 1.0, 2.0)), tmp_path / "v.zarr"))
    np.testing.assert_array_equal(back.data, vol)
    assert back.voxel_size_A == 2.5 and back.origin_A == (0.0, 1.0, 2.0)


def test_store_is_chunked_and_reads_lazily_as_dask(tmp_path, vol):
    path = write_zarr(vol, tmp_path / "v.zarr", voxel_size_A=1.0, chunks=4)
    assert zarr.open_array(str(path), mode="r").chunks == (4, 4, 4)
    lazy = read_zarr(path, lazy=True).data
    assert isinstance(lazy, da.Array) and lazy.chunksize == (4, 4, 4)
    assert float(lazy.sum().compute()) == pytest.approx(float(vol.sum()), rel=1e-5)


def test_dask_array_is_written_chunk_by_chunk(tmp_path, vol):
    path = write_zarr(da.from_array(vol, chunks=3), tmp_path / "d.zarr", voxel_size_A=1.0,
                      chunks=5)
    np.testing.assert_array_equal(read_zarr(path).data, vol)


def test_labels_and_tilt_series_round_trip(tmp_path, vol):
    labels = (vol > 0).astype(np.uint8) + (vol > 1)
    back = read_volume(write_volume(Volume(labels, 1.0), tmp_path / "l.zarr"))
    assert back.is_labels
    np.testing.assert_array_equal(back.data, labels)
    ts = TiltSeries(vol, np.linspace(-45, 45, 10), pixel_size_A=2.0, tilt_axis_deg=3.0)
    back_ts = read_tilt_series(write_tilt_series(ts, tmp_path / "ts.zarr"))
    np.testing.assert_allclose(back_ts.angles_deg, ts.angles_deg)
    assert back_ts.tilt_axis_deg == 3.0


def test_ome_zarr_group_gives_first_scale_and_voxel_size(tmp_path, vol):
    root = zarr.open_group(str(tmp_path / "ome.zarr"), mode="w")
    root.create_array("0", data=vol)
    root.attrs["multiscales"] = [{
        "axes": [{"name": n, "type": "space", "unit": "nanometer"} for n in "zyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [0.8, 0.8, 0.8]}]}],
    }]
    back = read_volume(tmp_path / "ome.zarr")
    np.testing.assert_array_equal(back.data, vol)
    assert back.voxel_size_A == pytest.approx(8.0)
