"""Scenes: label surfaces, iso-surfaces, volume rendering, orthogonal slices, cut planes, scale bar.

:func:`build_scene` assembles a :class:`pyvista.Plotter`; :func:`render_png` draws it off-screen
to a PNG (no display needed: VTK falls back to EGL or OSMesa). Coordinates are nm, axes
``(x, y, z)`` = the array's ``(z, y, x)`` reversed (see :mod:`tomoml.render.meshes`).

Views (camera looking at the centre of the data):

- ``"iso"``: oblique, from the ``+x +y +z`` octant, ``z`` up;
- ``"xy"``: down the ``z`` axis onto the x-y plane, ``x`` to the right, ``y`` up (an XY slice
  as IMOD's slicer shows it, origin bottom-left);
- ``"xz"``: from ``-y``, ``x`` to the right, ``z`` up;
- ``"yz"``: from ``+x``, ``y`` to the right, ``z`` up.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tomoml.data import Volume
from tomoml.errors import BackendError, ConfigError, InputError, OutputError
from tomoml.render.meshes import (
    _unpack,
    default_iso_level,
    iso_surface,
    label_color,
    label_surfaces,
    merge_label_surfaces,
    to_image_data,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyvista as pv

__all__ = ["VIEWS", "build_scene", "render_png", "save_png", "nice_length",
           "prepare_offscreen", "is_label_data"]

log = logging.getLogger(__name__)

VIEWS = ("iso", "xy", "xz", "yz")
_MAX_ACTORS = 64  # above this many labels, surfaces are drawn as one coloured mesh
_AXES = {"x": 0, "y": 1, "z": 2}


def prepare_offscreen() -> None:
    """Make VTK render off-screen without an X server.

    On Linux with no ``DISPLAY``/``WAYLAND_DISPLAY``, VTK's default X window fails with a
    warning before it falls back to EGL; asking for the EGL window directly avoids the noise.
    Only an unset ``VTK_DEFAULT_OPENGL_WINDOW`` is changed.
    """
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                  or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


def is_label_data(arr: np.ndarray, labels: bool | Sequence[int] | None) -> bool:
    """Whether ``arr`` is drawn as labels: ``labels`` if given, else integer dtype."""
    if labels is None:
        return bool(np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool)
    if isinstance(labels, bool):
        return labels
    return True


def nice_length(extent: float, fraction: float = 0.25) -> float:
    """A round length (1, 2 or 5 x 10^k) close to ``fraction * extent``, for a scale bar."""
    target = max(float(extent) * fraction, 1e-12)
    power = 10.0 ** math.floor(math.log10(target))
    best = power
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * power <= target * 1.5:
            best = m * power
    return best


def _format_nm(length_nm: float) -> str:
    if length_nm >= 1000:
        return f"{length_nm / 1000:g} µm"
    return f"{length_nm:g} nm"


def _add_scale_bar(plotter: pv.Plotter, bounds: Sequence[float], view: str,
                   color: str) -> float:
    """A ruler of round length in nm along an in-view axis, just outside the data box."""
    xmin, xmax, ymin, ymax, zmin, zmax = bounds
    axis = "y" if view == "yz" else "x"
    lo, hi = (ymin, ymax) if axis == "y" else (xmin, xmax)
    length = nice_length(hi - lo)
    pad = 0.06 * max(xmax - xmin, ymax - ymin, zmax - zmin)
    if view == "xy":  # in the x-y plane, below the data
        a, b = (xmin, ymin - pad, zmax), (xmin + length, ymin - pad, zmax)
    elif view == "xz":  # camera at -y: below the data in z, on the near face
        a, b = (xmin, ymin, zmin - pad), (xmin + length, ymin, zmin - pad)
    elif view == "yz":  # camera at +x
        a, b = (xmax, ymin, zmin - pad), (xmax, ymin + length, zmin - pad)
    else:  # iso: along the front-bottom x edge
        a, b = (xmin, ymax + pad, zmin), (xmin + length, ymax + pad, zmin)
    plotter.add_ruler(a, b, title=_format_nm(length), number_labels=2, show_labels=False,
                      font_size_factor=1.2, label_color=color, tick_color=color,
                      tick_length=4)
    return length


def _set_view(plotter: pv.Plotter, view: str) -> None:
    if view == "iso":
        plotter.view_isometric()
    elif view == "xy":
        plotter.view_xy()
    elif view == "xz":
        plotter.view_xz(negative=False)
        # camera at -y looking +y, z up, x to the right
        plotter.camera.position = _mirror_position(plotter, 1)
    elif view == "yz":
        plotter.view_yz()
    if view != "iso":  # axis views are orthographic, like a slice viewer: no perspective shrink
        plotter.enable_parallel_projection()
    plotter.reset_camera()


def _mirror_position(plotter: pv.Plotter, axis: int) -> tuple[float, float, float]:
    """Camera position placed on the negative side of ``axis`` around the focal point."""
    pos = np.array(plotter.camera.position, dtype=float)
    foc = np.array(plotter.camera.focal_point, dtype=float)
    d = pos - foc
    d[axis] = -abs(d[axis])
    return tuple(foc + d)


def _parse_clip(clip: tuple[str, float] | str | None) -> tuple[int, float] | None:
    if clip is None:
        return None
    if isinstance(clip, str):
        name, _, frac = clip.partition(":")
        clip = (name, float(frac) if frac else 0.5)
    name, frac = clip
    name = str(name).lower()
    if name not in _AXES:
        raise ConfigError(f"clip axis must be x, y or z, got {name!r}")
    if not 0 <= float(frac) <= 1:
        raise ConfigError(f"clip position must be a fraction 0..1 of the box, got {frac}")
    return _AXES[name], float(frac)


def build_scene(data: Volume | np.ndarray, *, voxel_size_A: float | None = None,
                iso: float | None = None, labels: bool | Sequence[int] | None = None,
                surfaces: bool = True, volume: bool = False,
                slices: bool | Sequence[float] = False,
                clip: tuple[str, float] | str | None = None,
                smooth: int = 30, decimate: float = 0.0, opacity: float = 1.0,
                view: str = "iso", size: tuple[int, int] = (1024, 768),
                background: str | None = None, scale_bar: bool = True, axes: bool = True,
                bounds_axes: bool = False, off_screen: bool = True,
                meshes: Mapping[int, pv.PolyData] | pv.PolyData | None = None) -> pv.Plotter:
    """Assemble a PyVista scene of a density or label volume.

    Parameters
    ----------
    data : Volume or (z, y, x) ndarray
        Densities (float) or labels (int; 0 = background).
    voxel_size_A : float, optional
        Voxel size in Å (default: the Volume's, else 1 Å). The scene is in nm.
    iso : float, optional
        Iso-level for the density surface (default: Otsu's threshold).
    labels : bool or sequence of int, optional
        ``None``: integer data are labels. ``True``/``False`` force it; a sequence draws only
        those labels. Each label gets its colour from :data:`~tomoml.render.LABEL_COLORS`.
    surfaces : bool
        Draw surfaces (label surfaces or the iso-surface).
    volume : bool
        Volume-render the densities (grey ramp, opacity rising with density).
    slices : bool or (3,) floats
        Orthogonal slices through the data; ``True`` = through the centre, or the x, y, z
        positions as fractions 0..1 of the box.
    clip : (axis, fraction) or "axis[:fraction]", optional
        Cut plane normal to ``axis`` at ``fraction`` of the box; the part beyond it is removed
        from the surfaces so their inside shows.
    smooth : int
        Windowed-sinc smoothing iterations for label surfaces (0 = raw marching cubes).
    decimate : float
        Fraction of triangles to remove from the surfaces.
    opacity : float
        Surface opacity.
    view : {"iso", "xy", "xz", "yz"}
        Camera direction (module docstring).
    size : (width, height)
        Window size in pixels.
    background : str, optional
        Background colour (default: white, black with volume rendering, as in Tomviz).
    scale_bar : bool
        Draw a ruler of round length in nm.
    axes : bool
        Draw the x/y/z orientation widget.
    bounds_axes : bool
        Draw labelled axes along the box edges, ticks in nm.
    off_screen : bool
        Render without a window.
    meshes : dict of int to PolyData, or PolyData, optional
        Surfaces already computed (from :func:`~tomoml.render.label_surfaces` or
        :func:`~tomoml.render.iso_surface`) to draw instead of meshing again.

    Returns
    -------
    pyvista.Plotter
        The scene, camera set; call ``.screenshot(path)`` or ``.show()``.
    """
    import pyvista as pv

    if view not in VIEWS:
        raise ConfigError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
    arr, vs, origin = _unpack(data, voxel_size_A)
    as_labels = is_label_data(arr, labels)
    if as_labels and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        if not np.all(np.mod(arr, 1) == 0):
            raise InputError("labels must be whole numbers; drop --labels for a density volume")
        arr = arr.astype(np.int32)
    select = list(labels) if (labels is not None and not isinstance(labels, bool)) else None
    clip_spec = _parse_clip(clip)
    if not (surfaces or volume or slices):
        raise ConfigError("nothing to draw: enable surfaces, volume or slices")
    if off_screen:
        prepare_offscreen()

    plotter = pv.Plotter(off_screen=off_screen, window_size=tuple(int(s) for s in size))
    if background is None:
        background = "black" if volume else "white"
    plotter.set_background(background)
    fg = "black" if _is_light(background) else "white"
    grid = to_image_data(arr, vs, origin_A=origin)
    bounds = grid.bounds
    clip_plane = None
    if clip_spec is not None:
        ax, frac = clip_spec
        normal = [0.0, 0.0, 0.0]
        normal[ax] = 1.0
        point = [(bounds[2 * i] + bounds[2 * i + 1]) / 2 for i in range(3)]
        point[ax] = bounds[2 * ax] + frac * (bounds[2 * ax + 1] - bounds[2 * ax])
        clip_plane = (tuple(normal), tuple(point))

    n_drawn = 0
    if surfaces:
        if isinstance(meshes, pv.PolyData):
            meshes = {0: meshes}
        if as_labels or meshes is not None:
            if meshes is None:
                meshes = label_surfaces(arr, vs, origin_A=origin, select=select,
                                        smooth_iterations=smooth, decimate=decimate)
            if as_labels and len(meshes) > _MAX_ACTORS:
                # Thousands of objects (instance labels): one actor with per-vertex colours
                # renders (and exports to HTML) far faster than one actor per object.
                merged = merge_label_surfaces(meshes)
                if clip_plane is not None:
                    merged = merged.clip(normal=clip_plane[0], origin=clip_plane[1])
                if merged.n_cells:
                    plotter.add_mesh(merged, scalars="RGB", rgb=True, opacity=opacity,
                                     smooth_shading=True, name="labels")
                    n_drawn += 1
                meshes = {}
            for lab, mesh in meshes.items():
                if clip_plane is not None:
                    mesh = mesh.clip(normal=clip_plane[0], origin=clip_plane[1])
                if mesh.n_cells:
                    plotter.add_mesh(mesh, color=label_color(lab if as_labels else 2),
                                     opacity=opacity,
                                     smooth_shading=True, name=f"label {lab}")
                    n_drawn += 1
            if n_drawn == 0 and as_labels:
                log.warning("no labels to draw (the volume is all background)")
        else:
            level = default_iso_level(arr) if iso is None else float(iso)
            surf = iso_surface(arr, level, vs, origin_A=origin, decimate=decimate)
            if clip_plane is not None and surf.n_cells:
                surf = surf.clip(normal=clip_plane[0], origin=clip_plane[1])
            if surf.n_cells:
                plotter.add_mesh(surf, color=label_color(2), opacity=opacity,
                                 smooth_shading=True, name="iso-surface")
                n_drawn += 1
    if volume:
        if as_labels:
            vol_grid = to_image_data(arr.astype(np.float32), vs, origin_A=origin)
        else:
            vol_grid = grid
        if clip_plane is not None:
            vol_grid = _crop_grid(vol_grid, clip_plane)
        values = np.asarray(vol_grid.active_scalars)
        hi = float(np.percentile(values[::7], 99.5))
        # Transparent below the iso-level (Otsu's by default: the background / pores), rising
        # to opaque at the densest 0.5%: the sigmoid ramp is centred between the two.
        lo = float(iso) if (iso is not None and not as_labels) else (
            0.5 if as_labels else default_iso_level(values))
        lo = lo - 0.5 * (hi - lo)
        if hi <= lo:
            hi = lo + 1.0
        # Dense = opaque; drawn dark on a light background (as in a bright-field image) and
        # bright on a dark one, so it never vanishes into the background.
        plotter.add_volume(vol_grid, cmap="gray_r" if _is_light(background) else "gray",
                           clim=(lo, hi), opacity="sigmoid",
                           opacity_unit_distance=5 * vs / 10.0, show_scalar_bar=False,
                           name="volume")
        n_drawn += 1
    if slices is not False and slices is not None:
        fr = (0.5, 0.5, 0.5) if slices is True else tuple(float(f) for f in slices)
        if len(fr) != 3 or not all(0 <= f <= 1 for f in fr):
            raise ConfigError(f"slices must be 3 fractions 0..1 (x, y, z), got {slices}")
        pos = [bounds[2 * i] + fr[i] * (bounds[2 * i + 1] - bounds[2 * i]) for i in range(3)]
        sl = grid.slice_orthogonal(x=pos[0], y=pos[1], z=pos[2])
        if as_labels:
            lut = _label_lut(int(arr.max()), background=(0.85, 0.85, 0.85))
            plotter.add_mesh(sl, cmap=lut, clim=(0, max(int(arr.max()), 1)),
                             show_scalar_bar=False, name="slices", lighting=False)
        else:
            lo, hi = np.percentile(arr[::2, ::2, ::2], (0.5, 99.5))
            plotter.add_mesh(sl, cmap="gray", clim=(float(lo), float(max(hi, lo + 1e-6))),
                             show_scalar_bar=False, name="slices", lighting=False)
        n_drawn += 1
    if n_drawn == 0:
        log.warning("the scene is empty: no surface at this level or no labels")
    plotter.add_mesh(grid.outline(), color=fg, line_width=1, name="outline")
    if scale_bar:
        _add_scale_bar(plotter, bounds, view, fg)
    if axes:
        plotter.add_axes(color=fg)
    if bounds_axes:
        plotter.show_bounds(bounds=bounds, xtitle="x (nm)", ytitle="y (nm)", ztitle="z (nm)",
                            color=fg, fmt="%.0f", location="outer")
    _set_view(plotter, view)
    return plotter


def _crop_grid(grid: pv.ImageData, plane) -> pv.ImageData:
    """The part of an image below a clip plane (for volume rendering, which cannot be clipped)."""
    normal, point = plane
    ax = int(np.argmax(np.abs(normal)))
    n_keep = int(round((point[ax] - grid.origin[ax]) / grid.spacing[ax])) + 1
    n_keep = max(2, min(n_keep, grid.dimensions[ax]))
    voi = [0, grid.dimensions[0] - 1, 0, grid.dimensions[1] - 1, 0, grid.dimensions[2] - 1]
    voi[2 * ax + 1] = n_keep - 1
    return grid.extract_subset(voi)


def _label_lut(n_max: int, background: tuple[float, float, float] = (0.2, 0.2, 0.2)):
    import pyvista as pv

    colors = [background] + [label_color(k) for k in range(1, n_max + 1)]
    lut = pv.LookupTable()
    lut.apply_cmap(_ListedCmap(colors), n_values=len(colors))
    return lut


def _ListedCmap(colors):  # noqa: N802 - a factory named like the class it builds
    from matplotlib.colors import ListedColormap

    return ListedColormap(colors)


def _is_light(color: str) -> bool:
    import pyvista as pv

    r, g, b = pv.Color(color).float_rgb
    return 0.299 * r + 0.587 * g + 0.114 * b > 0.5


def render_png(data: Volume | np.ndarray, path: str | os.PathLike, *,
               voxel_size_A: float | None = None, iso: float | None = None,
               labels: bool | Sequence[int] | None = None, view: str = "iso",
               size: tuple[int, int] = (1024, 768), force: bool = False,
               **scene_options) -> Path:
    """Render a density or label volume off-screen to a PNG image.

    Works with no display (VTK uses EGL or OSMesa). The file is written atomically.

    Parameters
    ----------
    data : Volume or (z, y, x) ndarray
        Densities or labels.
    path : path-like
        Output ``.png``.
    voxel_size_A, iso, labels, view, size
        As in :func:`build_scene`.
    force : bool
        Overwrite an existing file.
    **scene_options
        Further options of :func:`build_scene` (``volume``, ``slices``, ``clip``, ``smooth``,
        ``decimate``, ``background``, ``scale_bar``, ...).

    Returns
    -------
    pathlib.Path
        The written PNG.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> z, y, x = np.mgrid[:32, :32, :32]
    >>> ball = ((z - 16) ** 2 + (y - 16) ** 2 + (x - 20) ** 2 < 64).astype(np.uint8)
    >>> out = render_png(ball, os.path.join(tempfile.mkdtemp(), "ball.png"), voxel_size_A=10)
    >>> out.suffix
    '.png'
    """
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise OutputError(f"{out}: the image must be a .png file")
    if out.exists() and not force:
        raise OutputError(f"{out}: output exists; use --force to overwrite it")
    plotter = build_scene(data, voxel_size_A=voxel_size_A, iso=iso, labels=labels, view=view,
                          size=size, off_screen=True, **scene_options)
    try:
        return save_png(plotter, out, force=force)
    finally:
        plotter.close()


def save_png(plotter: pv.Plotter, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Screenshot an (off-screen) plotter to a PNG, written atomically."""
    from tomoml.io import atomic_path

    out = Path(path)
    if out.suffix.lower() != ".png":
        raise OutputError(f"{out}: the image must be a .png file")
    try:
        with atomic_path(out, force=force) as tmp:
            plotter.screenshot(str(tmp), transparent_background=False)
    except (RuntimeError, AttributeError) as exc:  # no OpenGL context at all
        raise BackendError(f"{out}: off-screen rendering failed ({exc}); install the EGL/OSMesa "
                           "libraries (Debian: libegl1 libegl-mesa0 libgl1-mesa-dri)") from exc
    log.info("wrote %s", out)
    return out
