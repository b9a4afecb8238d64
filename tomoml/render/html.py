"""Self-contained interactive HTML scenes (vtk.js), viewable offline in any browser.

The scene of a :class:`pyvista.Plotter` is serialised with trame-vtk's vtk.js serialisers and
embedded, base64-encoded, into trame-vtk's static viewer page, which carries the whole vtk.js
bundle inline: the file fetches nothing at view time and opens from disk with no network.
Rotate with the left mouse button, pan with shift/middle, zoom with the wheel.

PyVista's own ``Plotter.export_html`` does the same through a running trame server (a web
server on a local port, plus ``nest_asyncio2``); calling the serialisers directly gives the same
file without a server, which suits a command-line tool and CI.
"""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tomoml.errors import BackendError, OutputError

if TYPE_CHECKING:  # pragma: no cover
    import pyvista as pv

    from tomoml.data import Volume

__all__ = ["scene_html", "write_html", "render_html", "export_html"]

log = logging.getLogger(__name__)


def _serialisers():
    try:
        from trame_vtk.modules.vtk.serializers import (
            SynchronizationContext,
            extract_array_hash,
            initialize_serializers,
            reference_id,
            serialize,
        )
        from trame_vtk.tools.vtksz2html import write_html as embed
    except ImportError as exc:
        raise BackendError("HTML scenes need trame-vtk: pip install trame-vtk") from exc
    return (SynchronizationContext, extract_array_hash, initialize_serializers, reference_id,
            serialize, embed)


def _drop_unsupported(plotter: pv.Plotter) -> list:
    """Hide 2D actors vtk.js cannot draw (rulers, text); return them to restore later."""
    hidden = []
    for ren in plotter.renderers:
        for prop in list(ren.GetViewProps()):
            if prop.IsA("vtkActor2D") and prop.GetVisibility():
                prop.VisibilityOff()
                hidden.append(prop)
    return hidden


def scene_html(plotter: pv.Plotter) -> str:
    """The HTML text of a standalone vtk.js page showing ``plotter``'s scene.

    Parameters
    ----------
    plotter : pyvista.Plotter
        A scene (e.g. from :func:`tomoml.render.build_scene`); its camera is kept.

    Returns
    -------
    str
        A complete HTML document (about 1 MB of viewer code plus the scene data).
    """
    (SynchronizationContext, extract_array_hash, initialize_serializers, reference_id,
     serialize, embed) = _serialisers()
    render_window = plotter.ren_win
    hidden = _drop_unsupported(plotter)
    try:
        plotter.render()
        initialize_serializers()
        context = SynchronizationContext()
        context.set_ignore_last_dependencies(True)
        view_id = reference_id(render_window)
        scene = serialize(None, render_window, view_id, context, 1)
        camera = render_window.GetRenderers().GetFirstRenderer().GetActiveCamera()
        scene["extra"] = {"vtkRefId": view_id, "centerOfRotation": camera.GetFocalPoint(),
                          "camera": reference_id(camera)}
        scene["behaviors"] = {"autoOrientation": 1}
        hashes = {}
        for entry in extract_array_hash(scene):
            h = entry["hash"]
            hashes[h] = dict(**entry, content=context.get_cached_data_array(h, False))
    finally:
        for actor in hidden:
            actor.VisibilityOn()
    if not hashes:
        log.warning("the HTML scene holds no geometry")
    payload = json.dumps({"hashes": hashes, "scene": scene}, default=_json_default)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zfile:
        zfile.writestr("index.json", payload, compress_type=zipfile.ZIP_DEFLATED)
    text = io.StringIO()
    embed(buffer.getvalue(), text)
    return text.getvalue()


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def write_html(plotter: pv.Plotter, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write ``plotter``'s scene as a self-contained HTML file (atomic write).

    Parameters
    ----------
    plotter : pyvista.Plotter
        The scene.
    path : path-like
        Output ``.html``.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from tomoml.io import atomic_path

    out = Path(path)
    if out.suffix.lower() not in (".html", ".htm"):
        raise OutputError(f"{out}: the scene must be an .html file")
    text = scene_html(plotter)
    with atomic_path(out, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    log.info("wrote %s (%.1f MB)", out, len(text) / 1e6)
    return out


def render_html(data: Volume | np.ndarray, path: str | os.PathLike, *,
                voxel_size_A: float | None = None, force: bool = False,
                **scene_options) -> Path:
    """Build a scene (:func:`tomoml.render.build_scene` options) and write it as HTML.

    The ruler and text are left out (vtk.js cannot draw VTK's 2D actors); ``volume=True`` embeds
    the whole volume, so keep it for small volumes.
    """
    from tomoml.render.scenes import build_scene

    out = Path(path)
    if out.exists() and not force:
        raise OutputError(f"{out}: output exists; use --force to overwrite it")
    scene_options = dict(scene_options)
    scene_options.setdefault("axes", False)
    plotter = build_scene(data, voxel_size_A=voxel_size_A, off_screen=True, **scene_options)
    try:
        return write_html(plotter, out, force=force)
    finally:
        plotter.close()


#: Alias of :func:`render_html` (the name the pipeline uses).
export_html = render_html
