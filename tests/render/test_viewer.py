"""Interactive viewer: iso-level slider re-contours, three movable slice planes, no-display error."""

from __future__ import annotations

import numpy as np
import pytest
from render_volumes import ball, gaussian_blob

from tomoml.errors import BackendError
from tomoml.render import build_viewer, view


def test_iso_slider_recontours_at_the_new_level():
    from vtkmodules.vtkCommonCore import vtkCommand

    sigma = 8.0
    density = gaussian_blob((48, 48, 48), (23.5, 23.5, 23.5), sigma)
    plotter = build_viewer(density, voxel_size_A=10, iso=0.5, off_screen=True)
    try:
        assert len(plotter.widgets.slider_widgets) == 1
        widget = plotter.widgets.slider_widgets[0]
        widget.GetRepresentation().SetValue(0.3)
        widget.InvokeEvent(vtkCommand.EndInteractionEvent)
        surf = plotter.actors["iso-surface"].mapper.dataset
        r_nm = sigma * np.sqrt(-2 * np.log(0.3)) * 1.0
        assert surf.area == pytest.approx(4 * np.pi * r_nm ** 2, rel=0.01)
    finally:
        plotter.close()


def test_viewer_has_three_movable_slice_planes_and_label_surfaces():
    labels = ball((32, 32, 32), (16, 16, 16), 8)
    plotter = build_viewer(labels, voxel_size_A=10, off_screen=True)
    try:
        assert len(plotter.widgets.plane_widgets) == 3
        assert "label 1" in plotter.actors
        assert len(plotter.widgets.slider_widgets) == 1  # surface opacity
    finally:
        plotter.close()


def test_view_without_display_raises_one_line_backend_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(BackendError, match="no display") as err:
        view(ball((16, 16, 16), (8, 8, 8), 4), notebook=False)
    assert "\n" not in str(err.value)
