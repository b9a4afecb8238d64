"""The data model validates what crosses module boundaries."""

import numpy as np
import pytest

from tomoml.data import TiltSeries, Volume
from tomoml.errors import InputError


def test_tilt_series_converts_to_float32_and_keeps_angles():
    ts = TiltSeries(np.ones((3, 4, 5), np.int16), [-10, 0, 10], pixel_size_A=2.5)
    assert ts.data.dtype == np.float32
    np.testing.assert_array_equal(ts.angles_deg, [-10.0, 0.0, 10.0])
    assert ts.shape == (3, 4, 5) and ts.n_tilts == 3


def test_tilt_series_rejects_angle_count_mismatch_naming_the_source():
    with pytest.raises(InputError, match=r"stack\.mrc: 2 tilt angles for 3 images"):
        TiltSeries(np.zeros((3, 4, 4), np.float32), [0, 1], source="stack.mrc")


def test_tilt_series_rejects_2d_data():
    with pytest.raises(InputError, match="must be 3D"):
        TiltSeries(np.zeros((4, 4), np.float32), [0])


def test_tilt_series_rejects_nan_and_radians_like_angles():
    data = np.zeros((2, 4, 4), np.float32)
    data[1, 2, 2] = np.nan
    with pytest.raises(InputError, match="NaN or Inf"):
        TiltSeries(data, [0, 1])
    with pytest.raises(InputError, match="within ±90°"):
        TiltSeries(np.zeros((2, 4, 4), np.float32), [0, 120])


def test_sorted_by_angle_orders_images_with_their_angles():
    data = np.stack([np.full((2, 2), v, np.float32) for v in (3, 1, 2)])
    ts = TiltSeries(data, [30, -30, 0]).sorted_by_angle()
    np.testing.assert_array_equal(ts.angles_deg, [-30, 0, 30])
    np.testing.assert_array_equal(ts.data[:, 0, 0], [1, 2, 3])


def test_volume_keeps_integer_labels_and_bool_becomes_uint8():
    assert Volume(np.zeros((2, 2, 2), np.uint16)).is_labels
    v = Volume(np.ones((2, 2, 2), bool), voxel_size_A=5)
    assert v.data.dtype == np.uint8 and v.voxel_size_nm == 0.5


def test_volume_rejects_bad_voxel_size_and_shape():
    with pytest.raises(InputError, match="voxel size"):
        Volume(np.zeros((2, 2, 2), np.float32), voxel_size_A=0)
    with pytest.raises(InputError, match="must be 3D"):
        Volume(np.zeros((2, 2), np.float32))
