"""``tomoml reconstruct`` on files: round trip, even/odd halves, out-of-core, refusals."""

import numpy as np
import pytest
from recon_phantoms import blob_phantom, corr

from tomoml.cli import main
from tomoml.data import TiltSeries
from tomoml.io import XfTransforms, read_volume, write_angles, write_tilt_series, write_xf
from tomoml.reconstruct import forward_project


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("rec")
    vol = blob_phantom(32, 6)
    angles = np.arange(-60, 61, 4.0)
    p = forward_project(vol, angles)
    write_tilt_series(TiltSeries(p, angles, pixel_size_A=3.5), d / "tilts.mrc")
    write_angles(angles, d / "tilts.tlt")
    rng = np.random.default_rng(0)
    for role in ("even", "odd"):
        noisy = p + rng.normal(0, 0.02 * p.std(), p.shape).astype(np.float32)
        write_tilt_series(TiltSeries(noisy, angles, pixel_size_A=3.5), d / f"{role}.mrc")
    write_xf(XfTransforms.from_alignment(np.zeros((angles.size, 2))), d / "id.xf")
    return d, vol


class _Result:
    def __init__(self, code, output):
        self.exit_code, self.output = code, output


@pytest.fixture
def run(capsys):
    def _run(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return _Result(code, out.out + out.err)

    return _run


def test_cli_round_trip_keeps_voxel_size_and_reconstructs(files, run):
    d, vol = files
    r = run("reconstruct", d / "tilts.mrc", "--angles", d / "tilts.tlt", "-o", d / "sirt.mrc",
             "--method", "sirt", "--iterations", "20", "--xf", d / "id.xf")
    assert r.exit_code == 0, r.output
    assert "relative residual" in r.output
    rec = read_volume(d / "sirt.mrc")
    assert rec.shape == vol.shape
    assert rec.voxel_size_A == pytest.approx(3.5)
    assert corr(rec.data, vol) > 0.9


def test_cli_even_odd_halves_are_written_beside_the_output(files, run):
    d, vol = files
    r = run("reconstruct", d / "tilts.mrc", "--angles", d / "tilts.tlt", "-o", d / "fbp.mrc",
             "--even", d / "even.mrc", "--odd", d / "odd.mrc", "--thickness", "24")
    assert r.exit_code == 0, r.output
    for name in ("fbp.mrc", "fbp_even.mrc", "fbp_odd.mrc"):
        assert read_volume(d / name).shape == (24, 6, 32)
    even, odd = read_volume(d / "fbp_even.mrc").data, read_volume(d / "fbp_odd.mrc").data
    assert not np.array_equal(even, odd)
    assert corr(even, odd) > 0.8


def test_cli_memory_budget_writes_slab_by_slab_into_mrc(files, run):
    d, _ = files
    ref_path, small_path = d / "ref_cgls.mrc", d / "small_cgls.mrc"
    args = ("reconstruct", d / "tilts.mrc", "--angles", d / "tilts.tlt", "--method", "cgls",
            "--iterations", "5")
    assert run(*args, "-o", ref_path).exit_code == 0
    r = run(*args, "-o", small_path, "--memory", "0.00001")
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(read_volume(small_path).data, read_volume(ref_path).data,
                               rtol=1e-4, atol=1e-5)


def test_cli_refuses_to_overwrite_without_force(files, run):
    d, _ = files
    out = d / "exists.mrc"
    out.write_bytes(b"x")
    r = run("reconstruct", d / "tilts.mrc", "--angles", d / "tilts.tlt", "-o", out)
    assert r.exit_code != 0
    assert out.read_bytes() == b"x"


def test_cli_unknown_method_is_a_one_line_error(files, run):
    d, _ = files
    r = run("reconstruct", d / "tilts.mrc", "--angles", d / "tilts.tlt", "-o", d / "x.mrc",
             "--method", "art")
    assert r.exit_code != 0
    assert "method must be one of" in r.output
