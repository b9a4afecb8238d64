"""The step cache reuses a finished step and never trusts a half one."""

import json

import pytest

from tomoml.errors import OutputError
from tomoml.pipeline.cache import run_cached, settings_key


def _writer(calls):
    def compute(folder):
        calls.append(folder)
        (folder / "out.txt").write_text("x")
        return {"out": "out.txt"}, {"n": len(calls)}
    return compute


def test_same_key_is_reused_without_recomputing(tmp_path):
    calls = []
    a = run_cached(tmp_path / "01_step", "step", "k1", _writer(calls))
    b = run_cached(tmp_path / "01_step", "step", "k1", _writer(calls))
    assert len(calls) == 1 and not a.cached and b.cached
    assert b.path("out").read_text() == "x"
    assert json.loads((tmp_path / "01_step" / "step.json").read_text())["key"] == "k1"


def test_other_key_needs_force(tmp_path):
    calls = []
    run_cached(tmp_path / "s", "s", "k1", _writer(calls))
    with pytest.raises(OutputError, match="other inputs or settings"):
        run_cached(tmp_path / "s", "s", "k2", _writer(calls))
    r = run_cached(tmp_path / "s", "s", "k2", _writer(calls), force=True)
    assert not r.cached and len(calls) == 2


def test_crash_leaves_no_step_folder(tmp_path):
    def boom(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        run_cached(tmp_path / "s", "s", "k", boom)
    assert not any(tmp_path.iterdir())


def test_settings_key_depends_on_every_part():
    assert settings_key({"a": 1}, "u") == settings_key({"a": 1}, "u")
    assert settings_key({"a": 1}, "u") != settings_key({"a": 2}, "u")
    assert settings_key({"a": 1}, "u") != settings_key({"a": 1}, "v")
