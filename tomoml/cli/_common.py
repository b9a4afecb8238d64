"""Helpers shared by the command modules: input checks, output checks, printing."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from tomoml.errors import InputError
from tomoml.io._atomic import check_output_path

__all__ = ["require_input", "prepare_output", "echo", "FORCE_OPTION", "SCHEDULER_OPTION",
           "WORKERS_OPTION", "CHUNK_OPTION", "check_scheduler_options", "require_chunked",
           "chunked_header", "chunked_header_origin"]

FORCE_OPTION = typer.Option(False, "--force", "-f", help="Overwrite existing outputs.")

# The chunked / distributed path of reconstruct, denoise, segment and analyze (tomoml.parallel).
SCHEDULER_OPTION = typer.Option(
    None, "--scheduler", metavar="SCHEDULER",
    help="threads, processes, sync, or tcp://HOST:PORT of a running dask.distributed "
         "scheduler (its workers must see the same files): run chunk by chunk as Dask tasks, "
         "reading and writing MRC or Zarr, so memory stays bounded. Default: in-process, "
         "whole volume.")
WORKERS_OPTION = typer.Option(None, "--workers", min=1, metavar="N",
                              help="With --scheduler threads/processes: tasks at once "
                                   "(default: the number of cores).")
CHUNK_OPTION = typer.Option(None, "--chunk", min=8, metavar="VOX",
                            help="With --scheduler: chunk edge in voxels (default 128).")

_CHUNKED_SUFFIXES = (".mrc", ".rec", ".map", ".st", ".ali", ".mrcs", ".zarr")


def require_input(path: str | os.PathLike | None, what: str = "input") -> Path | None:
    """Check that an input file exists and is readable; return it as a Path."""
    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file ({what})")
    if p.is_file() and not os.access(p, os.R_OK):
        raise InputError(f"{p}: file is not readable ({what})")
    return p


def prepare_output(path: str | os.PathLike, *, force: bool, inputs=()) -> Path:
    """Check an output path (not an input, not existing unless ``force``)."""
    return check_output_path(path, force=force, inputs=tuple(inputs))


def echo(message: str) -> None:
    """Print a result line for the user (stdout)."""
    typer.echo(message)


def check_scheduler_options(scheduler: str | None, workers: int | None = None,
                            chunk: int | None = None) -> str | None:
    """Validate ``--scheduler`` (a name, or an address that must answer) and check that
    ``--workers`` / ``--chunk`` come with it; return the scheduler or None."""
    from tomoml.errors import ConfigError

    if scheduler is None:
        for flag, value in (("--workers", workers), ("--chunk", chunk)):
            if value is not None:
                raise ConfigError(f"{flag} applies to the chunked path: add --scheduler "
                                  "threads|processes|tcp://HOST:PORT")
        return None
    from tomoml.parallel import check_scheduler

    s = check_scheduler(scheduler)
    if workers is not None and "://" in str(s):
        raise ConfigError("--workers sets a local pool; a dask.distributed cluster has its own "
                          "workers (start them with 'dask worker --nworkers N')")
    return scheduler


def require_chunked(path: str | os.PathLike, what: str) -> Path:
    """Check that a file can be read or written chunk by chunk (MRC or Zarr)."""
    from tomoml.errors import ConfigError

    p = Path(path)
    if p.suffix.lower() not in _CHUNKED_SUFFIXES:
        raise ConfigError(f"{p}: with --scheduler the {what} must be MRC "
                          f"(.mrc .rec .map .st .ali) or a .zarr store; convert it with "
                          f"tomoml.io or drop --scheduler")
    return p


def chunked_header(path: str | os.PathLike) -> tuple[tuple[int, ...], float, bool]:
    """``(shape, voxel size in Å, marked as labels)`` of an MRC file or Zarr store, without
    reading its data (for the chunked path)."""
    shape, size, marked, _ = chunked_header_origin(path)
    return shape, size, marked


def chunked_header_origin(path: str | os.PathLike):
    """:func:`chunked_header` plus the ``(z, y, x)`` origin in ångström."""
    p = Path(path)
    if p.suffix.lower() == ".zarr":
        from tomoml.io.zarr_io import read_zarr

        z = read_zarr(p, lazy=True)
        shape, size, marked = tuple(z.data.shape), z.voxel_size_A, bool(z.attrs.get("is_labels"))
        origin = tuple(float(v) for v in z.attrs.get("origin_A", (0.0, 0.0, 0.0)))
    else:
        from tomoml.io.mrc import read_mrc

        m = read_mrc(p, mmap=True)
        shape, size, marked, origin = tuple(m.data.shape), m.voxel_size_A, m.is_labels, m.origin_A
    if len(shape) != 3:
        raise InputError(f"{p}: a volume must be 3D (z, y, x), got shape {shape}")
    return shape, float(size) if size else 1.0, marked, tuple(origin)
