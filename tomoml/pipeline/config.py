"""The pipeline configuration: a TOML file validated into small dataclasses.

Every key is checked: an unknown key or a bad value is named in a one-line :class:`ConfigError`
(``pipeline.toml: [reconstruct] method = 'sirtt': expected one of fbp, wbp, sirt, cgls, tv``).

Example ``pipeline.toml``::

    [input]
    tilts = "tilts.mrc"
    angles = "tilts.tlt"          # optional when the stack carries its angles
    even = "tilts_even.mrc"       # optional: half-dose series for Noise2Noise
    odd = "tilts_odd.mrc"

    [output]
    dir = "results"

    [align]
    method = "projmatch"          # or "xcorr", "none"

    [reconstruct]
    method = "sirt"
    iterations = 50

    [denoise]
    method = "n2n"                # or "n2v", "none"
    epochs = 20

    [segment]
    model = "default"             # or a model path, or method = "otsu"

    [analyze]
    envelope = "closing"          # porosity inside the particle, not the box

    [render]
    html = true

    [parallel]                    # optional: chunked / distributed steps (tomoml.parallel)
    scheduler = "processes"       # threads | processes | sync | tcp://HOST:PORT
    num_workers = 2
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tomoml.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "AlignConfig", "AnalyzeConfig", "DenoiseConfig", "InputConfig", "OutputConfig",
    "ParallelConfig", "PipelineConfig", "ReconstructConfig", "RenderConfig", "SegmentConfig", "load_config",
]


@dataclass
class InputConfig:
    tilts: str = ""
    angles: str | None = None
    even: str | None = None
    odd: str | None = None
    pixel_size_A: float | None = None
    truth_labels: str | None = None  # optional ground truth, for reports on simulated data


@dataclass
class OutputConfig:
    dir: str = "tomoml-out"
    force: bool = False


@dataclass
class AlignConfig:
    method: str = "projmatch"
    estimate_axis: bool = True
    max_shift: float | None = None
    iterations: int | None = None

    _choices = {"method": ("projmatch", "xcorr", "fiducials", "none")}


@dataclass
class ReconstructConfig:
    method: str = "sirt"
    iterations: int | None = None
    thickness: int | None = None
    filter: str = "ramp"
    device: str = "auto"

    _choices = {"method": ("fbp", "wbp", "sirt", "cgls", "tv"),
                "device": ("auto", "cpu", "cuda")}


@dataclass
class DenoiseConfig:
    method: str = "n2n"
    epochs: int | None = None
    patch: int | None = None
    batch: int | None = None
    steps_per_epoch: int | None = None
    # Training stops after the epoch in which this many minutes have passed, keeping the best
    # model so far. Unset by default: a time budget makes the model depend on the machine's
    # speed, and the same inputs and seed must give the same outputs (CONVENTIONS).
    max_minutes: float | None = None
    model: str | None = None
    device: str = "auto"
    # The mean of the network over the 8 flips of each window (tomoml.denoise.predict).
    flip_average: bool = True

    _choices = {"method": ("n2n", "n2v", "none"), "device": ("auto", "cpu", "cuda")}


@dataclass
class SegmentConfig:
    model: str = "default"
    method: str | None = None
    device: str = "auto"

    _choices = {"method": (None, "otsu", "multiotsu", "local", "watershed"),
                "device": ("auto", "cpu", "cuda")}


@dataclass
class AnalyzeConfig:
    phase: int | None = None  # the solid label analysed; None = every non-zero label together
    envelope: str | None = None
    voxel_size_A: float | None = None

    _choices = {"envelope": (None, "closing", "convex_hull", "slab")}


@dataclass
class RenderConfig:
    enabled: bool = True
    html: bool = True
    iso: float | None = None


@dataclass
class ParallelConfig:
    """Where the chunked paths of the steps run: unset ``scheduler`` = every step in this
    process on whole volumes, as before. Set, reconstruct works by slabs, denoise and segment
    (U-Net, otsu) by overlapping chunks and analyze computes porosity and surface by chunks,
    on that dask scheduler, reading and writing the step files chunk by chunk."""

    scheduler: str | None = None   # threads | processes | sync | tcp://HOST:PORT
    num_workers: int | None = None  # local pool size
    chunk: int | None = None        # chunk edge in voxels (reconstruct: rows per slab)


@dataclass
class PipelineConfig:
    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    reconstruct: ReconstructConfig = field(default_factory=ReconstructConfig)
    denoise: DenoiseConfig = field(default_factory=DenoiseConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    analyze: AnalyzeConfig = field(default_factory=AnalyzeConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    seed: int = 0
    source: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source", None)
        return out


def _check_type(where: str, key: str, value: Any, annotation: str) -> Any:
    """Check ``value`` against a simple annotation string (``int``, ``float | None``, ...)."""
    allowed = [a.strip() for a in annotation.split("|")]
    if value is None and "None" in allowed:
        return None
    for a in allowed:
        if a == "bool" and isinstance(value, bool):
            return value
        if a == "int" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if a == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if a == "str" and isinstance(value, str):
            return value
    raise ConfigError(f"{where}{key} = {value!r}: expected {annotation.replace(' | None', '')}")


def _section(cls, data: dict[str, Any], where: str, name: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}[{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{where}[{name}] unknown key {key!r} (known: {', '.join(known)})")
        value = _check_type(f"{where}[{name}] ", key, value, str(known[key].type))
        choices = getattr(cls, "_choices", {}).get(key)
        if choices is not None and value not in choices:
            shown = ", ".join(str(c) for c in choices if c is not None)
            raise ConfigError(f"{where}[{name}] {key} = {value!r}: expected one of {shown}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise ConfigError(f"{where}[{name}] {key} = {value!r}: must not be negative")
        kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any], *, source: str | None = None,
                     base_dir: str | os.PathLike | None = None) -> PipelineConfig:
    """Validate a parsed TOML mapping into a :class:`PipelineConfig`.

    Relative input paths and the output directory are taken relative to ``base_dir``.
    """
    where = f"{source}: " if source else ""
    sections = {f.name: f for f in fields(PipelineConfig) if f.name not in {"seed", "source"}}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "seed":
            kwargs["seed"] = _check_type(where, "seed", value, "int")
        elif key in sections:
            cls = {"input": InputConfig, "output": OutputConfig, "align": AlignConfig,
                   "reconstruct": ReconstructConfig, "denoise": DenoiseConfig,
                   "segment": SegmentConfig, "analyze": AnalyzeConfig,
                   "render": RenderConfig, "parallel": ParallelConfig}[key]
            kwargs[key] = _section(cls, value, where, key)
        else:
            raise ConfigError(f"{where}unknown section [{key}] (known: "
                              f"{', '.join(sections)}, seed)")
    cfg = PipelineConfig(**kwargs, source=source)
    _check_parallel(cfg.parallel, where)
    if not cfg.input.tilts:
        raise ConfigError(f"{where}[input] tilts is required (the tilt-series file)")
    if (cfg.input.even is None) != (cfg.input.odd is None):
        raise ConfigError(f"{where}[input] give both even and odd, or neither")
    if base_dir is not None:
        base = Path(base_dir)
        for name in ("tilts", "angles", "even", "odd", "truth_labels"):
            p = getattr(cfg.input, name)
            if p is not None and not Path(p).is_absolute():
                setattr(cfg.input, name, str(base / p))
        if not Path(cfg.output.dir).is_absolute():
            cfg.output.dir = str(base / cfg.output.dir)
    return cfg


def _check_parallel(par: ParallelConfig, where: str) -> None:
    if par.scheduler is not None:
        from tomoml.parallel import resolve_scheduler

        try:
            resolve_scheduler(par.scheduler)
        except ConfigError as err:
            raise ConfigError(f"{where}[parallel] {err}") from None
    for key, least in (("num_workers", 1), ("chunk", 8)):
        value = getattr(par, key)
        if value is not None and value < least:
            raise ConfigError(f"{where}[parallel] {key} = {value!r}: must be >= {least}")
    if par.scheduler is None and (par.num_workers is not None or par.chunk is not None):
        raise ConfigError(f"{where}[parallel] num_workers and chunk need a scheduler")


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a pipeline TOML file; a missing or invalid file is a one-line ConfigError."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such file (pipeline config)")
    try:
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None


def load_config(path: str | os.PathLike) -> PipelineConfig:
    """Read and validate a pipeline TOML file."""
    p = Path(path)
    return config_from_dict(read_toml(p), source=str(p), base_dir=p.parent)
