"""Atomic output: write to a temporary sibling, then rename over the target.

A crash leaves at most a ``.tmp`` sibling behind, never a half-written output, and an existing
output is replaced only when ``force`` is true.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tomoml.errors import OutputError


def check_output_path(path: str | os.PathLike, *, force: bool = False,
                      inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Validate an output path: not one of ``inputs``, not existing unless ``force``."""
    out = Path(path)
    for inp in inputs:
        if inp is None:
            continue
        inp = Path(inp)
        same = out.resolve() == inp.resolve()
        if not same and out.exists() and inp.exists():
            same = os.path.samefile(out, inp)
        if same:
            raise OutputError(f"{out}: output would overwrite the input {inp}; choose another path")
    if out.exists() and not force:
        raise OutputError(f"{out}: output exists; use --force to overwrite it")
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    return out


@contextmanager
def atomic_path(path: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    Works for files and for directories (Zarr stores). The temporary name keeps the suffix so
    writers that look at it (tifffile, mrcfile) behave the same.
    """
    final = Path(path)
    if final.exists() and not force:
        raise OutputError(f"{final}: output exists; use --force to overwrite it")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.{uuid.uuid4().hex[:8]}.tmp{final.suffix}")
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise
