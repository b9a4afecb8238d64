"""SerialEM .mdoc: angles per ZValue, pixel spacing, tilt-axis angle; found beside a stack."""

import numpy as np
import pytest

from tomoml.data import TiltSeries
from tomoml.errors import InputError
from tomoml.io import read_mdoc, read_tilt_series
from tomoml.io.mrc import write_mrc

_MDOC = """PixelSpacing = 2.17
ImageFile = TS_01.mrc
ImageSize = 9 8
DataMode = 1

[T = SerialEM: Digitized on EMBL Krios   26-Nov-25  10:31:02    ]

[T =     Tilt axis angle = {axis}, binning = 1  spot = 8  camera = 0]

[ZValue = 0]
TiltAngle = 0.0012
PixelSpacing = 2.17
ExposureDose = 3.1

[ZValue = 1]
TiltAngle = 3.0015

[ZValue = 2]
TiltAngle = -2.9987
"""


def test_mdoc_gives_angles_in_zvalue_order_pixel_size_and_title_tilt_axis(tmp_path):
    path = tmp_path / "TS_01.mrc.mdoc"
    path.write_text(_MDOC.format(axis="-94.7"))
    meta = read_mdoc(path)
    np.testing.assert_allclose(meta.angles_deg, [0.0012, 3.0015, -2.9987])
    assert meta.pixel_size_A == pytest.approx(2.17)
    assert meta.tilt_axis_deg == pytest.approx(-94.7)


def test_tilt_axis_angle_key_is_read(tmp_path):
    path = tmp_path / "a.mdoc"
    path.write_text("TiltAxisAngle = 84.1\n[ZValue = 0]\nTiltAngle = -1\n[ZValue = 1]\n"
                    "TiltAngle = 1\n")
    assert read_mdoc(path).tilt_axis_deg == pytest.approx(84.1)


def test_zvalues_with_a_gap_are_input_error(tmp_path):
    path = tmp_path / "gap.mdoc"
    path.write_text("[ZValue = 0]\nTiltAngle = 0\n[ZValue = 2]\nTiltAngle = 3\n")
    with pytest.raises(InputError, match=r"gap\.mdoc: ZValue sections"):
        read_mdoc(path)


def test_stack_with_mdoc_beside_it_reads_without_angles_tilted_about_x(tmp_path):
    """A STEM series tilted about the image x axis: tilt axis 90 from the mdoc, not an error."""
    data = np.random.default_rng(0).normal(size=(3, 8, 9)).astype(np.float32)
    stack = write_mrc(data, tmp_path / "TS_01.mrc", voxel_size_A=1.0)
    (tmp_path / "TS_01.mrc.mdoc").write_text(_MDOC.format(axis="90.0"))
    ts = read_tilt_series(stack)
    assert isinstance(ts, TiltSeries)
    np.testing.assert_allclose(ts.angles_deg, [0.0012, 3.0015, -2.9987])
    assert ts.tilt_axis_deg == 90.0
    assert ts.pixel_size_A == pytest.approx(2.17)  # header said "unknown" (1.0) -> mdoc


def test_explicit_tilt_axis_overrides_the_mdoc(tmp_path):
    data = np.zeros((3, 4, 4), np.float32)
    stack = write_mrc(data, tmp_path / "s.st", voxel_size_A=3.0)
    (tmp_path / "s.mdoc").write_text(_MDOC.format(axis="90.0"))
    ts = read_tilt_series(stack, tilt_axis_deg=0.0)
    assert ts.tilt_axis_deg == 0.0
    assert ts.pixel_size_A == 3.0  # the header's pixel size wins over the mdoc's


def test_mdoc_given_as_angles_overrides_the_file(tmp_path):
    data = np.zeros((3, 4, 4), np.float32)
    stack = write_mrc(data, tmp_path / "other_name.mrc", voxel_size_A=1.0)
    mdoc = tmp_path / "session.mdoc"
    mdoc.write_text(_MDOC.format(axis="-3.5"))
    ts = read_tilt_series(stack, mdoc)
    np.testing.assert_allclose(ts.angles_deg, [0.0012, 3.0015, -2.9987])
    assert (ts.tilt_axis_deg, ts.pixel_size_A) == (-3.5, pytest.approx(2.17))
