import csv
import json

import numpy as np
import pytest
from analyze_phantoms import ball

from tomoml.analyze import analyze
from tomoml.errors import ConfigError


@pytest.fixture(scope="module")
def report():
    shape = (32, 32, 32)
    labels = np.zeros(shape, np.uint8)
    labels[ball(shape, (10, 10, 10), 6)] = 1
    labels[ball(shape, (22, 22, 21), 7)] = 1
    return analyze(labels, voxel_size_A=12.0,
                   metrics=("porosity", "surface", "pore_size", "solid_thickness", "topology",
                            "tortuosity", "particles"))


def test_json_contains_units_definitions_and_voxel_counts(report, tmp_path):
    path = tmp_path / "m.json"
    report.to_json(path)
    data = json.loads(path.read_text())
    assert data["units"]["length"] == "nm"
    for key in ("porosity", "local_thickness", "euler_characteristic", "connectivity_density",
                "geometric_tortuosity", "diffusive_tortuosity", "sphericity", "S_over_V_total"):
        assert key in data["definitions"]
    assert "DIAMETER" in data["definitions"]["local_thickness"]
    assert "26-connected" in data["definitions"]["euler_characteristic"]
    assert data["voxel_size_nm"] == pytest.approx(1.2)
    surf = data["metrics"]["surface"]
    assert surf["surface_area_nm2"] == pytest.approx(surf["surface_area_vox2"] * 1.44)
    assert data["metrics"]["topology"]["solid"]["components"]["count"] == 2


def test_csv_has_one_row_per_object(report, tmp_path):
    path = tmp_path / "o.csv"
    report.to_csv(path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 2
    assert float(rows[1]["volume_voxels"]) == np.count_nonzero(ball((32,) * 3, (22, 22, 21), 7))


def test_plot_writes_a_png(report, tmp_path):
    path = tmp_path / "d.png"
    report.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_output_is_refused_without_force(report, tmp_path):
    from tomoml.errors import OutputError

    path = tmp_path / "m.json"
    path.write_text("{}")
    with pytest.raises(OutputError):
        report.to_json(path)
    report.to_json(path, force=True)
    assert "metrics" in json.loads(path.read_text())


def test_unknown_metric_is_a_config_error():
    with pytest.raises(ConfigError, match="metrics"):
        analyze(np.zeros((4, 4, 4), np.uint8), voxel_size_A=1.0, metrics=["volume"])


def test_envelope_restricts_porosity_in_analyze():
    labels = np.zeros((24, 24, 24), np.uint8)
    labels[4:20, 4:20, 4:20] = 1
    labels[10:13, 10:13, 10:13] = 0
    r = analyze(labels, voxel_size_A=10.0, envelope="closing", metrics=["porosity"])
    assert r.metrics["porosity"]["porosity"] == pytest.approx(27 / 16 ** 3)


def test_phase_selects_one_label_and_instances_give_the_object_table():
    shape = (24, 24, 24)
    labels = np.zeros(shape, np.uint8)
    labels[ball(shape, (7, 7, 7), 4)] = 1
    labels[ball(shape, (16, 16, 16), 5)] = 2
    r = analyze(labels, voxel_size_A=10.0, phase=2, metrics=["surface", "particles"])
    assert r.metrics["surface"]["phase_voxels"] == np.count_nonzero(labels == 2)
    assert r.objects["volume_voxels"] == [np.count_nonzero(labels == 2)]
    inst = analyze(labels, voxel_size_A=10.0, instances=labels, metrics=["particles"])
    assert inst.objects["label"] == [1, 2]
    assert inst.metrics["particles"]["objects"] == "given instance labels"


def test_concurrent_metrics_give_the_same_report_as_one_at_a_time():
    from analyze_phantoms import gyroid

    labels = gyroid(32, 16).astype(np.uint8)
    labels[ball(labels.shape, (16, 16, 16), 5)] = 1
    serial = analyze(labels, voxel_size_A=10.0, metrics="all", workers=1)
    threaded = analyze(labels, voxel_size_A=10.0, metrics="all", workers=2)
    assert json.dumps(threaded.to_dict()["metrics"], sort_keys=True) == json.dumps(
        serial.to_dict()["metrics"], sort_keys=True)
    assert list(threaded.metrics) == list(serial.metrics)  # same section order in the JSON
    assert threaded.objects == serial.objects
    assert set(threaded.timings_s) == set(serial.timings_s)
