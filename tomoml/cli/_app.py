"""The Typer application that every command module registers on, and shared CLI state."""

from __future__ import annotations

import logging

import typer

app = typer.Typer(
    name="tomoml",
    help=(
        "Electron tomography from tilt series to morphology: simulate, align, reconstruct, "
        "denoise, segment, analyze, render.\n\n"
        "Run the whole pipeline on the bundled sample:  tomoml demo"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _State:
    debug = False


state = _State()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks on errors."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each step does."),
) -> None:
    state.debug = debug
    level = logging.DEBUG if debug else (logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
