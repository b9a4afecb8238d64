"""IMOD text files and XfTransforms: the semantics documented in tomoml/io/imod.py."""

import numpy as np
import pytest

from tomoml.errors import InputError
from tomoml.io import XfTransforms, read_angles, read_xf, write_angles, write_xf


def test_angles_round_trip_to_four_decimals(tmp_path):
    angles = np.array([-60.0, -1.23456, 0.0, 58.5])
    back = read_angles(write_angles(angles, tmp_path / "a.tlt"))
    np.testing.assert_allclose(back, angles, atol=5e-5)


def test_angle_file_with_two_numbers_on_a_line_is_input_error(tmp_path):
    p = tmp_path / "a.rawtlt"
    p.write_text("1 2\n")
    with pytest.raises(InputError, match=r"a\.rawtlt: a tilt-angle file must hold one number"):
        read_angles(p)


def test_xf_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    xf = XfTransforms.from_alignment(rng.normal(0, 5, (7, 2)), tilt_axis_deg=12.5)
    back = read_xf(write_xf(xf, tmp_path / "a.xf"))
    np.testing.assert_allclose(back.matrices, xf.matrices, atol=1e-7)
    np.testing.assert_allclose(back.shifts_xy, xf.shifts_xy, atol=1e-3)


def test_xf_line_layout_is_a11_a12_a21_a22_dx_dy(tmp_path):
    xf = XfTransforms.from_alignment(np.array([[2.0, 3.0]]), tilt_axis_deg=90.0)
    vals = [float(v) for v in write_xf(xf, tmp_path / "a.xf").read_text().split()]
    # R(-90) = [[0, 1], [-1, 0]]; shift (dy, dx) = (2, 3) -> dx dy = 3 2
    np.testing.assert_allclose(vals, [0, 1, -1, 0, 3, 2], atol=1e-6)


def test_rotation_turns_the_tilt_axis_onto_y():
    theta = 30.0
    xf = XfTransforms.from_alignment(np.zeros((1, 2)), tilt_axis_deg=theta)
    t = np.deg2rad(theta)
    axis_xy = np.array([-np.sin(t), np.cos(t)])  # theta from +y, counter-clockwise
    np.testing.assert_allclose(xf.matrices[0] @ axis_xy, [0.0, 1.0], atol=1e-12)


def test_to_alignment_inverts_from_alignment():
    shifts = np.array([[1.0, -2.0], [0.5, 3.0], [-4.0, 0.0]])
    back_shifts, axis = XfTransforms.from_alignment(shifts, -85.0).to_alignment()
    np.testing.assert_allclose(back_shifts, shifts)
    assert axis == pytest.approx(-85.0)


def test_apply_shift_moves_a_point_by_dy_dx():
    img = np.zeros((1, 21, 21), np.float32)
    img[0, 10, 10] = 1.0
    out = XfTransforms.from_alignment(np.array([[2.0, -3.0]])).apply(img, order=1)
    assert np.unravel_index(np.argmax(out[0]), out[0].shape) == (12, 7)
    assert out[0, 12, 7] == pytest.approx(1.0)


def test_apply_rotation_about_the_image_centre():
    img = np.zeros((1, 21, 21), np.float32)
    img[0, 10, 15] = 1.0  # x = +5 from the centre (10, 10)
    out = XfTransforms.from_alignment(np.zeros((1, 2)), tilt_axis_deg=-90.0).apply(img)
    # A = R(+90): (x, y) = (5, 0) -> (0, 5): row 15, column 10
    assert np.unravel_index(np.argmax(out[0]), out[0].shape) == (15, 10)


def test_inverse_undoes_the_transform():
    xf = XfTransforms.from_alignment(np.array([[1.5, -2.5]]), tilt_axis_deg=20.0)
    inv = xf.inverse()
    m = inv.matrices[0] @ xf.matrices[0]
    d = inv.matrices[0] @ xf.shifts_xy[0] + inv.shifts_xy[0]
    np.testing.assert_allclose(m, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(d, [0, 0], atol=1e-12)


def test_xf_with_wrong_column_count_is_input_error(tmp_path):
    p = tmp_path / "bad.xf"
    p.write_text("1 0 0 1 0\n")
    with pytest.raises(InputError, match=r"bad\.xf: each \.xf line must hold 6 numbers"):
        read_xf(p)
