"""Saving and loading: state_dict + JSON sidecar, identical output after reloading."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_saved_model_reloads_and_gives_bit_identical_output(tmp_path, n2n_model, noisy_case,
                                                           n2n_output):
    from tomoml.denoise import DenoiseModel, predict

    _, even, odd = noisy_case
    pt = n2n_model.save(tmp_path / "n2n")
    assert pt.name == "n2n.pt" and (tmp_path / "n2n.json").is_file()
    again = DenoiseModel.load(tmp_path / "n2n.json")
    out = predict(again, even=even, odd=odd, device="cpu")
    assert np.array_equal(out, n2n_output)


def test_sidecar_records_architecture_patch_normalisation_version_and_training(tmp_path,
                                                                              n2n_model):
    n2n_model.save(tmp_path / "m.pt")
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["format"] == "tomoml-denoise-model"
    assert meta["method"] == "n2n"
    assert meta["architecture"]["class"] == "UNet"
    assert meta["architecture"]["kwargs"]["channels"] == [16, 32, 64]
    assert meta["patch"] == [16, 16, 16]
    assert meta["normalisation"]["kind"] == "zscore"
    assert meta["normalisation"]["std"] == pytest.approx(n2n_model.normalisation.std)
    assert meta["tomoml_version"]
    t = meta["training"]
    assert t["settings"]["seed"] == 0 and t["settings"]["epochs"] == 8
    assert t["mixed_precision"] is False and t["device"] == "cpu"
    assert len(t["history"]) == t["epochs_run"] and "val_loss" in t["history"][0]
    assert len(meta["weights"]["sha256"]) == 64


def test_save_refuses_to_overwrite_without_force(tmp_path, n2n_model):
    from tomoml.errors import OutputError

    n2n_model.save(tmp_path / "m")
    with pytest.raises(OutputError, match="exists"):
        n2n_model.save(tmp_path / "m")
    n2n_model.save(tmp_path / "m", force=True)


def test_load_rejects_weights_that_do_not_match_the_sidecar(tmp_path, n2n_model):
    from tomoml.denoise import DenoiseModel
    from tomoml.errors import InputError

    n2n_model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["architecture"]["kwargs"]["channels"] = [8, 16, 32]
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="do not match"):
        DenoiseModel.load(tmp_path / "m.pt")


def test_model_applies_to_another_volume_with_other_grey_levels(n2n_model, noisy_case,
                                                              n2n_output):
    from tomoml.denoise import predict

    _, even, odd = noisy_case
    # Per-volume normalisation: an affine change of the input changes the output the same way.
    a = predict(n2n_model, even=even * 3 + 100, odd=odd * 3 + 100, device="cpu")
    np.testing.assert_allclose(a, n2n_output * 3 + 100, atol=2e-3 * 3)
