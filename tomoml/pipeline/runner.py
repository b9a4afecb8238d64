"""Run align -> reconstruct -> denoise -> segment -> analyze -> render from one config.

Each step lives in ``OUT/NN_step/`` with a ``step.json`` recording the hash of its inputs and
settings; a re-run reuses every step whose hash still matches. The run's provenance goes to
``OUT/tomoml-run.json`` and a self-contained HTML report to ``OUT/report.html``.
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tomoml.errors import InputError
from tomoml.pipeline.cache import StepResult, file_checksum, run_cached, settings_key
from tomoml.pipeline.config import PipelineConfig

log = logging.getLogger(__name__)

__all__ = ["PipelineResult", "run_pipeline"]


@dataclass
class PipelineResult:
    """The steps of one run, in order, and where the report and provenance are."""

    out_dir: Path
    steps: dict[str, StepResult] = field(default_factory=dict)
    report: Path | None = None
    provenance: Path | None = None
    seconds: float = 0.0

    def path(self, step: str, role: str) -> Path:
        return self.steps[step].path(role)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("tomoml", "numpy", "scipy", "astra-toolbox", "torch", "monai", "scikit-image",
                 "porespy", "pyvista", "vtk", "mrcfile"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


# --------------------------------------------------------------------------- steps
# Each step: compute(folder) -> (files, info). Heavy imports stay inside.

def _load_inputs(cfg: PipelineConfig):
    from tomoml.io import read_tilt_series

    inp = cfg.input
    tilts = read_tilt_series(inp.tilts, inp.angles, pixel_size_A=inp.pixel_size_A)
    even = odd = None
    if inp.even and inp.odd:
        even = read_tilt_series(inp.even, tilts.angles_deg, pixel_size_A=tilts.pixel_size_A)
        odd = read_tilt_series(inp.odd, tilts.angles_deg, pixel_size_A=tilts.pixel_size_A)
        for half, path in ((even, inp.even), (odd, inp.odd)):
            if half.shape != tilts.shape:
                raise InputError(f"{path}: shape {half.shape} differs from the tilt series "
                                 f"{inp.tilts} {tilts.shape}")
    return tilts, even, odd


def _step_align(cfg, tilts, even, odd, seed):
    def compute(folder: Path):
        from tomoml.align import align
        from tomoml.io import write_tilt_series, write_xf

        ac = cfg.align
        kw = {"iterations": ac.iterations} if ac.iterations is not None else {}
        result = align(tilts, method=ac.method, estimate_axis=ac.estimate_axis,
                       max_shift=ac.max_shift, seed=seed, **kw)
        files = {"aligned": "aligned.mrc", "xf": "aligned.xf"}
        write_tilt_series(result.aligned, folder / files["aligned"])
        write_xf(result.xf, folder / files["xf"])
        shifts = np.asarray(result.shifts_dydx)
        info = {"tilt_axis_deg": float(result.tilt_axis_deg),
                "reprojection_residual": float(result.residual),
                "max_shift_px": float(np.abs(shifts).max()) if shifts.size else 0.0}
        if even is not None:
            for half, role in ((even, "aligned_even"), (odd, "aligned_odd")):
                files[role] = f"{role}.mrc"
                write_tilt_series(half.replace(data=result.xf.apply(half.data)),
                                  folder / files[role])
        return files, info

    return compute


def _step_reconstruct(cfg, tilts, even, odd):
    def compute(folder: Path):
        from tomoml.io import write_volume
        from tomoml.reconstruct import reconstruct

        rc = cfg.reconstruct
        kw = dict(method=rc.method, iterations=rc.iterations, thickness=rc.thickness,
                  device=rc.device)
        if rc.method in ("fbp", "wbp"):
            kw["filter"] = rc.filter
        files = {"volume": "reconstruction.mrc"}
        jobs = [(tilts, "volume")] + ([(even, "even"), (odd, "odd")] if even is not None else [])
        for series, role in jobs:
            if role != "volume":
                files[role] = f"reconstruction_{role}.mrc"
            if cfg.parallel.scheduler is not None:
                # slabs along the tilt axis, each written into the memory-mapped MRC file
                from tomoml.reconstruct.slabs import reconstruct_slabs

                par = cfg.parallel
                reconstruct_slabs(series, out=folder / files[role], slab_rows=par.chunk,
                                  scheduler=par.scheduler, num_workers=par.num_workers, **kw)
            else:
                write_volume(reconstruct(series, **kw), folder / files[role])
        return files, {"method": rc.method, "iterations": rc.iterations}

    return compute


def _step_denoise(cfg, volume, even, odd, seed):
    def compute(folder: Path):
        from tomoml.denoise import denoise
        from tomoml.io import write_volume

        dc = cfg.denoise
        method = dc.method if (even is not None or dc.method == "n2v") else "n2v"
        kw = {k: v for k, v in dict(epochs=dc.epochs, patch=dc.patch, batch=dc.batch,
                                     steps_per_epoch=dc.steps_per_epoch,
                                     max_minutes=dc.max_minutes,
                                     model=dc.model).items()
              if v is not None}
        if cfg.parallel.scheduler is not None:
            return _denoise_chunked(cfg, folder, volume, even, odd, method, seed, kw)
        if method == "n2n":
            out = denoise(volume.data, even=even.data, odd=odd.data, method="n2n", seed=seed,
                          device=dc.device, flip_average=dc.flip_average, **kw)
        else:
            out = denoise(volume.data, method="n2v", seed=seed, device=dc.device,
                          flip_average=dc.flip_average, **kw)
        files = {"volume": "denoised.mrc"}
        write_volume(volume.replace(data=np.asarray(out, dtype=np.float32)),
                     folder / files["volume"])
        return files, {"method": method}

    return compute


def _denoise_chunked(cfg, folder: Path, volume, even, odd, method: str, seed: int, kw: dict):
    """Train as :func:`tomoml.denoise.denoise` does, save the model in the step folder, apply
    it by overlapping chunks of the reconstruction files (denoise_blocks)."""
    from tomoml.denoise import fit_denoiser
    from tomoml.parallel import denoise_blocks

    dc, par = cfg.denoise, cfg.parallel
    halves = dict(even=even.data, odd=odd.data) if method == "n2n" else {}
    model = fit_denoiser(None if halves else volume.data, **halves, method=method, seed=seed,
                         device=dc.device, **kw)
    files = {"volume": "denoised.mrc", "model": "model.pt"}
    model.save(folder / files["model"])
    pair = (dict(even=even.source, odd=odd.source) if method == "n2n" else {})
    denoise_blocks(None if pair else volume.source, folder / files["model"], **pair,
                   chunks=par.chunk, scheduler=par.scheduler, num_workers=par.num_workers,
                   out=folder / files["volume"], voxel_size_A=volume.voxel_size_A,
                   origin_A=volume.origin_A, device=dc.device, flip_average=dc.flip_average)
    return files, {"method": method}


def _step_segment(cfg, volume):
    def compute(folder: Path):
        from tomoml.io import write_volume
        from tomoml.segment import segment

        sc = cfg.segment
        par = cfg.parallel
        if par.scheduler is not None and sc.method in (None, "otsu"):
            from tomoml.parallel import segment_blocks

            files = {"labels": "labels.mrc"}
            segment_blocks(volume.source, model=sc.model, method=sc.method, chunks=par.chunk,
                           scheduler=par.scheduler, num_workers=par.num_workers,
                           out=folder / files["labels"], voxel_size_A=volume.voxel_size_A,
                           origin_A=volume.origin_A, device=sc.device)
            return files, {"model": sc.method or sc.model}
        if par.scheduler is not None:
            log.info("segment: method %s needs the whole volume (no chunked path)", sc.method)
        if sc.method:
            labels = segment(volume.data, method=sc.method)
        else:
            labels = segment(volume.data, model=sc.model, device=sc.device)
        files = {"labels": "labels.mrc"}
        write_volume(volume.replace(data=np.asarray(labels, dtype=np.uint8)),
                     folder / files["labels"])
        return files, {"model": sc.method or sc.model}

    return compute


def _step_analyze(cfg, labels):
    def compute(folder: Path):
        from tomoml.analyze import analyze

        ac = cfg.analyze
        voxel = ac.voxel_size_A or labels.voxel_size_A
        if cfg.parallel.scheduler is not None:
            from tomoml.analyze.chunked import analyze_chunked

            par = cfg.parallel
            report = analyze_chunked(labels.source, voxel, phase=ac.phase, envelope=ac.envelope,
                                     chunks=par.chunk, scheduler=par.scheduler,
                                     num_workers=par.num_workers)
        else:
            report = analyze(labels.data, voxel_size_A=voxel, phase=ac.phase,
                             envelope=ac.envelope)
        files = {"json": "metrics.json", "csv": "objects.csv", "png": "distributions.png"}
        report.to_json(folder / files["json"])
        report.to_csv(folder / files["csv"])
        report.plot(folder / files["png"])
        return files, {}

    return compute


def _step_render(cfg, labels):
    def compute(folder: Path):
        from tomoml.render import export_html, render_png

        files = {"png": "render.png"}
        render_png(labels.data, folder / files["png"], voxel_size_A=labels.voxel_size_A,
                   labels=True)
        if cfg.render.html:
            files["html"] = "scene.html"
            export_html(labels.data, folder / files["html"], voxel_size_A=labels.voxel_size_A,
                        labels=True)
        return files, {}

    return compute


# --------------------------------------------------------------------------- runner

def run_pipeline(cfg: PipelineConfig, *, command: str | None = None) -> PipelineResult:
    """Run every enabled step of ``cfg``; return where everything went.

    Steps whose inputs and settings are unchanged since the last run in the same output folder
    are reused, not recomputed.
    """
    from tomoml.io import read_volume

    t_start = time.perf_counter()
    out = Path(cfg.output.dir)
    out.mkdir(parents=True, exist_ok=True)
    force = cfg.output.force
    res = PipelineResult(out_dir=out)

    inputs = {name: getattr(cfg.input, name) for name in ("tilts", "angles", "even", "odd")
              if getattr(cfg.input, name)}
    for name, p in inputs.items():
        if not Path(p).exists():
            raise InputError(f"{p}: no such file ([input] {name})")
    checksums = {name: file_checksum(p) for name, p in inputs.items()}
    tilts, even, odd = _load_inputs(cfg)
    upstream = settings_key(checksums, cfg.input.pixel_size_A)

    par = cfg.parallel
    if par.scheduler is not None:
        from tomoml.parallel import check_scheduler

        check_scheduler(par.scheduler)  # an address that does not answer fails before any work
    mmap = True if par.scheduler is not None else None  # chunked: step files stay on disk

    def step(number: int, name: str, settings: dict, compute) -> StepResult:
        nonlocal upstream
        if par.scheduler is not None and name in ("reconstruct", "denoise", "segment",
                                                  "analyze"):
            # chunked results equal the whole-volume ones only within tolerances (U-Net,
            # denoiser windows, TV): a separate cache entry; where they run does not matter
            settings = dict(settings, chunked={"chunk": par.chunk})
        key = settings_key(name, settings, upstream)
        log.info("step %s", name)
        r = run_cached(out / f"{number:02d}_{name}", name, key, compute, force=force)
        res.steps[name] = r
        upstream = key
        return r

    if cfg.align.method != "none":
        r = step(1, "align", cfg.align.__dict__ | {"seed": cfg.seed},
                 _step_align(cfg, tilts, even, odd, cfg.seed))
        from tomoml.io import read_tilt_series

        tilts = read_tilt_series(r.path("aligned"), tilts.angles_deg,
                                 pixel_size_A=tilts.pixel_size_A)
        if even is not None:
            even = read_tilt_series(r.path("aligned_even"), tilts.angles_deg,
                                    pixel_size_A=tilts.pixel_size_A)
            odd = read_tilt_series(r.path("aligned_odd"), tilts.angles_deg,
                                   pixel_size_A=tilts.pixel_size_A)

    r = step(2, "reconstruct", dict(cfg.reconstruct.__dict__),
             _step_reconstruct(cfg, tilts, even, odd))
    volume = read_volume(r.path("volume"), mmap=mmap)
    rec_even = read_volume(r.path("even"), mmap=mmap) if "even" in r.files else None
    rec_odd = read_volume(r.path("odd"), mmap=mmap) if "odd" in r.files else None

    if cfg.denoise.method != "none":
        r = step(3, "denoise", cfg.denoise.__dict__ | {"seed": cfg.seed},
                 _step_denoise(cfg, volume, rec_even, rec_odd, cfg.seed))
        volume = read_volume(r.path("volume"), mmap=mmap)

    r = step(4, "segment", dict(cfg.segment.__dict__), _step_segment(cfg, volume))
    labels = read_volume(r.path("labels"), mmap=mmap)

    step(5, "analyze", dict(cfg.analyze.__dict__), _step_analyze(cfg, labels))
    if cfg.render.enabled:
        step(6, "render", dict(cfg.render.__dict__), _step_render(cfg, labels))

    res.seconds = time.perf_counter() - t_start
    from tomoml.pipeline.report import write_report

    res.report = write_report(res, cfg)
    res.provenance = _write_provenance(res, cfg, checksums, command)
    return res


def _write_provenance(res: PipelineResult, cfg: PipelineConfig, checksums: dict[str, str],
                      command: str | None) -> Path:
    from tomoml.io import atomic_path

    record = {
        "tomoml_run_version": 1,
        "command": command or " ".join(sys.argv),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": cfg.to_dict(),
        "config_file": cfg.source,
        "versions": _versions(),
        "inputs": {name: {"path": str(getattr(cfg.input, name)), "sha256": digest}
                   for name, digest in checksums.items()},
        "steps": [s.to_dict() for s in res.steps.values()],
        "total_seconds": round(res.seconds, 3),
    }
    path = res.out_dir / "tomoml-run.json"
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))
    return path
