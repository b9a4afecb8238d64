"""Bad input gives one line naming the file and the problem, a non-zero exit, and leaves the
inputs untouched (issue 2's list, through the real command line)."""

import hashlib
import subprocess
import sys

import mrcfile
import numpy as np
import pytest


def _tomoml(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tomoml", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(proc, *needles):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "warning" not in ln.lower()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def series(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.random((5, 16, 16), dtype=np.float32)
    stack = tmp_path / "tilts.mrc"
    with mrcfile.new(stack) as m:
        m.set_data(data)
        m.voxel_size = 5.0
    tlt = tmp_path / "tilts.tlt"
    tlt.write_text("".join(f"{a}\n" for a in (-40, -20, 0, 20, 40)))
    return stack, tlt


def test_missing_file(tmp_path, series):
    _, tlt = series
    proc = _tomoml("reconstruct", tmp_path / "absent.mrc", "--angles", tlt, "-o", tmp_path / "r.mrc")
    assert "no such file" in _one_line_error(proc, "absent.mrc")
    assert not (tmp_path / "r.mrc").exists()


def test_truncated_mrc(tmp_path, series):
    stack, tlt = series
    cut = tmp_path / "cut.mrc"
    cut.write_bytes(stack.read_bytes()[:3000])
    before = _digest(cut)
    proc = _tomoml("reconstruct", cut, "--angles", tlt, "-o", tmp_path / "r.mrc")
    _one_line_error(proc, "cut.mrc")
    assert _digest(cut) == before and not (tmp_path / "r.mrc").exists()


def test_2d_image_where_a_stack_is_needed(tmp_path, series):
    _, tlt = series
    flat = tmp_path / "flat.mrc"
    with mrcfile.new(flat) as m:
        m.set_data(np.zeros((16, 16), np.float32))
    line = _one_line_error(_tomoml("reconstruct", flat, "--angles", tlt, "-o", tmp_path / "r.mrc"),
                           "flat.mrc")
    assert "3D" in line and "(16, 16)" in line


def test_angle_count_differs_from_tilt_count(tmp_path, series):
    stack, _ = series
    short = tmp_path / "short.tlt"
    short.write_text("-10\n0\n10\n")
    line = _one_line_error(_tomoml("reconstruct", stack, "--angles", short, "-o", tmp_path / "r.mrc"))
    assert "3" in line and "5" in line


def test_nan_in_data(tmp_path, series):
    _, tlt = series
    bad = tmp_path / "nan.mrc"
    data = np.ones((5, 16, 16), np.float32)
    data[2, 3, 4] = np.nan
    with mrcfile.new(bad) as m, pytest.warns(RuntimeWarning, match="NaN"):
        m.set_data(data)
    before = _digest(bad)
    _one_line_error(_tomoml("reconstruct", bad, "--angles", tlt, "-o", tmp_path / "r.mrc"),
                    "nan.mrc", "NaN")
    assert _digest(bad) == before


def test_output_equal_to_input_is_refused(series):
    stack, tlt = series
    before = _digest(stack)
    _one_line_error(_tomoml("reconstruct", stack, "--angles", tlt, "-o", stack, "--force"),
                    "tilts.mrc")
    assert _digest(stack) == before


def test_existing_output_needs_force(tmp_path, series):
    stack, tlt = series
    out = tmp_path / "rec.mrc"
    out.write_bytes(b"keep me")
    _one_line_error(_tomoml("reconstruct", stack, "--angles", tlt, "-o", out), "rec.mrc", "--force")
    assert out.read_bytes() == b"keep me"
    proc = _tomoml("reconstruct", stack, "--angles", tlt, "-o", out, "--force")
    assert proc.returncode == 0, proc.stderr
    with mrcfile.open(out) as m:
        assert m.data.shape == (16, 16, 16)
