"""``tomoml align``: estimate shifts and the tilt-axis angle, write the aligned stack and a .xf."""

from __future__ import annotations

from pathlib import Path

import typer

from tomoml.cli._app import app
from tomoml.cli._common import FORCE_OPTION, echo, prepare_output, require_input


@app.command("align")
def align_command(
    tilts: Path = typer.Argument(..., help="Raw tilt series (MRC/TIFF/DM)."),
    angles: Path = typer.Option(None, "--angles", "-a",
                                help="Tilt angles, IMOD .tlt (default: from the file's metadata)."),
    output: Path = typer.Option(..., "--output", "-o", help="Aligned tilt series to write."),
    xf: Path = typer.Option(None, "--xf", help="IMOD .xf transforms to write (raw -> aligned)."),
    method: str = typer.Option("projmatch", "--method", "-m",
                               help="xcorr | projmatch | fiducials."),
    no_axis: bool = typer.Option(False, "--no-axis",
                                 help="Do not estimate the tilt axis; use --axis as given."),
    axis: float = typer.Option(None, "--axis",
                               help="Tilt-axis angle (deg from image y, counter-clockwise): the "
                                    "value used with --no-axis, else the hint that fixes the "
                                    "handedness (e.g. 90 when the axis runs along x). Default: "
                                    "the file's metadata, else 0."),
    max_shift: float = typer.Option(None, "--max-shift",
                                    help="Largest shift between neighbouring tilts, pixels."),
    iterations: int = typer.Option(20, "--iterations", "-n",
                                   help="Most projection-matching rounds per binning level."),
    thickness: int = typer.Option(None, "--thickness",
                                  help="Reconstruction thickness for matching, pixels."),
    force: bool = FORCE_OPTION,
) -> None:
    """Align a tilt series: shifts and tilt-axis angle; prints axis, shifts and residual.

    Example: tomoml align tilts.mrc --angles tilts.tlt -o tilts.ali --xf tilts.xf
    """
    from tomoml import io as tio
    from tomoml.align import align

    require_input(tilts, "tilt series")
    require_input(angles, "tilt angles")
    prepare_output(output, force=force, inputs=(tilts, angles))
    if xf is not None:
        prepare_output(xf, force=force, inputs=(tilts, angles, output))
    series = tio.read_tilt_series(tilts, angles)
    if axis is not None:
        series = series.replace(tilt_axis_deg=axis)
    result = align(series, method=method, estimate_axis=not no_axis, max_shift=max_shift,
                   iterations=iterations, thickness=thickness)
    tio.write_tilt_series(result.aligned, output, force=force)
    if xf is not None:
        tio.write_xf(result.xf, xf, force=force)
    sh = result.shifts_dydx
    echo(f"tilt axis: {result.tilt_axis_deg:.2f} deg"
         + ("" if no_axis else f" (common-line score {result.axis_score:.2f})"))
    echo(f"shifts: dy {sh[:, 0].min():.1f}..{sh[:, 0].max():.1f} px, "
         f"dx {sh[:, 1].min():.1f}..{sh[:, 1].max():.1f} px")
    if result.history:
        last = result.history[-1]
        echo(f"projection matching: {len(result.history)} rounds, last update "
             f"{last.rms_update_px:.3f} px rms")
    echo(f"reprojection residual |Px-b|/|b|: {result.residual:.4f}")
    echo(f"wrote {output}" + (f" and {xf}" if xf is not None else "")
         + f" ({result.seconds:.1f} s)")
