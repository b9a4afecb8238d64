"""End to end: `tomoml demo` runs the whole pipeline on the bundled sample and writes the report;
a second run reuses every step."""

import json
import subprocess
import sys

import pytest


def _demo(out):
    return subprocess.run([sys.executable, "-m", "tomoml", "demo", str(out)], capture_output=True,
                          text=True, timeout=1200)


@pytest.mark.slow
def test_demo_writes_report_metrics_and_provenance_then_resumes(tmp_path):
    out = tmp_path / "demo"
    proc = _demo(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("report.html", "tomoml-run.json", "05_analyze/metrics.json",
                 "06_render/render.png", "06_render/scene.html", "04_segment/labels.mrc"):
        assert (out / name).exists(), name

    run = json.loads((out / "tomoml-run.json").read_text())
    steps = {s["name"]: s for s in run["steps"]}
    assert list(steps) == ["align", "reconstruct", "denoise", "segment", "analyze", "render"]
    assert all(len(v["sha256"]) == 64 for v in run["inputs"].values())
    # The sample was simulated with the tilt axis along y and 2 px of drift.
    assert abs(steps["align"]["info"]["tilt_axis_deg"]) < 1.0

    metrics = json.loads((out / "05_analyze/metrics.json").read_text())["metrics"]
    porosity = metrics["porosity"]["porosity"]
    assert 0.05 < porosity < 0.30  # the sample's true porosity inside the particle is 0.122

    report = (out / "report.html").read_text()
    assert "Dice of the material phase" in report and "data:image/png;base64," in report

    again = _demo(out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("(cached)") == 6
