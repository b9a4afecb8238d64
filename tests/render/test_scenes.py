"""Off-screen PNG rendering: not blank, the object where the camera says, scale bar length."""

from __future__ import annotations

import numpy as np
import pytest
from render_volumes import ball, gaussian_blob

from tomoml.errors import ConfigError, OutputError
from tomoml.render import LABEL_COLORS, label_color, render_png
from tomoml.render.scenes import nice_length

SHAPE = (48, 48, 48)  # (z, y, x)


def _read_rgb(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def _object_pixels(img, label=1, tol=60):
    """Pixels within ``tol`` of the label's colour, allowing for shading (hue match)."""
    rgb = np.array(label_color(label)) * 255
    # Shading scales the colour: compare chromaticity (normalised RGB) to the label colour.
    norm = img / np.maximum(img.sum(-1, keepdims=True), 1)
    ref = rgb / rgb.sum()
    return (np.abs(norm - ref).sum(-1) < 0.08) & (img.sum(-1) > tol)


def _centroid(mask):
    rows, cols = np.nonzero(mask)
    return cols.mean() / mask.shape[1], rows.mean() / mask.shape[0]


@pytest.fixture(scope="module")
def off_centre_ball():
    # centre at x = +12, y = +8, z = -10 voxels from the box centre (23.5)
    return ball(SHAPE, (13.5, 31.5, 35.5), 7)


def test_png_is_not_blank_and_background_is_white(tmp_path, off_centre_ball):
    out = render_png(off_centre_ball, tmp_path / "ball.png", voxel_size_A=10, view="iso",
                     size=(320, 240))
    img = _read_rgb(out)
    assert img.shape == (240, 320, 3)
    assert tuple(img[2, 2]) == (255, 255, 255)
    assert _object_pixels(img).mean() > 0.01


def test_xy_view_shows_ball_right_of_centre_and_above_centre(tmp_path, off_centre_ball):
    img = _read_rgb(render_png(off_centre_ball, tmp_path / "xy.png", voxel_size_A=10,
                               view="xy", size=(320, 320), scale_bar=False, axes=False))
    cx, cy = _centroid(_object_pixels(img))
    # x to the right, y up: +12 and +8 voxels of a 47-voxel box seen orthographically
    assert cx > 0.5 + 0.1
    assert cy < 0.5 - 0.05


def test_xz_and_yz_views_show_ball_below_centre(tmp_path, off_centre_ball):
    xz = _read_rgb(render_png(off_centre_ball, tmp_path / "xz.png", voxel_size_A=10,
                              view="xz", size=(320, 320), scale_bar=False, axes=False))
    cx, cy = _centroid(_object_pixels(xz))
    assert cx > 0.6 and cy > 0.55  # x right, z up: the ball is at low z
    yz = _read_rgb(render_png(off_centre_ball, tmp_path / "yz.png", voxel_size_A=10,
                              view="yz", size=(320, 320), scale_bar=False, axes=False))
    cx, cy = _centroid(_object_pixels(yz))
    assert cx > 0.55 and cy > 0.55  # y right (+8 voxels), z up


def test_two_labels_are_drawn_in_their_own_colours(tmp_path):
    labels = ball(SHAPE, (24, 24, 12), 7) + 2 * ball(SHAPE, (24, 24, 36), 7)
    img = _read_rgb(render_png(labels, tmp_path / "two.png", voxel_size_A=10, view="xy",
                               size=(320, 320), scale_bar=False, axes=False))
    left, right = _object_pixels(img, 1), _object_pixels(img, 2)
    assert left.mean() > 0.01 and right.mean() > 0.01
    assert _centroid(left)[0] < 0.45 < 0.55 < _centroid(right)[0]


def test_clip_plane_removes_the_far_half(tmp_path):
    labels = ball(SHAPE, (24, 24, 24), 12)
    full = _object_pixels(_read_rgb(render_png(labels, tmp_path / "a.png", voxel_size_A=10,
                                               view="xy", size=(256, 256), axes=False,
                                               scale_bar=False)))
    cut = _object_pixels(_read_rgb(render_png(labels, tmp_path / "b.png", voxel_size_A=10,
                                              view="xy", size=(256, 256), axes=False,
                                              scale_bar=False, clip="x:0.5")))
    assert cut.sum() == pytest.approx(full.sum() / 2, rel=0.15)
    assert _centroid(cut)[0] < 0.5


def test_volume_rendering_draws_the_dense_blob_bright_on_black(tmp_path):
    density = gaussian_blob(SHAPE, (23.5, 23.5, 23.5), 8.0)
    img = _read_rgb(render_png(density, tmp_path / "v.png", voxel_size_A=10, surfaces=False,
                               volume=True, size=(256, 256), axes=False, scale_bar=False))
    assert tuple(img[2, 2]) == (0, 0, 0)  # volume rendering defaults to a black background
    bright = img.sum(-1) > 300
    assert bright.mean() > 0.02
    cx, cy = _centroid(bright)
    assert abs(cx - 0.5) < 0.1 and abs(cy - 0.5) < 0.1


def test_orthogonal_slices_show_grey_levels_of_the_density(tmp_path):
    density = gaussian_blob(SHAPE, (23.5, 23.5, 23.5), 8.0)
    img = _read_rgb(render_png(density, tmp_path / "s.png", voxel_size_A=10, surfaces=False,
                               slices=True, size=(256, 256), axes=False, scale_bar=False))
    grey = (np.ptp(img, axis=-1) < 12) & (img.sum(-1) < 600)  # not the white background
    assert grey.mean() > 0.1
    assert np.ptp(img[grey].sum(-1)) > 300  # from dark (background) to bright (blob centre)


def test_nice_length_is_a_round_number_near_a_quarter_of_the_extent():
    assert nice_length(47.0) == 10.0
    assert nice_length(400.0) == 100.0
    assert nice_length(0.9) == 0.2
    assert nice_length(1800.0) == 500.0


def test_render_png_refuses_existing_output_and_bad_options(tmp_path, off_centre_ball):
    out = render_png(off_centre_ball, tmp_path / "x.png", voxel_size_A=10, size=(64, 64))
    with pytest.raises(OutputError, match="exists"):
        render_png(off_centre_ball, out, voxel_size_A=10)
    with pytest.raises(ConfigError, match="view"):
        render_png(off_centre_ball, tmp_path / "y.png", view="top")
    with pytest.raises(ConfigError, match="clip"):
        render_png(off_centre_ball, tmp_path / "y.png", clip="w")


def test_many_labels_are_drawn_as_one_mesh_with_label_colours(tmp_path):
    labels = np.zeros(SHAPE, np.uint16)
    k = 0
    for z in range(5, 44, 8):
        for y in range(5, 44, 8):
            for x in range(5, 44, 8):
                k += 1
                labels[z - 2:z + 2, y - 2:y + 2, x - 2:x + 2] = k
    assert k > 64
    img = _read_rgb(render_png(labels, tmp_path / "many.png", voxel_size_A=10, view="xy",
                               size=(256, 256), scale_bar=False, axes=False, smooth=0))
    # Looking down z, the front layer (largest z) is visible: its labels' colours show.
    shown = {i for i in range(1, len(LABEL_COLORS) + 1) if _object_pixels(img, i).mean() > 1e-3}
    assert len(shown) >= 8


@pytest.mark.parametrize(("voxel_A", "title"), [(10.0, "10 nm"), (20.0, "20 nm"), (100, "100 nm")])
def test_scale_bar_is_a_round_length_in_nm(off_centre_ball, voxel_A, title):
    from tomoml.render import build_scene

    plotter = build_scene(off_centre_ball, voxel_size_A=voxel_A, size=(64, 64))
    try:
        titles = [p.GetTitle() for p in plotter.renderer.GetViewProps()
                  if p.IsA("vtkAxisActor2D")]
    finally:
        plotter.close()
    assert titles == [title]  # the box is 47 voxels: 47, 94 and 470 nm wide


def test_bounds_axes_render_with_nm_titles(tmp_path, off_centre_ball):
    out = render_png(off_centre_ball, tmp_path / "b.png", voxel_size_A=10, size=(200, 150),
                     bounds_axes=True)
    assert _read_rgb(out).std() > 5
