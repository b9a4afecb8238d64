"""Outputs: never replace an existing file without force; a failing writer leaves nothing."""

import numpy as np
import pytest

import tomoml.io.mrc as mrc_mod
from tomoml.data import TiltSeries, Volume
from tomoml.errors import OutputError
from tomoml.io import (
    read_tilt_series,
    read_volume,
    write_angles,
    write_tilt_series,
    write_volume,
    write_xf,
)
from tomoml.io.imod import XfTransforms


@pytest.fixture
def vol():
    return Volume(np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32), 2.0)


@pytest.mark.parametrize("name", ["out.mrc", "out.tif", "out.zarr"])
def test_existing_output_without_force_is_refused_and_left_untouched(tmp_path, vol, name):
    path = write_volume(vol, tmp_path / name)
    before = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                    for p in [path, *path.rglob("*")])
    with pytest.raises(OutputError, match="output exists; use --force"):
        write_volume(vol, path)
    after = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                   for p in [path, *path.rglob("*")])
    assert before == after


def test_force_replaces_an_existing_output(tmp_path, vol):
    path = write_volume(vol, tmp_path / "v.mrc")
    write_volume(vol.replace(data=vol.data * 2), path, force=True)
    np.testing.assert_array_equal(read_volume(path).data, vol.data * 2)


def test_text_outputs_refuse_to_overwrite(tmp_path):
    tlt = write_angles([0, 1], tmp_path / "a.tlt")
    xf = write_xf(XfTransforms.from_alignment(np.zeros((2, 2))), tmp_path / "a.xf")
    for call in (lambda: write_angles([5, 6], tlt), lambda: write_xf(
            XfTransforms.from_alignment(np.ones((2, 2))), xf)):
        with pytest.raises(OutputError):
            call()
    assert tlt.read_text() == "0.0000\n1.0000\n"


def _boom(*args, **kwargs):
    raise RuntimeError("disk full")


@pytest.mark.parametrize("stream", [False, True])
def test_mrc_writer_failing_midway_leaves_no_file(tmp_path, vol, monkeypatch, stream):
    import mrcfile.mrcobject

    if stream:  # the slab-by-slab memory-mapped path used for large arrays
        monkeypatch.setattr(mrc_mod, "_STREAM_BYTES", 10)
    # fails after the data went into the temporary file, before the header is complete
    monkeypatch.setattr(mrcfile.mrcobject.MrcObject, "set_volume", _boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_volume(vol, tmp_path / "v.mrc")
    assert list(tmp_path.iterdir()) == []


def test_streamed_mrc_write_round_trips(tmp_path, vol, monkeypatch):
    monkeypatch.setattr(mrc_mod, "_STREAM_BYTES", 10)
    ts = TiltSeries(vol.data, np.linspace(-30, 30, 4), 2.0, tilt_axis_deg=5.0)
    back = read_tilt_series(write_tilt_series(ts, tmp_path / "ts.mrc"))
    np.testing.assert_array_equal(back.data, vol.data)
    np.testing.assert_allclose(back.angles_deg, ts.angles_deg)
    assert (back.pixel_size_A, back.tilt_axis_deg) == (2.0, 5.0)
    labels = Volume((vol.data > 0).astype(np.uint8), 3.0, (1.0, 2.0, 3.0))
    back_l = read_volume(write_volume(labels, tmp_path / "l.mrc"))
    assert back_l.is_labels and back_l.origin_A == (1.0, 2.0, 3.0)
    np.testing.assert_array_equal(back_l.data, labels.data)


def test_tiff_writer_failing_midway_leaves_no_file_and_keeps_the_old_one(tmp_path, vol,
                                                                         monkeypatch):
    import tifffile

    path = write_volume(vol, tmp_path / "v.tif")
    old = path.read_bytes()

    def half_write(file, data, **kwargs):
        with open(file, "wb") as f:
            f.write(b"II*\0 partial")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_volume(vol, path, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["v.tif"]
    assert path.read_bytes() == old


def test_zarr_writer_failing_midway_leaves_no_directory(tmp_path, vol, monkeypatch):
    import zarr

    real = zarr.create_array

    def create_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(zarr, "create_array", create_then_fail)
    with pytest.raises(OSError):
        write_volume(vol, tmp_path / "v.zarr")
    assert list(tmp_path.iterdir()) == []
