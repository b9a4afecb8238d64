"""`tomoml run` on one series and in batch mode, with the fast steps only."""

import csv
import json

import numpy as np
import pytest

from tomoml.cli import main
from tomoml.io import write_angles, write_tilt_series
from tomoml.synthetic import simulate_tilt_series, sphere_pack

FAST = """
[align]
method = "none"
[reconstruct]
method = "fbp"
[denoise]
method = "none"
[segment]
method = "otsu"
[analyze]
[render]
enabled = false
"""


@pytest.fixture
def two_series(tmp_path):
    for seed in (1, 2):
        ph = sphere_pack((32, 32, 32), seed=seed)
        sim = simulate_tilt_series(ph.volume, tilt_range=(-60, 60, 4), seed=seed, pixel_size_A=8)
        write_tilt_series(sim.tilts, tmp_path / f"s{seed}.mrc")
        write_angles(sim.tilts.angles_deg, tmp_path / f"s{seed}.tlt")
    return tmp_path


def test_run_one_series_writes_steps_and_provenance(two_series, capsys):
    cfg = two_series / "p.toml"
    cfg.write_text('[input]\ntilts = "s1.mrc"\nangles = "s1.tlt"\n[output]\ndir = "res"\n' + FAST)
    assert main(["run", str(cfg)]) == 0
    run = json.loads((two_series / "res" / "tomoml-run.json").read_text())
    assert [s["name"] for s in run["steps"]] == ["reconstruct", "segment", "analyze"]
    assert run["config"]["reconstruct"]["method"] == "fbp"
    assert main(["run", str(cfg)]) == 0
    assert capsys.readouterr().out.count("(cached)") == 3


def test_batch_mode_runs_each_series_and_tabulates(two_series):
    cfg = two_series / "b.toml"
    cfg.write_text('[output]\ndir = "batch"\n' + FAST)
    assert main(["run", str(cfg), "--inputs", str(two_series / "s*.mrc"),
                 "--scheduler", "sync"]) == 0
    with open(two_series / "batch" / "batch_summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["series"] for r in rows] == ["s1", "s2"]
    assert all(r["status"] == "ok" for r in rows)
    porosity = [float(r[k]) for r in rows for k in r if k.endswith("porosity.porosity")]
    assert len(porosity) == 2 and all(np.isfinite(porosity))


def test_run_one_series_scheduler_option_runs_the_chunked_steps(two_series, capsys):
    cfg = two_series / "p.toml"
    cfg.write_text('[input]\ntilts = "s1.mrc"\nangles = "s1.tlt"\n[output]\ndir = "res"\n' + FAST)
    assert main(["run", str(cfg), "--scheduler", "sync"]) == 0
    run = json.loads((two_series / "res" / "tomoml-run.json").read_text())
    assert run["config"]["parallel"]["scheduler"] == "sync"
    capsys.readouterr()
    assert main(["run", str(cfg), "--scheduler", "gpu-cluster"]) != 0
    err = capsys.readouterr().err.strip()
    assert "scheduler" in err and "gpu-cluster" in err and len(err.splitlines()) == 1


def test_pipeline_denoise_has_no_time_budget_by_default_so_runs_reproduce():
    from tomoml.pipeline.config import DenoiseConfig

    assert DenoiseConfig().max_minutes is None
