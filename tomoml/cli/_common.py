"""Helpers shared by the command modules: input checks, output checks, printing."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from tomoml.errors import InputError
from tomoml.io._atomic import check_output_path

__all__ = ["require_input", "prepare_output", "echo", "FORCE_OPTION"]

FORCE_OPTION = typer.Option(False, "--force", "-f", help="Overwrite existing outputs.")


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
