"""The command-line contract: help with an example, one-line errors, exit codes."""

import subprocess
import sys

import pytest
import typer

from tomoml.cli import _COMMAND_MODULES, _IMPORT_ERRORS, app, main

COMMANDS = sorted(typer.main.get_command(app).commands)


def test_every_command_module_imports():
    assert set(_COMMAND_MODULES) >= {"simulate", "reconstruct", "analyze", "run", "demo"}
    assert _IMPORT_ERRORS == {}


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example(command, capsys):
    assert main([command, "--help"]) == 0
    assert "Example" in capsys.readouterr().out


def test_unknown_command_exits_nonzero(capsys):
    assert main(["no-such-command"]) != 0


def test_missing_config_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tomoml", "run", str(tmp_path / "nope.toml")],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "nope.toml: no such file" in err[0]
    assert "Traceback" not in proc.stderr
