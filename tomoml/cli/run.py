"""``tomoml run``: every step from one pipeline config."""

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
    force: bool = FORCE_OPTION,
) -> None:
    """Run the whole pipeline (align, reconstruct, denoise, segment, analyze, render) from a
    TOML config. Re-running resumes: steps whose inputs and settings are unchanged are reused.

    Example: tomoml run pipeline.toml -o results
    """
    import shlex
    import sys

    from tomoml.pipeline import load_config, run_pipeline

    cfg = load_config(config)
    if out is not None:
        cfg.output.dir = str(out)
    cfg.output.force = cfg.output.force or force
    result = run_pipeline(cfg, command=shlex.join(["tomoml", *sys.argv[1:]]))
    print_summary(result)
