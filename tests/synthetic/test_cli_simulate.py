"""``tomoml simulate``: writes every file, consistent with each other, and never overwrites."""

import csv
import json

import numpy as np
import pytest

from tomoml.cli import main
from tomoml.io import read_angles, read_tilt_series, read_volume, read_xf
from tomoml.synthetic import SIMULATION_FILES

ARGS = ["--shape", "24", "32", "32", "--tilt-range", "-60", "60", "10", "--dose", "500",
        "--shift-sigma", "2", "--tilt-axis", "3", "--pixel-size", "4.5", "--seed", "11"]


def _data(path):
    v = read_volume(path)
    return v.data, v.voxel_size_A


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "sim"
    assert main(["simulate", str(out), *ARGS]) == 0
    return out


def test_simulate_writes_all_files(out_dir):
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(SIMULATION_FILES)


def test_simulated_files_agree_with_each_other(out_dir):
    tilts, px = _data(out_dir / "tilts.mrc")
    assert tilts.shape == (13, 32, 32) and px == pytest.approx(4.5)
    ts = read_tilt_series(out_dir / "tilts.mrc")  # angles and pixel size from the file itself
    np.testing.assert_allclose(ts.angles_deg, np.arange(-60, 61, 10.0), atol=1e-4)
    assert ts.pixel_size_A == pytest.approx(4.5)
    assert _data(out_dir / "tilts_even.mrc")[0].shape == tilts.shape
    labels, _ = _data(out_dir / "truth_labels.mrc")
    volume, _ = _data(out_dir / "truth_volume.mrc")
    assert labels.shape == volume.shape == (24, 32, 32)
    assert read_volume(out_dir / "truth_labels.mrc").is_labels
    assert set(np.unique(labels)) <= {0, 1, 2} and volume.dtype == np.float32
    angles = read_angles(out_dir / "tilts.tlt")
    np.testing.assert_allclose(angles, np.arange(-60, 61, 10.0))
    with open(out_dir / "true_shifts.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 13 and list(rows[0]) == ["tilt_index", "angle_deg", "dy_px", "dx_px"]
    shifts = np.array([[float(r["dy_px"]), float(r["dx_px"])] for r in rows])
    xf_shifts, axis = read_xf(out_dir / "true.xf").to_alignment()
    np.testing.assert_allclose(xf_shifts, shifts, atol=2e-3)
    assert axis == pytest.approx(3.0, abs=1e-4)
    meta = json.loads((out_dir / "simulate.json").read_text())
    assert meta["simulation"]["dose"] == 500 and meta["simulation"]["seed"] == 11
    assert meta["true_tilt_axis_deg"] == 3.0
    assert meta["truth"]["n_pores"] >= 1 and 0 < meta["truth"]["porosity"] < 1


def test_simulate_refuses_existing_outputs_without_force(out_dir, capsys):
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    rc = main(["simulate", str(out_dir), *ARGS[:-1], "12"])
    assert rc != 0
    assert "exists" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before


def test_simulate_force_overwrites_and_same_seed_gives_same_files(out_dir, tmp_path):
    read_bytes_xf = (out_dir / "true.xf").read_bytes()
    before, _ = _data(out_dir / "tilts.mrc")  # (headers hold a time stamp: compare data)
    assert main(["simulate", str(out_dir), *ARGS, "--force"]) == 0
    np.testing.assert_array_equal(_data(out_dir / "tilts.mrc")[0], before)
    assert (out_dir / "true.xf").read_bytes() == read_bytes_xf
    assert main(["simulate", str(tmp_path / "other"), *ARGS[:-1], "12"]) == 0
    a, _ = _data(out_dir / "tilts.mrc")
    b, _ = _data(tmp_path / "other" / "tilts.mrc")
    assert not np.array_equal(a, b)


def test_simulate_unknown_phantom_is_a_one_line_error(tmp_path, capsys):
    rc = main(["simulate", str(tmp_path / "x"), "--phantom", "cube", "--shape", "16", "16", "16"])
    err = capsys.readouterr().err
    assert rc != 0 and "unknown phantom 'cube'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "tilts.mrc").exists()
