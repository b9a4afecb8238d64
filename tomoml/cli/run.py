"""``tomoml run``: every step from one pipeline config, for one tilt series or a batch."""

from __future__ import annotations

from pathlib import Path

import typer

from tomoml.cli._app import app
from tomoml.cli._common import FORCE_OPTION, echo


def print_summary(result) -> None:
    """Print one line per step and where the report is."""
    for name, s in result.steps.items():
        facts = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in s.info.items())
        echo(f"  {name:<12} {s.seconds:7.1f} s  {'(cached)' if s.cached else '        '}  {facts}")
    echo(f"report: {result.report}")
    echo(f"provenance: {result.provenance}")


@app.command("run")
def run_command(
    config: Path = typer.Argument(..., help="Pipeline config (TOML)."),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (overrides [output] dir)."),
    inputs: list[str] = typer.Option(
        None, "--inputs", "-i",
        help="Batch mode: tilt series (paths or globs, repeatable); each gets its own subfolder "
             "and a row in batch_summary.csv. Also [batch] inputs in the config."),
    scheduler: str = typer.Option(
        None, "--scheduler",
        help="threads, processes, sync or tcp://HOST:PORT of a dask.distributed scheduler. "
             "Batch mode: where the series run (default: [batch] scheduler, else threads); one "
             "series: where the chunked steps run (overrides [parallel] scheduler)."),
    workers: int = typer.Option(
        None, "--workers",
        help="Batch mode: series run at once; one series: workers of the local pool."),
    force: bool = FORCE_OPTION,
) -> None:
    """Run the whole pipeline (align, reconstruct, denoise, segment, analyze, render) from a
    TOML config. Re-running resumes: steps whose inputs and settings are unchanged are reused.

    Example: tomoml run pipeline.toml -o results
    Example (batch): tomoml run pipeline.toml --inputs 'raw/*.mrc' --scheduler processes
    """
    import shlex
    import sys

    from tomoml.pipeline.config import read_toml

    command = shlex.join(["tomoml", *sys.argv[1:]])
    if inputs or "batch" in read_toml(config):
        from tomoml.pipeline.batch import load_batch_config, run_batch

        cfg, settings = load_batch_config(config)
        cfg.output.force = cfg.output.force or force
        result = run_batch(cfg, list(inputs) if inputs else settings.inputs,
                           scheduler=scheduler or settings.scheduler,
                           num_workers=workers or settings.num_workers, out_dir=out,
                           command=command)
        for row in result.rows:
            echo(f"  {row['series']:<24} {row['status']:<6} {float(row.get('seconds') or 0):7.1f} s"
                 f"  {row.get('error') or row.get('out_dir', '')}")
        echo(f"summary: {result.summary}")
        if result.failed:
            raise typer.Exit(1)
        return

    from tomoml.pipeline import load_config, run_pipeline

    cfg = load_config(config)
    if scheduler is not None:
        cfg.parallel.scheduler = scheduler  # run_pipeline checks it before the first step
    if workers is not None:
        cfg.parallel.num_workers = workers
    if out is not None:
        cfg.output.dir = str(out)
    cfg.output.force = cfg.output.force or force
    print_summary(run_pipeline(cfg, command=command))
