"""MkDocs hook: fill ``{{ cli_reference }}`` with the live ``--help`` of every command, and
``{{ conventions }}`` with the project's CONVENTIONS.md, so the docs cannot drift from the code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _help(args: list[str]) -> str:
    env = dict(os.environ, COLUMNS="100", TERM="dumb", NO_COLOR="1", _TYPER_FORCE_DISABLE_TERMINAL="1")
    out = subprocess.run([sys.executable, "-m", "tomoml", *args, "--help"], capture_output=True,
                         text=True, env=env, check=True)
    return out.stdout.rstrip()


def _cli_reference() -> str:
    import typer

    from tomoml.cli import app

    parts = ["```text", _help([]), "```"]
    for name in typer.main.get_command(app).commands:
        parts += [f"\n## tomoml {name}\n", "```text", _help([name]), "```"]
    return "\n".join(parts)


def _conventions() -> str:
    for p in (ROOT.parent / "shared" / "CONVENTIONS.md", ROOT / "docs" / "hooks" / "CONVENTIONS.txt"):
        if p.exists():
            text = p.read_text()
            return text.split("\n", 1)[1] if text.startswith("# ") else text
    return "(CONVENTIONS.md not found beside the checkout.)"


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - mkdocs API
    if "{{ cli_reference }}" in markdown:
        markdown = markdown.replace("{{ cli_reference }}", _cli_reference())
    if "{{ conventions }}" in markdown:
        markdown = markdown.replace("{{ conventions }}", _conventions())
    return markdown
