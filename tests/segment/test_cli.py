"""The ``tomoml segment`` and ``tomoml train-segmenter`` commands."""

from __future__ import annotations

import numpy as np

from tomoml.cli import main
from tomoml.data import Volume
from tomoml.io import read_volume, write_volume


def _write_phantom(tmp_path, voxel=6.5):
    rng = np.random.default_rng(0)
    truth = np.zeros((24, 24, 24), np.uint8)
    truth[6:18, 6:18, 6:18] = 1
    img = truth * 2.0 + rng.normal(0, 0.3, truth.shape)
    path = tmp_path / "rec.mrc"
    write_volume(Volume(img.astype(np.float32), voxel_size_A=voxel), path)
    return path, truth


def test_segment_otsu_keeps_voxel_size_and_refuses_to_overwrite(tmp_path, capsys):
    path, truth = _write_phantom(tmp_path)
    out = tmp_path / "lab.mrc"
    assert main(["segment", str(path), "-o", str(out), "--method", "otsu", "--sigma", "1"]) == 0
    lab = read_volume(out)
    assert lab.voxel_size_A == 6.5
    assert np.mean(lab.data == truth) > 0.97
    assert main(["segment", str(path), "-o", str(out), "--method", "otsu"]) != 0
    assert "exists" in capsys.readouterr().err
    assert main(["segment", str(path), "-o", str(out), "--method", "otsu", "--force"]) == 0


def test_segment_default_model_writes_probabilities(tmp_path):
    path, truth = _write_phantom(tmp_path)
    out, prob = tmp_path / "lab.mrc", tmp_path / "prob.mrc"
    assert main(["segment", str(path), "-o", str(out), "--probabilities", str(prob),
                 "--device", "cpu"]) == 0
    p = read_volume(prob)
    lab = read_volume(out)
    assert p.voxel_size_A == 6.5 and p.data.dtype == np.float32
    assert 0.0 <= p.data.min() and p.data.max() <= 1.0
    np.testing.assert_array_equal(lab.data, (p.data > 0.5).astype(np.uint8))


def test_segment_rejects_model_and_method_together(tmp_path, capsys):
    path, _ = _write_phantom(tmp_path)
    code = main(["segment", str(path), "-o", str(tmp_path / "x.mrc"), "--model", "m.pt",
                 "--method", "otsu"])
    assert code != 0 and "exclude" in capsys.readouterr().err


def test_train_segmenter_cli_writes_a_loadable_model(tmp_path, capsys):
    from tomoml.segment import SegmentationModel

    path, truth = _write_phantom(tmp_path)
    sparse = np.full(truth.shape, 255, np.uint8)
    sparse[::4] = truth[::4]
    lab_path = tmp_path / "lab.mrc"
    write_volume(Volume(sparse, voxel_size_A=6.5), lab_path)
    code = main(["train-segmenter", "--images", str(path), "--labels", str(lab_path),
                 "-o", str(tmp_path / "mine.pt"), "--epochs", "1", "--patch", "16",
                 "--init", "none", "--device", "cpu"])
    assert code == 0
    assert "validation Dice" in capsys.readouterr().out
    model = SegmentationModel.load(tmp_path / "mine.pt")
    assert model.info["ignore_label"] == 255 and model.classes == ["pore", "material"]
