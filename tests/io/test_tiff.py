"""TIFF stacks: round trips and pixel size from ImageJ / TIFF resolution metadata."""

import numpy as np
import pytest
import tifffile

from tomoml.data import TiltSeries, Volume
from tomoml.io import read_tilt_series, read_volume, write_tilt_series, write_volume
from tomoml.io.tiff import read_tiff


@pytest.fixture
def stack():
    return np.random.default_rng(0).normal(size=(5, 8, 9)).astype(np.float32)


def test_volume_round_trip_keeps_data_voxel_size_and_origin(tmp_path, stack):
    back = read_volume(write_volume(Volume(stack, 6.5, (1.0, 2.0, 3.0)), tmp_path / "v.tif"))
    np.testing.assert_array_equal(back.data, stack)
    assert back.voxel_size_A == pytest.approx(6.5)
    assert back.origin_A == (1.0, 2.0, 3.0)


def test_written_file_carries_imagej_scale_in_nm(tmp_path, stack):
    path = write_volume(Volume(stack, 6.5), tmp_path / "v.tiff")
    with tifffile.TiffFile(path) as tif:
        assert tif.imagej_metadata["unit"] == "nm"
        num, den = tif.pages.first.tags["XResolution"].value
        assert num / den == pytest.approx(1 / 0.65, rel=1e-6)  # pixels per nm


def test_labels_round_trip(tmp_path):
    labels = np.random.default_rng(1).integers(0, 300, size=(3, 4, 5))
    back = read_volume(write_volume(Volume(labels, 2.0), tmp_path / "l.tif"))
    assert back.is_labels and back.data.dtype == np.uint16
    np.testing.assert_array_equal(back.data, labels)


def test_tilt_series_round_trip(tmp_path, stack):
    ts = TiltSeries(stack, [-40, -20, 0, 20, 40], pixel_size_A=3.0, tilt_axis_deg=90.0)
    back = read_tilt_series(write_tilt_series(ts, tmp_path / "ts.tif"))
    np.testing.assert_array_equal(back.data, stack)
    np.testing.assert_allclose(back.angles_deg, ts.angles_deg)
    assert (back.pixel_size_A, back.tilt_axis_deg) == (pytest.approx(3.0), 90.0)


def test_pixel_size_from_another_programs_imagej_metadata(tmp_path, stack):
    path = tmp_path / "fiji.tif"
    tifffile.imwrite(path, stack, imagej=True, resolution=(1 / 0.0034, 1 / 0.0034),
                     metadata={"unit": "micron", "spacing": 0.0034})
    assert read_tiff(path).pixel_size_A == pytest.approx(34.0)


def test_pixel_size_from_centimetre_resolution_tag(tmp_path, stack):
    path = tmp_path / "cm.tif"
    tifffile.imwrite(path, stack, resolution=(5e6, 5e6), resolutionunit=3)  # 2 nm pixels
    assert read_tiff(path).pixel_size_A == pytest.approx(20.0)


def test_editor_default_dpi_is_not_a_pixel_size_and_the_argument_is_used(tmp_path, stack):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, stack, resolution=(72, 72), resolutionunit=2)
    assert read_tiff(path).pixel_size_A is None
    ts = read_tilt_series(path, np.linspace(-60, 60, 5), pixel_size_A=7.5)
    assert ts.pixel_size_A == 7.5
