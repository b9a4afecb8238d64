"""Batch mode: the same pipeline over many tilt series, one dask task per series.

Each series runs :func:`tomoml.pipeline.run_pipeline` with the shared config into its own
subfolder ``OUT/<series name>/`` (its steps, report and provenance, resumable like a single
run), on any scheduler of :mod:`tomoml.parallel` — a thread or process pool here, or the workers
of a ``dask.distributed`` cluster (``scheduler="tcp://HOST:PORT"``; the workers must see the same
file system). A failing series is recorded and the others go on. At the end
``OUT/batch_summary.csv`` holds one row per series: its status, time, output folder and the
main metrics of its analysis (the scalar entries of ``04..05_analyze/metrics.json``,
``group.key`` columns).

Per-series side files are found beside each stack by name: ``NAME.tlt`` (or ``.rawtlt``) for the
angles (else the config's ``[input] angles``, else the stack's own metadata), and
``NAME_even.EXT`` / ``NAME_odd.EXT`` for Noise2Noise half series.
"""

from __future__ import annotations

import copy
import csv
import glob
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tomoml.errors import ConfigError, InputError, TomomlError
from tomoml.pipeline.config import PipelineConfig

__all__ = ["BatchResult", "BatchSettings", "expand_inputs", "load_batch_config", "run_batch",
           "SUMMARY_NAME"]

log = logging.getLogger(__name__)

SUMMARY_NAME = "batch_summary.csv"
_FIXED_COLUMNS = ("series", "status", "seconds", "out_dir", "tilts", "error")


@dataclass
class BatchResult:
    """Where a batch went: the output folder, one row per series, the summary CSV."""

    out_dir: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: Path | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        """Names of the series that failed."""
        return [r["series"] for r in self.rows if r["status"] != "ok"]


@dataclass
class BatchSettings:
    """The ``[batch]`` section of a pipeline TOML: ``inputs`` (paths or globs, relative to the
    config file), ``scheduler`` and ``num_workers``."""

    inputs: list[str] = field(default_factory=list)
    scheduler: str = "threads"
    num_workers: int | None = None


_PLACEHOLDER = "<batch input>"


def load_batch_config(source: str | os.PathLike | dict[str, Any]
                      ) -> tuple[PipelineConfig, BatchSettings]:
    """Read a pipeline config for batch use: ``[input] tilts`` may be absent, and an optional
    ``[batch]`` section gives the inputs and the scheduler.

    Example ``batch.toml``::

        [batch]
        inputs = ["raw/*.mrc"]
        scheduler = "processes"     # or "threads", "sync", "tcp://HOST:8786"
        num_workers = 2

        [reconstruct]
        method = "sirt"
        # ... the other sections as for a single run

    Raises
    ------
    ConfigError
        Unreadable TOML, an unknown key, a bad value.
    """
    from tomoml.parallel import resolve_scheduler
    from tomoml.pipeline.config import config_from_dict, read_toml

    base = None
    where = "config"
    if isinstance(source, dict):
        data = copy.deepcopy(source)
    else:
        p = Path(source)
        data = read_toml(p)
        base, where = p.parent, str(p)
    raw = data.pop("batch", {}) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [batch] must be a table")
    unknown = set(raw) - {"inputs", "scheduler", "num_workers"}
    if unknown:
        raise ConfigError(f"{where}: [batch] unknown key(s) {sorted(unknown)} "
                          "(known: inputs, scheduler, num_workers)")
    inputs = raw.get("inputs", [])
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise ConfigError(f"{where}: [batch] inputs must be a list of paths or glob patterns")
    if base is not None:
        inputs = [i if Path(i).is_absolute() else str(base / i) for i in inputs]
    scheduler = str(raw.get("scheduler", "threads"))
    resolve_scheduler(scheduler)
    n = raw.get("num_workers")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ConfigError(f"{where}: [batch] num_workers must be an integer >= 1, got {n!r}")
    section = data.setdefault("input", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: [input] must be a table")
    placeholder = not section.get("tilts")
    if placeholder:
        section["tilts"] = _PLACEHOLDER
    cfg = config_from_dict(data, source=None if base is None else where, base_dir=base)
    if placeholder:
        cfg.input.tilts = ""
    return cfg, BatchSettings(inputs=inputs, scheduler=scheduler, num_workers=n)


def expand_inputs(inputs: Sequence[str | os.PathLike] | str | os.PathLike) -> list[Path]:
    """Paths of the tilt series: each entry a path or a glob pattern (``"data/*.mrc"``).

    Raises
    ------
    InputError
        No inputs, a pattern that matches nothing, or a missing file.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    paths: list[Path] = []
    for item in inputs:
        s = str(item)
        if any(c in s for c in "*?["):
            found = sorted(glob.glob(s))
            if not found:
                raise InputError(f"{s}: the pattern matches no file")
            paths.extend(Path(f) for f in found)
        else:
            p = Path(s)
            if not p.exists():
                raise InputError(f"{p}: no such tilt series")
            paths.append(p)
    # a half series matched by a pattern belongs to its full series
    paths = [p for p in paths if not p.stem.endswith(("_even", "_odd"))]
    if not paths:
        raise InputError("inputs: no tilt series given")
    seen: set[Path] = set()
    unique = []
    for p in paths:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append(p)
    return unique


def _series_names(paths: list[Path]) -> list[str]:
    """Subfolder names: the file stem, made unique with ``-2``, ``-3`` ..."""
    names: list[str] = []
    count: dict[str, int] = {}
    for p in paths:
        stem = p.name.split(".")[0] or p.stem
        count[stem] = count.get(stem, 0) + 1
        names.append(stem if count[stem] == 1 else f"{stem}-{count[stem]}")
    return names


def _sibling(p: Path, suffixes: Sequence[str], tag: str = "") -> str | None:
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    for suf in suffixes:
        q = p.with_name(f"{stem}{tag}{suf}")
        if q.exists():
            return str(q)
    return None


def series_config(cfg: PipelineConfig, tilts: Path, out_dir: Path) -> PipelineConfig:
    """The config of one series: its stack, side files and output folder."""
    c = copy.deepcopy(cfg)
    c.input.tilts = str(tilts)
    c.input.angles = _sibling(tilts, (".tlt", ".rawtlt")) or cfg.input.angles
    c.input.even = _sibling(tilts, (tilts.suffix,), "_even")
    c.input.odd = _sibling(tilts, (tilts.suffix,), "_odd")
    if not (c.input.even and c.input.odd):
        c.input.even = c.input.odd = None
    c.input.truth_labels = None
    c.output.dir = str(out_dir)
    c.source = cfg.source
    return c


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Scalar metrics as ``group.key`` -> value (lists and nested tables left out)."""
    out: dict[str, Any] = {}
    for group, values in metrics.items():
        if isinstance(values, dict):
            for k, v in values.items():
                if isinstance(v, bool | int | float | str) or v is None:
                    out[f"{group}.{k}"] = v
        elif isinstance(values, bool | int | float | str):
            out[group] = values
    return out


def _run_one(cfg: PipelineConfig, name: str, command: str | None) -> dict[str, Any]:
    """Run one series (a dask task); never raises for a failing series."""
    from tomoml.pipeline.runner import run_pipeline

    row: dict[str, Any] = {"series": name, "tilts": cfg.input.tilts,
                           "out_dir": cfg.output.dir, "status": "ok", "error": ""}
    t0 = time.perf_counter()
    try:
        res = run_pipeline(cfg, command=command)
        step = res.steps.get("analyze")
        if step is not None and "json" in step.files:
            data = json.loads(step.path("json").read_text(encoding="utf-8"))
            row.update(_flat_metrics(data.get("metrics", {})))
    except TomomlError as err:
        row.update(status="failed", error=str(err).splitlines()[0] if str(err) else
                   type(err).__name__)
    except Exception as err:  # one bad series must not stop a batch of hundreds
        log.exception("series %s failed", name)
        row.update(status="failed", error=f"{type(err).__name__}: {err}".splitlines()[0])
    row["seconds"] = round(time.perf_counter() - t0, 3)
    return row


def _write_summary(rows: list[dict[str, Any]], path: Path) -> Path:
    from tomoml.io import atomic_path

    extra: list[str] = []
    for r in rows:
        extra.extend(k for k in r if k not in _FIXED_COLUMNS and k not in extra)
    columns = list(_FIXED_COLUMNS) + extra
    with atomic_path(path, force=True) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=columns, restval="")
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k, "")) for k in columns})
    return path


def run_batch(config: PipelineConfig | str | os.PathLike,
              inputs: Sequence[str | os.PathLike] | str | os.PathLike, *,
              scheduler: Any = "threads", num_workers: int | None = None,
              out_dir: str | os.PathLike | None = None, fail_fast: bool = False,
              command: str | None = None) -> BatchResult:
    """Run the pipeline on many tilt series, one dask task per series, and tabulate the metrics.

    Parameters
    ----------
    config : PipelineConfig, path or dict
        The shared pipeline config (TOML path, parsed mapping, or loaded; see
        :func:`load_batch_config`). Its ``[input] tilts`` is ignored; ``[output] dir`` is the
        batch folder unless ``out_dir`` is given.
    inputs : sequence of paths or glob patterns
        Tilt series (``"data/*.mrc"``). Files named ``*_even.*`` / ``*_odd.*`` are taken as
        the half series of their full series, not as series of their own.
    scheduler : {"threads", "processes", "sync"}, address or Client
        Where the per-series tasks run (:func:`tomoml.parallel.scheduler_context`).
    num_workers : int, optional
        Series run at once on a local pool (default: one per core). Each series uses the
        cores its steps use, so 1-2 is right on a workstation; more on a cluster.
    out_dir : path, optional
        Batch output folder (default: the config's ``[output] dir``).
    fail_fast : bool
        Raise (after the batch, with the summary written) when any series failed.
    command : str, optional
        The command line, recorded in each series' provenance.

    Returns
    -------
    BatchResult
        ``rows`` in input order and ``summary`` = ``OUT/batch_summary.csv``.

    Raises
    ------
    InputError
        No inputs, or an input that does not exist.
    TomomlError
        With ``fail_fast``: the first failed series and its reason.
    """
    import dask

    from tomoml.parallel import compute

    if not isinstance(config, PipelineConfig):
        config, _ = load_batch_config(config)
    paths = expand_inputs(inputs)
    out = Path(out_dir if out_dir is not None else config.output.dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: batch output must be a folder")
    out.mkdir(parents=True, exist_ok=True)
    names = _series_names(paths)
    t0 = time.perf_counter()
    tasks = [dask.delayed(_run_one, pure=False)(series_config(config, p, out / n), n, command)
             for p, n in zip(paths, names, strict=True)]
    log.info("batch: %d series on %s", len(tasks), scheduler)
    rows = list(compute(*tasks, scheduler=scheduler, num_workers=num_workers))
    result = BatchResult(out_dir=out, rows=rows, seconds=time.perf_counter() - t0)
    result.summary = _write_summary(rows, out / SUMMARY_NAME)
    if result.failed:
        log.warning("batch: %d of %d series failed: %s", len(result.failed), len(rows),
                    ", ".join(result.failed))
        if fail_fast:
            bad = next(r for r in rows if r["status"] != "ok")
            raise TomomlError(f"{bad['tilts']}: {bad['error']}")
    return result
