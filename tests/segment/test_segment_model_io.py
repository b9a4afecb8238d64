"""SegmentationModel save/load: identical output, sidecar contents, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tomoml.errors import InputError
from tomoml.segment.inference import predict
from tomoml.segment.unet import SegmentationModel

SMALL = {"name": "monai.UNet", "channels": [4, 8, 16], "strides": [2, 2], "num_res_units": 1,
         "norm": "instance", "dropout": 0.0}


def test_saved_and_loaded_model_gives_identical_probabilities(tmp_path):
    model = SegmentationModel.create(3, architecture=SMALL, patch_size=16, seed=3)
    vol = np.random.default_rng(0).normal(size=(20, 24, 28)).astype(np.float32) * 7 + 100
    lab_a, prob_a = predict(model, vol, roi_size=16, probabilities_out=True)
    path = model.save(tmp_path / "m")
    assert path.name == "m.pt" and (tmp_path / "m.json").exists()
    loaded = SegmentationModel.load(path)
    lab_b, prob_b = predict(loaded, vol, roi_size=16, probabilities_out=True)
    np.testing.assert_array_equal(lab_a, lab_b)
    np.testing.assert_array_equal(prob_a, prob_b)
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["architecture"] == SMALL
    assert meta["classes"] == ["background", "phase1", "phase2"]
    assert meta["patch_size"] == [16, 16, 16]
    assert meta["normalization"]["kind"] == "percentile"
    assert meta["format_version"] == 1


def test_save_refuses_to_overwrite_without_force(tmp_path):
    model = SegmentationModel.create(2, architecture=SMALL, patch_size=16)
    model.save(tmp_path / "m.pt")
    with pytest.raises(Exception, match="exists"):
        model.save(tmp_path / "m.pt")
    model.save(tmp_path / "m.pt", force=True)


def test_load_without_sidecar_names_the_missing_file(tmp_path):
    model = SegmentationModel.create(2, architecture=SMALL, patch_size=16)
    model.save(tmp_path / "m.pt")
    (tmp_path / "m.json").unlink()
    with pytest.raises(InputError, match=r"m\.json"):
        SegmentationModel.load(tmp_path / "m.pt")


def test_shipped_default_model_is_small_and_two_class():
    from tomoml.segment.unet import default_model_path

    path = default_model_path()
    assert path.stat().st_size < 20e6
    model = SegmentationModel.load("default")
    assert model.classes == ["pore", "material"]
