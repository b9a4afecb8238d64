"""DigitalMicrograph tilt series: real DM3 bytes (written by a test helper) and the metadata
extraction on dictionaries shaped like rosettasciio's output."""

import numpy as np
import pytest
from _io_dm3_writer import write_dm3

from tomoml.errors import InputError
from tomoml.io import read_tilt_series
from tomoml.io.dm import dm_tilt_metadata

_TOMO_TAGS = {"Tomography": {"Tomography setup": {"Tilt angles": {
    "Minimum tilt angle (deg)": -60.0, "Maximum tilt angle (deg)": 60.0,
    "Tilt angle step (deg)": 30.0}}}}


@pytest.fixture
def stack():
    return np.random.default_rng(0).normal(size=(5, 6, 7)).astype(np.float32)


def test_dm3_stack_gives_data_pixel_size_and_tomography_angles(tmp_path, stack):
    path = tmp_path / "series.dm3"
    write_dm3(path, stack, scales=[1.0, 0.25, 0.25], units=["", "nm", "nm"],
              image_tags=_TOMO_TAGS)
    ts = read_tilt_series(path)
    np.testing.assert_array_equal(ts.data, stack)
    np.testing.assert_allclose(ts.angles_deg, [-60, -30, 0, 30, 60])
    assert ts.pixel_size_A == pytest.approx(2.5)


def test_dm3_stack_with_stack_axis_calibrated_in_degrees(tmp_path, stack):
    path = tmp_path / "deg.dm3"
    write_dm3(path, stack, scales=[5.0, 1.0, 1.0], units=["deg", "µm", "µm"])
    ts = read_tilt_series(path)
    np.testing.assert_allclose(ts.angles_deg, 5.0 * np.arange(5))
    assert ts.pixel_size_A == pytest.approx(1e4)


def test_folder_of_dm3_images_is_stacked_by_stage_alpha(tmp_path, stack):
    alphas = [20.0, -40.0, 0.0, 40.0, -20.0]
    folder = tmp_path / "tilts"
    folder.mkdir()
    for i, a in enumerate(alphas):
        write_dm3(folder / f"img_{i:02d}.dm3", stack[i], scales=[0.5, 0.5], units=["nm", "nm"],
                  image_tags={"Microscope Info": {"Stage Position": {"Stage Alpha": a}}})
    ts = read_tilt_series(folder)
    np.testing.assert_allclose(ts.angles_deg, sorted(alphas))
    np.testing.assert_array_equal(ts.data[0], stack[1])  # -40 deg image first
    assert ts.pixel_size_A == pytest.approx(5.0)


def _signal(shape, *, image_tags=None, stack_units="", metadata=None):
    axes = [{"name": "z", "size": shape[0], "scale": 2.0, "offset": -60.0,
             "units": stack_units, "navigate": True}] if len(shape) == 3 else []
    axes += [{"name": n, "size": s, "scale": 0.12, "offset": 0.0, "units": "nm",
              "navigate": False} for n, s in zip("yx", shape[-2:], strict=True)]
    return {"data": np.zeros(shape, np.float32), "axes": axes, "metadata": metadata or {},
            "original_metadata": {"ImageList": {"TagGroup0": {"ImageTags": image_tags or {}}}}}


def test_metadata_from_hyperspy_style_underscored_tag_names():
    tags = {"Tomography": {"Tomography_setup": {"Tilt_angles": {
        "Minimum_tilt_angle_deg": -10.0, "Maximum_tilt_angle_deg": 10.0,
        "Tilt_angle_step_deg": 5.0}}}}
    meta = dm_tilt_metadata(_signal((5, 4, 4), image_tags=tags))
    np.testing.assert_allclose(meta.angles_deg, [-10, -5, 0, 5, 10])
    assert meta.pixel_size_A == pytest.approx(1.2)


def test_metadata_angles_from_degree_axis_and_stage_alpha():
    meta = dm_tilt_metadata(_signal((4, 3, 3), stack_units="°"))
    np.testing.assert_allclose(meta.angles_deg, [-60, -58, -56, -54])
    md = {"Acquisition_instrument": {"TEM": {"Stage": {"tilt_alpha": 12.5}}}}
    assert dm_tilt_metadata(_signal((3, 3), metadata=md)).angles_deg.tolist() == [12.5]


def test_metadata_without_angles_gives_none_and_reader_asks_for_angles(tmp_path, stack):
    assert dm_tilt_metadata(_signal((4, 3, 3))).angles_deg is None
    path = tmp_path / "plain.dm3"
    write_dm3(path, stack, scales=[1.0, 0.25, 0.25], units=["", "nm", "nm"])
    with pytest.raises(InputError, match=r"plain\.dm3: no tilt angles.*--angles"):
        read_tilt_series(path)


def test_tomography_tags_that_disagree_with_the_stack_are_input_error():
    tags = {"Tomography": {"Tomography setup": {"Tilt angles": {
        "Minimum tilt angle (deg)": -60.0, "Maximum tilt angle (deg)": 60.0,
        "Tilt angle step (deg)": 2.0}}}}
    with pytest.raises(InputError, match="61 tilts .* for 5 images"):
        dm_tilt_metadata(_signal((5, 3, 3), image_tags=tags), source="x.dm4")
