"""HTML scenes: self-contained (no network at view time) and drawn by a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from render_volumes import ball

pytest.importorskip("trame_vtk", reason="HTML scenes need trame-vtk")

from tomoml.render import label_color, render_html  # noqa: E402


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    labels = ball((40, 40, 40), (20, 20, 14), 8) + 2 * ball((40, 40, 40), (20, 20, 28), 6)
    return render_html(labels, tmp_path_factory.mktemp("html") / "scene.html", voxel_size_A=10,
                       view="xy")


def test_html_scene_is_self_contained(scene):
    text = scene.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html")
    # Nothing is loaded from elsewhere: no external scripts, styles, images or fetches.
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=\s*[\"']?(https?:)?//",
                         text, flags=re.I)
    assert "OfflineLocalView.load" in text and "base64Str" in text


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_html_scene_draws_a_non_blank_canvas_in_headless_chromium(scene, tmp_path):
    from PIL import Image

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=640,480",
           "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no host name resolves
           "--virtual-time-budget=8000", "--run-all-compositor-stages-before-draw",
           f"--screenshot={shot}", scene.as_uri()]
    subprocess.run(cmd, check=False, capture_output=True, timeout=90)
    assert shot.exists(), "chromium wrote no screenshot"
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    norm = img / np.maximum(img.sum(-1, keepdims=True), 1)
    for label in (1, 2):  # both label colours are on the canvas
        rgb = np.array(label_color(label))
        close = (np.abs(norm - rgb / rgb.sum()).sum(-1) < 0.08) & (img.sum(-1) > 60)
        assert close.mean() > 0.005, f"label {label} not drawn"
