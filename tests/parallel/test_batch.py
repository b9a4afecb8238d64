"""tomoml.pipeline.batch: one task per series, per-series folders and side files, summary CSV."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from tomoml.errors import ConfigError, InputError
from tomoml.pipeline import runner
from tomoml.pipeline.batch import expand_inputs, load_batch_config, run_batch, series_config
from tomoml.pipeline.cache import StepResult

BASE = {"align": {"method": "none"}, "reconstruct": {"method": "fbp"},
        "denoise": {"method": "none"}, "segment": {"method": "otsu"},
        "render": {"enabled": False}}


@pytest.fixture()
def stacks(tmp_path) -> Path:
    d = tmp_path / "raw"
    d.mkdir()
    for name in ("a.mrc", "b.mrc", "b_even.mrc", "b_odd.mrc", "c.mrc"):
        (d / name).write_bytes(b"stack")
    (d / "a.tlt").write_text("-60\n60\n")
    return d


@pytest.fixture()
def fake_pipeline(monkeypatch):
    """run_pipeline stand-in: records its config, writes a metrics.json, fails for 'c'."""
    seen: list = []
    lock = threading.Lock()

    def fake(cfg, *, command=None):
        with lock:
            seen.append(cfg)
        if Path(cfg.input.tilts).stem == "c":
            raise InputError(f"{cfg.input.tilts}: not an MRC file")
        folder = Path(cfg.output.dir) / "05_analyze"
        folder.mkdir(parents=True)
        porosity = 0.25 if Path(cfg.input.tilts).stem == "a" else 0.5
        (folder / "metrics.json").write_text(json.dumps({"metrics": {
            "porosity": {"porosity": porosity, "phase_fractions": {"0": porosity}},
            "topology": {"euler_characteristic": -3}}}))
        res = runner.PipelineResult(out_dir=Path(cfg.output.dir))
        res.steps["analyze"] = StepResult("analyze", "k", folder, {"json": "metrics.json"})
        return res

    monkeypatch.setattr(runner, "run_pipeline", fake)
    return seen


def test_expand_inputs_globs_and_skips_half_series(stacks):
    paths = expand_inputs([str(stacks / "*.mrc")])
    assert [p.name for p in paths] == ["a.mrc", "b.mrc", "c.mrc"]
    with pytest.raises(InputError, match="matches no file"):
        expand_inputs([str(stacks / "*.tif")])
    with pytest.raises(InputError, match="no such tilt series"):
        expand_inputs([stacks / "missing.mrc"])


def test_series_config_finds_angles_and_halves_beside_each_stack(stacks, tmp_path):
    cfg, _ = load_batch_config(BASE)
    a = series_config(cfg, stacks / "a.mrc", tmp_path / "out" / "a")
    b = series_config(cfg, stacks / "b.mrc", tmp_path / "out" / "b")
    assert a.input.angles == str(stacks / "a.tlt") and a.input.even is None
    assert b.input.angles is None
    assert (b.input.even, b.input.odd) == (str(stacks / "b_even.mrc"), str(stacks / "b_odd.mrc"))
    assert b.output.dir == str(tmp_path / "out" / "b")
    assert cfg.input.tilts == ""  # the shared config is not modified


def test_run_batch_writes_one_folder_per_series_and_a_summary(stacks, tmp_path, fake_pipeline):
    res = run_batch(BASE, [str(stacks / "*.mrc")], scheduler="threads", num_workers=2,
                    out_dir=tmp_path / "out")
    assert sorted(c.output.dir for c in fake_pipeline) == \
        [str(tmp_path / "out" / n) for n in ("a", "b", "c")]
    assert res.failed == ["c"]
    with open(res.summary, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["series"] for r in rows] == ["a", "b", "c"]
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]
    assert float(rows[0]["porosity.porosity"]) == 0.25
    assert float(rows[1]["porosity.porosity"]) == 0.5
    assert rows[1]["topology.euler_characteristic"] == "-3"
    assert "not an MRC file" in rows[2]["error"]
    assert "porosity.phase_fractions" not in rows[0]  # nested tables stay in metrics.json


def test_fail_fast_raises_after_writing_the_summary(stacks, tmp_path, fake_pipeline):
    from tomoml.errors import TomomlError

    with pytest.raises(TomomlError, match="c.mrc"):
        run_batch(BASE, [stacks / "c.mrc", stacks / "a.mrc"], scheduler="sync",
                  out_dir=tmp_path / "out", fail_fast=True)
    assert (tmp_path / "out" / "batch_summary.csv").exists()


def test_batch_section_of_the_toml_gives_inputs_and_scheduler(stacks, tmp_path):
    toml = tmp_path / "batch.toml"
    toml.write_text('[batch]\ninputs = ["raw/*.mrc"]\nscheduler = "processes"\nnum_workers = 2\n'
                    '[reconstruct]\nmethod = "sirt"\n[output]\ndir = "results"\n')
    cfg, batch = load_batch_config(toml)
    assert batch.inputs == [str(tmp_path / "raw/*.mrc")]
    assert (batch.scheduler, batch.num_workers) == ("processes", 2)
    assert cfg.reconstruct.method == "sirt" and cfg.output.dir == str(tmp_path / "results")
    toml.write_text('[batch]\nscheduler = "gpu"\n')
    with pytest.raises(ConfigError, match="scheduler must be one of"):
        load_batch_config(toml)


def test_in_memory_volume_is_not_pickled_into_every_task(tmp_path):
    # what worker processes receive: a file reader, not the data
    import pickle

    from tomoml.data import Volume
    from tomoml.io import write_volume
    from tomoml.parallel import as_dask_array

    data = np.arange(64 * 64 * 64, dtype=np.float32).reshape(64, 64, 64)
    write_volume(Volume(data), tmp_path / "v.mrc")
    arr = as_dask_array(tmp_path / "v.mrc", chunks=32)
    blob = pickle.dumps(arr)
    assert len(blob) < data.nbytes / 50
    np.testing.assert_array_equal(pickle.loads(blob)[10:40, 5:60, 31:33].compute(),
                                  data[10:40, 5:60, 31:33])


@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").environ.get("TOMOML_SLOW_TESTS"),
                    reason="end-to-end pipeline per series (~1-2 min here); "
                           "set TOMOML_SLOW_TESTS=1")
def test_real_pipeline_batch_of_two_ball_phantoms(tmp_path):
    from tomoml.data import TiltSeries
    from tomoml.io import write_tilt_series
    from tomoml.reconstruct import forward_project

    angles = np.arange(-60.0, 61.0, 4.0)
    z, y, x = np.mgrid[:32, :32, :32] - 15.5
    truth = {}
    for name, r in (("small", 6.0), ("large", 9.0)):
        ball = ((z**2 + y**2 + x**2) < r * r).astype(np.float32)
        truth[name] = 1 - ball.mean()
        write_tilt_series(TiltSeries(forward_project(ball, angles), angles, pixel_size_A=10.0),
                          tmp_path / f"{name}.mrc")
    res = run_batch(BASE, [str(tmp_path / "*.mrc")], scheduler="threads", num_workers=2,
                    out_dir=tmp_path / "out")
    assert res.failed == []
    rows = {r["series"]: r for r in res.rows}
    for name, porosity in truth.items():
        assert (tmp_path / "out" / name / "tomoml-run.json").exists()
        assert rows[name]["porosity.porosity"] == pytest.approx(porosity, abs=0.02)
