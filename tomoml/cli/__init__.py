"""The ``tomoml`` command line: thin wrappers over the Python API.

Each command lives in its own module (``tomoml/cli/<command>.py``) and registers itself on the
shared Typer app; heavy libraries are imported inside the command so ``--help`` is instant.
"""

from __future__ import annotations

import importlib
import sys

from tomoml.cli._app import app, state
from tomoml.errors import TomomlError

# Registration order is the order in ``tomoml --help``.
_COMMAND_MODULES = (
    "simulate", "align", "reconstruct", "denoise", "segment", "analyze", "render", "run", "demo",
)

# A command whose module fails to import (a broken optional dependency, say) must not take the
# other commands down with it: it is left out and the reason kept; tests assert there is none.
_IMPORT_ERRORS: dict[str, str] = {}

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"tomoml.cli.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"tomoml.cli.{_name}":  # not "this stage is not built": a real problem
            _IMPORT_ERRORS[_name] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001
        _IMPORT_ERRORS[_name] = f"{type(exc).__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tomoml`` console script; returns the exit code."""
    for name, reason in _IMPORT_ERRORS.items():
        print(f"tomoml: warning: command '{name}' is unavailable ({reason})", file=sys.stderr)
    try:
        app(args=argv, prog_name="tomoml", standalone_mode=False)
    except TomomlError as exc:
        if state.debug:
            raise
        print(f"tomoml: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tomoml: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer.Exit / click usage errors already printed their message
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - the CLI contract: one line, no traceback
        # Typer may ship its own copy of click, so recognise click's exceptions by their shape.
        if type(exc).__name__ == "NoArgsIsHelpError":  # help was already printed
            return 0
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            return exc.exit_code
        if type(exc).__name__ == "Abort":
            print("tomoml: aborted", file=sys.stderr)
            return 1
        if state.debug:
            raise
        print(f"tomoml: internal error: {type(exc).__name__}: {exc} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
