"""Rendering: surface meshes, off-screen images, offline HTML scenes and interactive views.

Scenes are in nanometres with axes ``(x, y, z)`` (the ``(z, y, x)`` array reversed); label ``k``
always has colour ``LABEL_COLORS[(k - 1) % len(LABEL_COLORS)]``. See docs/render.md.

- :func:`label_surfaces`, :func:`iso_surface`: meshes (flying edges), then
  :func:`smooth_surface` (windowed sinc, volume-preserving) and :func:`decimate_surface`;
  :func:`write_mesh` exports ``.vtp .stl .ply .obj``.
- :func:`build_scene`, :func:`render_png`: surfaces, volume rendering, orthogonal slices, a cut
  plane and a scale bar in nm, drawn off-screen (no display needed).
- :func:`render_html`, :func:`write_html`: a self-contained vtk.js page that opens offline.
- :func:`view`: a desktop window or a Jupyter widget with an iso-level slider and movable slices.
"""

from tomoml.render.html import export_html, render_html, scene_html, write_html
from tomoml.render.meshes import (
    LABEL_COLORS,
    MESH_SUFFIXES,
    decimate_surface,
    default_iso_level,
    enclosed_volume_nm3,
    iso_surface,
    label_color,
    label_surfaces,
    merge_label_surfaces,
    smooth_surface,
    surface_area_nm2,
    to_image_data,
    write_mesh,
)
from tomoml.render.scenes import VIEWS, build_scene, render_png
from tomoml.render.viewer import build_viewer, has_display, view

__all__ = [
    "LABEL_COLORS", "MESH_SUFFIXES", "VIEWS", "build_scene", "build_viewer", "decimate_surface",
    "default_iso_level", "enclosed_volume_nm3", "export_html", "has_display", "iso_surface", "label_color",
    "label_surfaces", "merge_label_surfaces", "render_html", "render_png", "scene_html",
    "smooth_surface", "surface_area_nm2", "to_image_data", "view", "write_html", "write_mesh",
]
