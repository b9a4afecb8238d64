"""``tomoml demo``: the whole pipeline on the bundled sample, no arguments needed."""

from __future__ import annotations

from pathlib import Path

import typer

from tomoml.cli._app import app
from tomoml.cli._common import FORCE_OPTION, echo


@app.command("demo")
def demo_command(
    out_dir: Path = typer.Argument(Path("tomoml-demo"), help="Output folder."),
    force: bool = FORCE_OPTION,
) -> None:
    """Run the whole pipeline on the bundled simulated sample (a porous nanoparticle, 61 tilts
    of 128x128) and write an HTML report. Re-running reuses finished steps.

    Example: tomoml demo && xdg-open tomoml-demo/report.html
    """
    import shlex
    import sys

    from tomoml.cli.run import print_summary
    from tomoml.pipeline import run_pipeline
    from tomoml.pipeline.demo import demo_config

    cfg = demo_config(out_dir)
    cfg.output.force = force
    echo(f"tomoml demo: sample {cfg.input.tilts} -> {out_dir}/")
    result = run_pipeline(cfg, command=shlex.join(["tomoml", *sys.argv[1:]]))
    print_summary(result)
