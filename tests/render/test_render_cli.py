"""``tomoml render`` and ``tomoml view`` from the command line."""

from __future__ import annotations

import numpy as np
import pytest
import pyvista as pv
from render_volumes import ball, gaussian_blob

from tomoml.cli import main
from tomoml.data import Volume
from tomoml.io import write_volume


@pytest.fixture()
def label_file(tmp_path):
    return write_volume(Volume(ball((32, 32, 32), (16, 16, 16), 9), voxel_size_A=10.0),
                        tmp_path / "labels.mrc") or tmp_path / "labels.mrc"


def test_render_writes_png_and_mesh_in_nm(tmp_path, label_file, capsys):
    png, mesh = tmp_path / "out.png", tmp_path / "out.vtp"
    rc = main(["render", str(label_file), "-o", str(png), "--mesh", str(mesh), "--labels",
               "--size", "200x150", "--decimate", "0.5"])
    assert rc == 0, capsys.readouterr().err
    assert png.stat().st_size > 1000
    surf = pv.read(mesh)
    assert surf.area == pytest.approx(4 * np.pi * 0.9 ** 2 * 100, rel=0.03)  # r = 9 nm
    out = capsys.readouterr().out
    assert "image:" in out and "label 1:" in out and "nm²" in out


def test_render_density_with_iso_and_html(tmp_path, capsys):
    pytest.importorskip("trame_vtk")
    src = tmp_path / "den.mrc"
    write_volume(Volume(gaussian_blob((32, 32, 32), (15.5, 15.5, 15.5), 5.0), voxel_size_A=5.0),
                 src)
    rc = main(["render", str(src), "-o", str(tmp_path / "d.png"), "--iso", "0.4",
               "--html", str(tmp_path / "d.html"), "--size", "160x120", "--view", "xy"])
    assert rc == 0, capsys.readouterr().err
    assert (tmp_path / "d.html").stat().st_size > 100_000


def test_render_refuses_existing_output_and_bad_iso(tmp_path, label_file, capsys):
    png = tmp_path / "o.png"
    png.write_bytes(b"x")
    assert main(["render", str(label_file), "-o", str(png)]) != 0
    err = capsys.readouterr().err.strip()
    assert "exists" in err and len(err.splitlines()) == 1
    src = tmp_path / "den.mrc"
    write_volume(Volume(gaussian_blob((16, 16, 16), (8, 8, 8), 3.0)), src)
    assert main(["render", str(src), "-o", str(tmp_path / "p.png"), "--iso", "5"]) != 0
    assert "outside the data range" in capsys.readouterr().err


def test_view_without_display_says_so_in_one_line(monkeypatch, label_file, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["view", str(label_file)]) != 0
    err = capsys.readouterr().err.strip()
    assert "no display" in err and len(err.splitlines()) == 1
