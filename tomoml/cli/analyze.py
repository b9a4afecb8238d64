"""``tomoml analyze``: morphology metrics of a label volume to JSON (+ CSV per object, + PNG)."""

from __future__ import annotations

from pathlib import Path

import typer

from tomoml.cli._app import app
from tomoml.cli._common import (
    CHUNK_OPTION,
    FORCE_OPTION,
    SCHEDULER_OPTION,
    WORKERS_OPTION,
    check_scheduler_options,
    chunked_header,
    echo,
    prepare_output,
    require_chunked,
    require_input,
)


@app.command("analyze")
def analyze_command(
    labels: Path = typer.Argument(..., help="Label volume (MRC/TIFF/Zarr): 0 = pore, 1..N = "
                                            "phases."),
    json_out: Path = typer.Option(..., "--json", metavar="METRICS.json",
                                  help="Metrics with units and definitions."),
    csv_out: Path = typer.Option(None, "--csv", metavar="OBJECTS.csv",
                                 help="One row per object (particle) of the solid."),
    png_out: Path = typer.Option(None, "--png", metavar="DIST.png",
                                 help="Plot of the pore-size and solid-thickness "
                                      "distributions."),
    phase: int = typer.Option(None, "--phase", metavar="K",
                              help="Solid label to analyse (default: every non-zero label)."),
    voxel_size: float = typer.Option(None, "--voxel-size", metavar="A",
                                     help="Voxel size in Å (default: from the file header)."),
    envelope: str = typer.Option(None, "--envelope", metavar="closing|convex_hull|slab",
                                 help="Count porosity inside the sample's envelope (a porous "
                                      "particle: closing; a film or section in a thicker "
                                      "reconstruction: slab) instead of the whole box."),
    envelope_radius: int = typer.Option(5, "--envelope-radius", metavar="VOX",
                                        help="Closing radius in voxels for --envelope closing."),
    network: str = typer.Option("pore", "--network",
                                help="Phase for tortuosity and skeleton: pore or solid."),
    metrics: str = typer.Option("all", "--metrics",
                                help="Comma-separated subset of: porosity, surface, pore_size, "
                                     "solid_thickness, topology, tortuosity, "
                                     "diffusive_tortuosity, skeleton, particles."),
    threads: int = typer.Option(None, "--threads", min=1, metavar="N",
                                help="Metrics computed at the same time (default: the cores, "
                                     "at most 2; 1 = one by one, less memory)."),
    diffusive_max_voxels: int = typer.Option(None, "--diffusive-max-voxels", min=0,
                                             metavar="N",
                                             help="Solve the diffusive tortuosity on the "
                                                  "central sub-volume of N voxels when the "
                                                  "volume is larger (default 128³; 0 = the "
                                                  "whole volume: tens of minutes at 512³)."),
    scheduler: str = SCHEDULER_OPTION,
    workers: int = WORKERS_OPTION,
    chunk: int = CHUNK_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Porosity, surface area, pore/solid size distributions, topology, tortuosity, objects.

    Lengths, areas and volumes are in nm (nm², nm³) from the voxel size, with voxel counts
    alongside; the JSON carries the definitions used.

    With --scheduler, porosity and surface (without --envelope) are computed chunk by chunk
    as Dask tasks (the same values: exact, and surface to 1e-6); the other metrics need the
    whole volume and still read it into memory. --metrics porosity,surface keeps memory
    bounded on volumes larger than memory.

    Example: tomoml analyze labels.mrc --json metrics.json --csv objects.csv --png sizes.png

    Example (chunked): tomoml analyze labels.zarr --json m.json --metrics porosity,surface --scheduler threads
    """
    import math

    from tomoml.analyze import analyze
    from tomoml.analyze.transport import DIFFUSIVE_MAX_VOXELS
    from tomoml.errors import ConfigError
    from tomoml.io import read_volume

    require_input(labels, "label volume")
    outputs = [p for p in (json_out, csv_out, png_out) if p is not None]
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise ConfigError("--json, --csv and --png must be different files")
    for p in outputs:
        prepare_output(p, force=force, inputs=[labels])
    if envelope is not None and envelope not in ("closing", "convex_hull", "slab"):
        raise ConfigError(f"--envelope: choose closing, convex_hull or slab, got {envelope!r}")
    if voxel_size is not None and not (math.isfinite(voxel_size) and voxel_size > 0):
        raise ConfigError(f"--voxel-size must be > 0 Å, got {voxel_size:g}")

    if diffusive_max_voxels is None:
        diffusive_max_voxels = DIFFUSIVE_MAX_VOXELS
    chunked = check_scheduler_options(scheduler, workers, chunk) is not None
    if chunked:
        require_chunked(labels, "label volume")
        header_size = chunked_header(labels)[1]  # the labels are read chunk by chunk
    else:
        vol = read_volume(labels, labels=True)
        header_size = vol.voxel_size_A
    size = voxel_size if voxel_size is not None else header_size
    if voxel_size is None and header_size <= 1.0:
        typer.echo(f"tomoml: warning: {labels}: header voxel size is {header_size:g} Å "
                   "(0 or 1 usually means unset); nm values assume it. Pass --voxel-size A.",
                   err=True)
    if chunked:
        from tomoml.analyze.chunked import analyze_chunked

        report = analyze_chunked(labels, size, phase=phase, envelope=envelope,
                                 envelope_radius_vox=envelope_radius, metrics=metrics,
                                 network=network, chunks=chunk, scheduler=scheduler,
                                 num_workers=workers, threads=threads,
                                 diffusive_max_voxels=diffusive_max_voxels or None,
                                 source=str(labels))
    else:
        report = analyze(vol.data, voxel_size_A=size, phase=phase, envelope=envelope,
                         envelope_radius_vox=envelope_radius, metrics=metrics, network=network,
                         diffusive_max_voxels=diffusive_max_voxels or None, workers=threads,
                         source=str(labels))
    report.to_json(json_out, force=force)
    if csv_out is not None:
        report.to_csv(csv_out, force=force)
    if png_out is not None:
        report.plot(png_out, force=force)
    m = report.metrics
    if "porosity" in m:
        echo(f"porosity {m['porosity']['porosity']:.4f}")
    if "surface" in m:
        s = m["surface"]
        echo(f"surface {s['surface_area_nm2']:.4g} nm², S/V_total {s['S_over_V_total_per_nm']:.4g}"
             f" nm⁻¹")
    for key, name in (("pore_size", "pore diameter"), ("solid_thickness", "solid thickness")):
        if key in m and m[key].get("mean_nm") is not None:
            echo(f"mean {name} {m[key]['mean_nm']:.4g} nm (local thickness)")
    echo(f"wrote {', '.join(str(p) for p in outputs)}")
