"""Interactive viewing: a desktop window or a Jupyter widget with an iso-level slider and
movable orthogonal slice planes.

On a desktop, :func:`view` opens a VTK window (rotate: left drag, pan: shift + drag, zoom:
wheel; drag a slice plane's outline or its normal arrow to move it). In Jupyter it returns
PyVista's trame widget (``pip install "pyvista[jupyter]"``; the slider and planes need the
``"server"`` backend, ``"client"`` shows the surfaces only).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tomoml.data import Volume
from tomoml.errors import BackendError
from tomoml.render.meshes import (
    _unpack,
    default_iso_level,
    iso_surface,
    label_color,
    label_surfaces,
    to_image_data,
)
from tomoml.render.scenes import (
    _add_scale_bar,
    _is_light,
    _label_lut,
    is_label_data,
    prepare_offscreen,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyvista as pv

__all__ = ["build_viewer", "view", "has_display", "in_notebook"]

log = logging.getLogger(__name__)


def has_display() -> bool:
    """Whether a window can be opened (always on macOS/Windows; X11/Wayland on Linux)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def in_notebook() -> bool:
    """Whether the code runs inside a Jupyter kernel."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except AttributeError:
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def build_viewer(data: Volume | np.ndarray, *, voxel_size_A: float | None = None,
                 iso: float | None = None, labels: bool | Sequence[int] | None = None,
                 smooth: int = 30, slices: bool = True, size: tuple[int, int] = (1200, 900),
                 background: str = "white", off_screen: bool = False,
                 notebook: bool = False) -> pv.Plotter:
    """An interactive scene: surfaces, a slider, and three movable slice planes.

    Densities get an iso-surface with an **iso-level slider**; labels get one surface per
    label (fixed colours) with a **surface-opacity slider** so the slices show through.

    Parameters
    ----------
    data : Volume or (z, y, x) ndarray
        Densities or labels.
    voxel_size_A : float, optional
        Voxel size in Å (default: the Volume's, else 1 Å); the scene is in nm.
    iso : float, optional
        Initial iso-level (default: Otsu's threshold).
    labels : bool or sequence of int, optional
        As in :func:`tomoml.render.build_scene`.
    smooth : int
        Smoothing iterations for label surfaces.
    slices : bool
        Add the three movable orthogonal slice planes.
    size : (width, height)
        Window size.
    background : str
        Background colour.
    off_screen, notebook : bool
        Passed to :class:`pyvista.Plotter`.

    Returns
    -------
    pyvista.Plotter
        Not yet shown.
    """
    import pyvista as pv

    if off_screen:
        prepare_offscreen()
    arr, vs, origin = _unpack(data, voxel_size_A)
    as_labels = is_label_data(arr, labels)
    select = list(labels) if (labels is not None and not isinstance(labels, bool)) else None
    plotter = pv.Plotter(off_screen=off_screen, notebook=notebook,
                         window_size=tuple(int(s) for s in size))
    plotter.set_background(background)
    fg = "black" if _is_light(background) else "white"
    grid = to_image_data(arr, vs, origin_A=origin)

    if as_labels:
        meshes = label_surfaces(arr.astype(np.int32) if arr.dtype.kind == "f" else arr, vs,
                                origin_A=origin, select=select, smooth_iterations=smooth)
        actors = [plotter.add_mesh(m, color=label_color(k), smooth_shading=True,
                                   name=f"label {k}") for k, m in meshes.items()]

        def set_opacity(value: float) -> None:
            for actor in actors:
                actor.GetProperty().SetOpacity(float(value))

        plotter.add_slider_widget(set_opacity, rng=(0.0, 1.0), value=1.0,
                                  title="surface opacity", pointa=(0.6, 0.9),
                                  pointb=(0.95, 0.9), color=fg, style="modern")
        slice_args: dict[str, Any] = {"cmap": _label_lut(int(arr.max())),
                                      "clim": (0, max(int(arr.max()), 1))}
    else:
        values = np.asarray(arr, dtype=np.float32)
        level0 = default_iso_level(values) if iso is None else float(iso)
        lo, hi = (float(v) for v in np.percentile(values[::2, ::2, ::2], (0.5, 99.5)))
        lo, hi = min(lo, level0), max(hi, level0)

        def set_level(value: float) -> None:
            value = float(np.clip(value, np.nextafter(values.min(), np.inf),
                                  np.nextafter(values.max(), -np.inf)))
            surf = iso_surface(values, value, vs, origin_A=origin)
            if surf.n_cells:
                plotter.add_mesh(surf, color=label_color(2), smooth_shading=True,
                                 name="iso-surface", reset_camera=False)
            else:
                plotter.remove_actor("iso-surface")
            log.info("iso-level %g: %d triangles", value, surf.n_cells)

        set_level(level0)
        plotter.add_slider_widget(set_level, rng=(lo, hi), value=level0, title="iso level",
                                  pointa=(0.6, 0.9), pointb=(0.95, 0.9), color=fg,
                                  style="modern", interaction_event="end")
        slice_args = {"cmap": "gray", "clim": (lo, hi)}
    if slices:
        plotter.add_mesh_slice_orthogonal(grid, show_scalar_bar=False, **slice_args)
    plotter.add_mesh(grid.outline(), color=fg, name="outline")
    _add_scale_bar(plotter, grid.bounds, "iso", fg)
    plotter.add_axes(color=fg)
    plotter.view_isometric()
    return plotter


def view(data: Volume | np.ndarray, *, voxel_size_A: float | None = None,
         iso: float | None = None, labels: bool | Sequence[int] | None = None,
         notebook: bool | None = None, jupyter_backend: str = "trame", **options):
    """Show a volume interactively: a desktop window, or a widget in Jupyter.

    Parameters
    ----------
    data : Volume or (z, y, x) ndarray
        Densities or labels.
    voxel_size_A, iso, labels
        As in :func:`build_viewer`.
    notebook : bool, optional
        Force notebook (widget) or desktop (window) mode; default: detect Jupyter.
    jupyter_backend : str
        PyVista's Jupyter backend: ``"trame"`` (default), ``"server"``, ``"client"``.
    **options
        Further :func:`build_viewer` options.

    Returns
    -------
    widget or None
        The Jupyter widget in a notebook; ``None`` after the desktop window is closed.

    Raises
    ------
    BackendError
        No display is available (use :func:`tomoml.render.render_png` or an HTML scene).
    """
    if notebook is None:
        notebook = in_notebook()
    if not notebook and not has_display():
        raise BackendError("no display available (DISPLAY is not set); use `tomoml render` "
                           "for a PNG or `--html` for a browser scene")
    plotter = build_viewer(data, voxel_size_A=voxel_size_A, iso=iso, labels=labels,
                           notebook=bool(notebook), **options)
    if notebook:
        return plotter.show(jupyter_backend=jupyter_backend, return_viewer=True)
    plotter.show(title="tomoml view")
    return None
