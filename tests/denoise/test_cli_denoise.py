"""``tomoml denoise``: trains, writes, keeps the voxel size, reuses a model, never overwrites."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tomoml.cli import main

FAST = ["--epochs", "1", "--steps", "2", "--patch", "16", "--batch", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, noisy_case):
    from tomoml.data import Volume
    from tomoml.io import write_volume

    d = tmp_path_factory.mktemp("denoise")
    _, even, odd = noisy_case
    for name, data in (("rec", (even + odd) / 2), ("even", even), ("odd", odd)):
        write_volume(Volume(data, voxel_size_A=7.5), d / f"{name}.mrc")
    return d


def test_n2n_writes_output_with_voxel_size_and_model(files):
    from tomoml.io import read_volume

    d = files
    rc = main(["denoise", str(d / "rec.mrc"), "--even", str(d / "even.mrc"), "--odd",
               str(d / "odd.mrc"), "-o", str(d / "out.mrc"), "--save-model", str(d / "m"),
               "--seed", "3", *FAST])
    assert rc == 0
    out = read_volume(d / "out.mrc")
    assert out.shape == (48, 48, 48) and out.voxel_size_A == pytest.approx(7.5)
    meta = json.loads((d / "m.json").read_text())
    assert meta["method"] == "n2n" and meta["training"]["settings"]["seed"] == 3
    assert (d / "m.pt").is_file()


def test_saved_model_applies_to_a_single_volume_without_training(files):
    from tomoml.denoise import DenoiseModel, predict
    from tomoml.io import read_volume

    d = files
    assert main(["denoise", str(d / "even.mrc"), "--model", str(d / "m.pt"),
                 "-o", str(d / "applied.mrc"), "--device", "cpu"]) == 0
    expected = predict(DenoiseModel.load(d / "m.pt"), read_volume(d / "even.mrc").data,
                       device="cpu")
    assert np.array_equal(read_volume(d / "applied.mrc").data, expected)
    # --no-flip-average: one pass per window, as predict(flip_average=False)
    assert main(["denoise", str(d / "even.mrc"), "--model", str(d / "m.pt"), "--no-flip-average",
                 "-o", str(d / "applied1.mrc"), "--device", "cpu"]) == 0
    single = predict(DenoiseModel.load(d / "m.pt"), read_volume(d / "even.mrc").data,
                     device="cpu", flip_average=False)
    assert np.array_equal(read_volume(d / "applied1.mrc").data, single)
    assert not np.array_equal(single, expected)


def test_existing_output_is_refused_without_force(files, capsys):
    d = files
    (d / "exists.mrc").write_bytes(b"x")
    rc = main(["denoise", str(d / "rec.mrc"), "-o", str(d / "exists.mrc"), *FAST])
    assert rc != 0
    err = capsys.readouterr().err
    assert "exists.mrc" in err and "--force" in err and len(err.strip().splitlines()) == 1


def test_even_without_odd_is_a_one_line_error(files, capsys):
    d = files
    rc = main(["denoise", str(d / "rec.mrc"), "--even", str(d / "even.mrc"), "-o",
               str(d / "x.mrc")])
    assert rc != 0
    assert "--odd" in capsys.readouterr().err


def test_missing_input_names_the_file(files, capsys):
    d = files
    rc = main(["denoise", str(d / "nope.mrc"), "-o", str(d / "y.mrc")])
    assert rc != 0 and "nope.mrc" in capsys.readouterr().err
    assert not (d / "y.mrc").exists()


def test_n2v_blind_spot_option_is_recorded_in_the_sidecar(files):
    d = files
    assert main(["denoise", str(d / "rec.mrc"), "--method", "n2v", "--blind-spot", "1,0,2",
                 "-o", str(d / "n2v.mrc"), "--save-model", str(d / "n2v"), *FAST]) == 0
    bs = json.loads((d / "n2v.json").read_text())["training"]["blind_spot"]
    assert bs["extent_zyx"] == [1, 0, 2] and bs["estimated"] is False


def test_bad_blind_spot_option_is_a_one_line_error(files, capsys):
    d = files
    rc = main(["denoise", str(d / "rec.mrc"), "--method", "n2v", "--blind-spot", "1,2",
               "-o", str(d / "bad.mrc"), *FAST])
    err = capsys.readouterr().err
    assert rc != 0 and "--blind-spot" in err and len(err.strip().splitlines()) == 1
    assert not (d / "bad.mrc").exists()
