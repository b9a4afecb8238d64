import json

import numpy as np
from analyze_phantoms import gyroid

from tomoml.cli import main
from tomoml.data import Volume
from tomoml.io import write_volume


def _write_labels(path, voxel_size_A):
    write_volume(Volume(gyroid(24, 12).astype(np.uint8), voxel_size_A=voxel_size_A), path)


def test_cli_writes_json_csv_png_with_header_voxel_size(tmp_path):
    src = tmp_path / "labels.mrc"
    _write_labels(src, 8.0)
    out = tmp_path / "m.json"
    rc = main(["analyze", str(src), "--json", str(out), "--csv", str(tmp_path / "o.csv"),
               "--png", str(tmp_path / "d.png"), "--metrics", "porosity,surface,particles"])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["voxel_size_A"] == 8.0
    assert (tmp_path / "o.csv").exists() and (tmp_path / "d.png").exists()


def test_cli_warns_on_unset_voxel_size_and_refuses_to_overwrite(tmp_path, capsys):
    src = tmp_path / "labels.mrc"
    _write_labels(src, 1.0)
    out = tmp_path / "m.json"
    assert main(["analyze", str(src), "--json", str(out), "--metrics", "porosity"]) == 0
    assert "voxel size" in capsys.readouterr().err
    assert main(["analyze", str(src), "--json", str(out), "--metrics", "porosity"]) != 0
    assert "exists" in capsys.readouterr().err
    assert main(["analyze", str(src), "--json", str(out), "--metrics", "porosity",
                 "--voxel-size", "5", "--force"]) == 0
    assert json.loads(out.read_text())["voxel_size_A"] == 5.0


def test_cli_solves_diffusive_tortuosity_on_a_sub_volume_when_asked(tmp_path):
    src = tmp_path / "labels.mrc"
    _write_labels(src, 8.0)
    out = tmp_path / "m.json"
    assert main(["analyze", str(src), "--json", str(out), "--metrics", "diffusive_tortuosity",
                 "--diffusive-max-voxels", str(12 ** 3), "--threads", "1"]) == 0
    section = json.loads(out.read_text())["metrics"]["diffusive_tortuosity"]
    assert section["z"]["computed_on"]["sub_volume_zyx"] == [[6, 18], [6, 18], [6, 18]]
    assert section["z"]["tortuosity"] > 1.0
