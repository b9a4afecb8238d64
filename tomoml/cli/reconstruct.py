"""``tomoml reconstruct``: a tilt series (+ angles, + optional .xf) to a volume."""

from __future__ import annotations

from pathlib import Path

import typer

from tomoml.cli._app import app
from tomoml.cli._common import (
    FORCE_OPTION,
    SCHEDULER_OPTION,
    WORKERS_OPTION,
    check_scheduler_options,
    echo,
    prepare_output,
    require_chunked,
    require_input,
)


def _half_path(out: Path, role: str) -> Path:
    suffix = "".join(out.suffixes[-1:])
    return out.with_name(f"{out.name[: len(out.name) - len(suffix)]}_{role}{suffix}")


@app.command("reconstruct")
def reconstruct_command(
    tilts: Path = typer.Argument(..., help="Tilt series (MRC/TIFF/DM/Zarr), tilt axis along y."),
    angles: Path = typer.Option(None, "--angles", "-a", metavar="TLT",
                                help="Tilt angles (.tlt/.rawtlt); optional when the file "
                                     "carries them (FEI header, .mdoc, DM metadata)."),
    output: Path = typer.Option(..., "--output", "-o", metavar="VOLUME",
                                help="Output volume (.mrc/.rec, .tif, .zarr)."),
    method: str = typer.Option("fbp", "--method", "-m", help="fbp, wbp, sirt, cgls or tv."),
    iterations: int = typer.Option(None, "--iterations", "-n", metavar="N",
                                   help="Iterations (default: sirt 50, cgls 20, tv 100)."),
    thickness: int = typer.Option(None, "--thickness", metavar="NZ",
                                  help="Volume thickness in voxels (default: image width)."),
    xf: Path = typer.Option(None, "--xf", metavar="IN.xf",
                            help="IMOD .xf alignment (tilt-axis rotation + shifts) of the "
                                 "raw images."),
    filter_name: str = typer.Option("ramp", "--filter",
                                    help="FBP filter: ramp, shepp-logan, cosine, hann."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    engine: str = typer.Option("tomoml", "--engine", help="tomoml or tomopy (if installed)."),
    relaxation: float = typer.Option(1.0, "--relaxation", help="SIRT step, in (0, 2)."),
    nonnegative: bool = typer.Option(False, "--nonnegative",
                                     help="Clip negative densities (SIRT, TV)."),
    tv_weight: float = typer.Option(0.05, "--tv-weight",
                                    help="TV strength relative to the volume's range."),
    memory: float = typer.Option(None, "--memory", metavar="GB",
                                 help="Memory budget; larger volumes are written slab by slab "
                                      "into a memory-mapped MRC output."),
    even: Path = typer.Option(None, "--even", metavar="EVEN",
                              help="Even half-series: reconstructed too, to <out>_even."),
    odd: Path = typer.Option(None, "--odd", metavar="ODD",
                             help="Odd half-series: reconstructed too, to <out>_odd."),
    scheduler: str = SCHEDULER_OPTION,
    workers: int = WORKERS_OPTION,
    chunk: int = typer.Option(None, "--chunk", min=1, metavar="ROWS",
                              help="With --scheduler: slices along the tilt axis per task "
                                   "(default 128; rounded up to a multiple of 32)."),
    force: bool = FORCE_OPTION,
) -> None:
    """Reconstruct a volume (z, y, x) from a tilt series.

    FBP/WBP take seconds; SIRT, CGLS and TV iterate, showing progress
    and the residual. --xf applies an IMOD alignment on the fly.

    With --even/--odd the two half-dose series are reconstructed with
    the same settings into <out>_even and <out>_odd beside the output
    (for Noise2Noise denoising).

    With --scheduler the volume is reconstructed by slabs of slices
    along the tilt axis, each a Dask task that reads its rows of the
    (memory-mapped) tilt series and writes its block into the MRC or
    Zarr output: bit-identical to the plain run for fbp, wbp, sirt and
    cgls (tv differs slightly near slab borders).

    Example: tomoml reconstruct tilts.mrc --angles tilts.tlt -o rec.mrc --method sirt

    Example (chunked): tomoml reconstruct tilts.mrc -o rec.zarr -m sirt --scheduler processes --workers 2
    """
    import numpy as np

    from tomoml.errors import ConfigError
    from tomoml.io import read_tilt_series, read_xf, write_volume
    from tomoml.reconstruct import reconstruct
    from tomoml.reconstruct.api import _resolve_method

    method = _resolve_method(method)
    if (even is None) != (odd is None):
        raise ConfigError("--even and --odd go together (the two half-dose series)")
    inputs = [p for p in (tilts, angles, xf, even, odd) if p is not None]
    for p in inputs:
        require_input(p)
    outputs = [output]
    if even is not None:
        outputs += [_half_path(output, "even"), _half_path(output, "odd")]
    for p in outputs:
        prepare_output(p, force=force, inputs=inputs)
    if memory is not None and memory <= 0:
        raise ConfigError(f"--memory must be > 0 GB, got {memory:g}")
    if check_scheduler_options(scheduler, workers, chunk) is not None:
        if memory is not None:
            raise ConfigError("--memory and --scheduler exclude each other: with --scheduler "
                              "memory is bounded by the slab size (--chunk)")
        for p in outputs:
            require_chunked(p, "output")
        series = [(tilts, output)] + ([(even, outputs[1]), (odd, outputs[2])]
                                      if even is not None else [])
        _reconstruct_chunked(series, angles, xf, method, scheduler, workers, chunk, force,
                             dict(iterations=iterations, thickness=thickness,
                                  filter=filter_name, device=device, engine=engine,
                                  relaxation=relaxation, nonnegative=nonnegative,
                                  tv_weight=tv_weight))
        return

    ts = read_tilt_series(tilts, angles, mmap=True if memory is not None else None)
    transforms = read_xf(xf) if xf is not None else None
    kw = dict(method=method, iterations=iterations, thickness=thickness, filter=filter_name,
              xf=transforms, device=device, engine=engine, relaxation=relaxation,
              nonnegative=nonnegative, tv_weight=tv_weight, memory_gb=memory,
              return_info=True)

    jobs = [(ts, output)]
    if even is not None:
        jobs.append((read_tilt_series(even, angles, mmap=True if memory is not None else None),
                     outputs[1]))
        jobs.append((read_tilt_series(odd, angles, mmap=True if memory is not None else None),
                     outputs[2]))
    for series, out_path in jobs:
        if transforms is not None and len(transforms) != series.n_tilts:
            raise ConfigError(f"{xf}: {len(transforms)} transforms for {series.n_tilts} tilts "
                              f"in {series.source}")
        nz = series.shape[2] if thickness is None else int(thickness)
        vol_gb = 4 * nz * series.shape[1] * series.shape[2] / 2**30
        big = memory is not None and vol_gb + 4 * np.prod(series.shape) / 2**30 > memory
        if big:
            _reconstruct_to_mrc_mmap(series, out_path, nz, force, kw)
            info = None
        else:
            vol, info = reconstruct(series, **kw)
            write_volume(vol, out_path, force=force)
        res = "" if info is None or not info.residuals.size else (
            f", relative residual {info.residuals[-1]:.4g}")
        took = "" if info is None else f" in {info.seconds:.1f} s on {info.device}"
        echo(f"tomoml reconstruct: {method} {nz}x{series.shape[1]}x{series.shape[2]} from "
             f"{series.n_tilts} tilts{took}{res} -> {out_path}")


def _reconstruct_to_mrc_mmap(series, out_path: Path, nz: int, force: bool, kw: dict) -> None:
    """Reconstruct slab by slab straight into a memory-mapped MRC file (atomic)."""
    import mrcfile
    import numpy as np

    from tomoml.errors import ConfigError
    from tomoml.io import atomic_path
    from tomoml.reconstruct import reconstruct

    if out_path.suffix.lower() not in (".mrc", ".rec", ".map"):
        raise ConfigError(f"{out_path}: volumes over --memory are written as memory-mapped MRC; "
                          "use a .mrc or .rec output")
    shape = (nz, series.shape[1], series.shape[2])
    with atomic_path(out_path, force=force) as tmp:
        with mrcfile.new_mmap(tmp, shape=shape, mrc_mode=2, overwrite=True) as mrc:
            kw = dict(kw, return_info=False, out=mrc.data)
            reconstruct(series, **kw)
            mrc.set_volume()
            mrc.voxel_size = (series.pixel_size_A,) * 3
            mrc.update_header_stats()
            if not np.isfinite(mrc.header.rms):
                raise ConfigError(f"{out_path}: reconstruction produced non-finite values")


def _reconstruct_chunked(series: list[tuple[Path, Path]], angles: Path | None, xf: Path | None,
                         method: str, scheduler: str, workers: int | None, rows: int | None,
                         force: bool, options: dict) -> None:
    """``--scheduler``: each series by slabs of rows (reconstruct_slabs) into MRC/Zarr."""
    import os
    import time

    from tomoml.errors import ConfigError
    from tomoml.io import read_tilt_series, read_xf
    from tomoml.parallel import resolve_scheduler
    from tomoml.reconstruct.slabs import reconstruct_slabs

    transforms = read_xf(xf) if xf is not None else None
    # a process per task: one torch thread each, or the workers oversubscribe the cores
    per_task = (max(1, (os.cpu_count() or 1) // (workers or os.cpu_count() or 1))
                if resolve_scheduler(scheduler) == "processes" else None)
    for tilts_path, out_path in series:
        ts = read_tilt_series(tilts_path, angles, mmap=True)  # header + angles; data mapped
        if transforms is not None and len(transforms) != ts.n_tilts:
            raise ConfigError(f"{xf}: {len(transforms)} transforms for {ts.n_tilts} tilts in "
                              f"{tilts_path}")
        t0 = time.perf_counter()
        reconstruct_slabs(tilts_path, method, angles=angles, out=out_path, slab_rows=rows,
                          scheduler=scheduler, num_workers=workers, threads_per_task=per_task,
                          xf=transforms, force=force, **options)
        nz = ts.shape[2] if options["thickness"] is None else int(options["thickness"])
        echo(f"tomoml reconstruct: {method} {nz}x{ts.shape[1]}x{ts.shape[2]} from "
             f"{ts.n_tilts} tilts in {time.perf_counter() - t0:.1f} s by slabs on {scheduler} "
             f"-> {out_path}")
