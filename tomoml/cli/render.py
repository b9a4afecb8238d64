"""``tomoml render`` (off-screen PNG, HTML scene, mesh export) and ``tomoml view`` (interactive)."""

from __future__ import annotations

from pathlib import Path

import typer

from tomoml.cli._app import app
from tomoml.cli._common import FORCE_OPTION, echo, prepare_output, require_input

_LABELS_HELP = ("Treat the input as a label volume (one surface per label). Default: labels "
                "when the file holds tomoml labels, else densities.")


def _read(path: Path, labels: bool, voxel_size: float | None):
    from tomoml.errors import ConfigError
    from tomoml.io import read_volume

    vol = read_volume(path, labels=True if labels else None)
    if voxel_size is not None:
        if not voxel_size > 0:
            raise ConfigError(f"--voxel-size must be > 0 Å, got {voxel_size}")
        vol = vol.replace(voxel_size_A=voxel_size)
    return vol


def _parse_size(size: str) -> tuple[int, int]:
    from tomoml.errors import ConfigError

    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise ConfigError(f"--size must look like 1024x768, got {size!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise ConfigError(f"--size must be between 16 and 8192 pixels a side, got {size}")
    return w, h


def _summarise(surf, as_labels: bool) -> None:
    """One line per surface: triangles, area (nm²) and enclosed volume (nm³)."""
    if as_labels:
        for k, m in surf.items():
            echo(f"label {k}: {m.n_cells} triangles, area {m.area:.6g} nm², "
                 f"enclosed volume {abs(m.volume):.6g} nm³")
        if not surf:
            echo("no labels: the volume is all background")
    else:
        level = float(surf.field_data["iso_level"][0])
        echo(f"iso-surface at {level:.6g}: {surf.n_cells} triangles, area {surf.area:.6g} nm²")


@app.command("render")
def render_command(
    input: Path = typer.Argument(..., help="Label or density volume (MRC/TIFF/Zarr)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="IMAGE.png",
                                help="PNG image, drawn off-screen (no display needed)."),
    html: Path = typer.Option(None, "--html", metavar="SCENE.html",
                              help="Also write a self-contained interactive scene (opens "
                                   "offline in a browser)."),
    mesh: Path = typer.Option(None, "--mesh", metavar="OUT.vtp",
                              help="Also export the surface mesh (.vtp .stl .ply .obj; nm)."),
    iso: float = typer.Option(None, "--iso", metavar="LEVEL",
                              help="Iso-level for densities (default: Otsu's threshold)."),
    labels: bool = typer.Option(False, "--labels", help=_LABELS_HELP),
    smooth: int = typer.Option(30, "--smooth", metavar="N",
                               help="Volume-preserving smoothing iterations for label "
                                    "surfaces (0 = raw marching cubes)."),
    decimate: float = typer.Option(0.0, "--decimate", metavar="F",
                                   help="Fraction of triangles to remove (0..0.95); the area "
                                        "is kept within 1%."),
    voxel_size: float = typer.Option(None, "--voxel-size", metavar="A",
                                     help="Voxel size in Å (default: from the file header)."),
    view: str = typer.Option("iso", "--view", help="Camera: iso, xy (down z), xz, yz."),
    volume: bool = typer.Option(False, "--volume", help="Add volume rendering of the data."),
    slices: bool = typer.Option(False, "--slices",
                                help="Add three orthogonal slices through the centre."),
    clip: str = typer.Option(None, "--clip", metavar="AXIS[:F]",
                             help="Cut the surfaces with a plane normal to x, y or z at "
                                  "fraction F of the box (default 0.5), e.g. --clip z:0.5."),
    no_surface: bool = typer.Option(False, "--no-surface",
                                    help="Draw no surfaces (with --volume or --slices)."),
    bounds: bool = typer.Option(False, "--bounds", help="Label the box edges with axes in nm."),
    size: str = typer.Option("1024x768", "--size", metavar="WxH", help="Image size in pixels."),
    force: bool = FORCE_OPTION,
) -> None:
    """Render a label or density volume to a PNG, an HTML scene and a mesh, all in nm.

    Label volumes get one surface per label in fixed colours; density volumes an iso-surface.
    A ruler shows the scale in nm.

    Example: tomoml render labels.mrc -o view.png --html scene.html --mesh surfaces.vtp
    """
    from tomoml.errors import ConfigError
    from tomoml.render import build_scene, label_surfaces, write_html, write_mesh
    from tomoml.render import iso_surface as make_iso
    from tomoml.render.scenes import save_png

    require_input(input, "volume")
    outputs = [p for p in (output, html, mesh) if p is not None]
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise ConfigError("-o, --html and --mesh must be different files")
    for p in outputs:
        prepare_output(p, force=force, inputs=[input])
    if not 0 <= decimate <= 0.95:
        raise ConfigError(f"--decimate must be a fraction 0..0.95, got {decimate}")
    if smooth < 0:
        raise ConfigError(f"--smooth must be >= 0, got {smooth}")
    width_height = _parse_size(size)
    vol = _read(input, labels, voxel_size)
    as_labels = vol.is_labels
    options = dict(labels=True if as_labels else False, iso=iso, view=view, volume=volume,
                   slices=slices, clip=clip, smooth=smooth, decimate=decimate,
                   surfaces=not no_surface, bounds_axes=bounds)
    # Mesh once; the PNG, the HTML scene and the mesh file share the surfaces.
    surf = None
    if not no_surface:
        if as_labels:
            surf = label_surfaces(vol, smooth_iterations=smooth, decimate=decimate)
        else:
            surf = make_iso(vol, iso, decimate=decimate)
    if surf is not None:
        _summarise(surf, as_labels)
    plotter = build_scene(vol, size=width_height, off_screen=True, meshes=surf, **options)
    try:
        save_png(plotter, output, force=force)
        echo(f"image: {output}")
        if html is not None:
            write_html(plotter, html, force=force)
            echo(f"scene: {html}")
    finally:
        plotter.close()
    if mesh is not None:
        if surf is None:
            raise ConfigError("--mesh needs surfaces; drop --no-surface")
        write_mesh(surf, mesh, force=force)
        echo(f"mesh: {mesh}")


@app.command("view")
def view_command(
    input: Path = typer.Argument(..., help="Label or density volume (MRC/TIFF/Zarr)."),
    iso: float = typer.Option(None, "--iso", metavar="LEVEL",
                              help="Initial iso-level for densities (default: Otsu)."),
    labels: bool = typer.Option(False, "--labels", help=_LABELS_HELP),
    voxel_size: float = typer.Option(None, "--voxel-size", metavar="A",
                                     help="Voxel size in Å (default: from the file header)."),
) -> None:
    """Open an interactive 3D window: surfaces, an iso-level (or opacity) slider and three
    movable slice planes. Needs a display; use `tomoml render` on a headless machine.

    Example: tomoml view rec.mrc --iso 0.5
    """
    from tomoml.errors import BackendError
    from tomoml.render import view
    from tomoml.render.viewer import has_display

    require_input(input, "volume")
    if not has_display():  # say so before reading a large volume
        raise BackendError("no display available (DISPLAY is not set); use `tomoml render "
                           f"{input} -o view.png --html scene.html` instead")
    vol = _read(input, labels, voxel_size)
    view(vol, iso=iso, labels=True if vol.is_labels else False, notebook=False)
