"""Bad input: each case is one-line InputError naming the file and the problem."""

import logging

import numpy as np
import pytest
import tifffile

from tomoml.errors import InputError, OutputError
from tomoml.io import (
    read_angles,
    read_tilt_series,
    read_volume,
    repair_nonfinite,
    write_tilt_series,
)
from tomoml.io.mrc import write_mrc


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


@pytest.fixture
def stack(tmp_path):
    data = np.random.default_rng(0).normal(size=(4, 6, 6)).astype(np.float32)
    return write_mrc(data, tmp_path / "tilts.mrc", voxel_size_A=2.0)


@pytest.mark.parametrize("reader", [read_volume, lambda p: read_tilt_series(p, [0.0])])
def test_missing_file(tmp_path, reader):
    with pytest.raises(InputError) as err:
        reader(tmp_path / "nope.mrc")
    assert "nope.mrc: no such file" in _one_line(err)


def test_missing_angle_file(tmp_path, stack):
    with pytest.raises(InputError) as err:
        read_tilt_series(stack, tmp_path / "nope.tlt")
    assert "nope.tlt: no such file" in _one_line(err)


def test_truncated_mrc(tmp_path, stack):
    stack.write_bytes(stack.read_bytes()[:-10])
    with pytest.raises(InputError) as err:
        read_tilt_series(stack, np.zeros(4))
    assert "tilts.mrc: truncated MRC file" in _one_line(err)


@pytest.mark.parametrize("name", ["junk.mrc", "junk.tif", "junk.dm4", "junk.zarr"])
def test_garbage_file_of_each_format(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not image data at all\n" * 50)
    with pytest.raises(InputError) as err:
        read_tilt_series(path, np.zeros(3))
    msg = _one_line(err)
    assert msg.startswith(str(path)) and ("not" in msg or "unreadable" in msg)


def test_2d_image_where_a_stack_is_needed(tmp_path):
    path = write_mrc(np.zeros((6, 7), np.float32), tmp_path / "single.mrc")
    with pytest.raises(InputError) as err:
        read_tilt_series(path, [0.0])
    assert "single.mrc: a tilt series must be a 3D stack" in _one_line(err)
    tif = tmp_path / "single.tif"
    tifffile.imwrite(tif, np.zeros((6, 7), np.float32))
    with pytest.raises(InputError, match=r"single\.tif: a volume must be 3D"):
        read_volume(tif)


def test_angle_count_differs_from_number_of_tilts(tmp_path, stack):
    tlt = tmp_path / "tilts.tlt"
    tlt.write_text("-30\n0\n30\n")
    with pytest.raises(InputError) as err:
        read_tilt_series(stack, tlt)
    msg = _one_line(err)
    assert "tilts.tlt: 3 tilt angles for the 4 images of" in msg and "tilts.mrc" in msg


def test_no_angles_anywhere_asks_for_angles_and_points_at_a_tlt_beside(tmp_path, stack):
    with pytest.raises(InputError, match="pass them with --angles") as err:
        read_tilt_series(stack)
    assert "tilts.mrc: no tilt angles" in _one_line(err)
    (tmp_path / "tilts.rawtlt").write_text("0\n1\n2\n3\n")
    with pytest.raises(InputError, match=r"tilts\.rawtlt lies beside it"):
        read_tilt_series(stack)


def test_nan_and_inf_are_an_error_naming_the_file(tmp_path):
    data = np.ones((3, 4, 4), np.float32)
    data[1, 2, 2] = np.nan
    data[2, 0, 0] = np.inf
    path = write_mrc(data, tmp_path / "bad.mrc")
    with pytest.raises(InputError) as err:
        read_tilt_series(path, [-1, 0, 1])
    assert "bad.mrc" in _one_line(err) and "NaN or Inf" in str(err.value)
    with pytest.raises(InputError, match=r"bad\.mrc.*NaN or Inf"):
        read_volume(path)


def test_repair_replaces_nan_inf_by_median_with_a_warning(tmp_path, caplog):
    data = np.arange(48, dtype=np.float32).reshape(3, 4, 4)
    data[1, 2, 2] = np.nan
    data[2, 0, 0] = -np.inf
    finite_median = float(np.median(data[np.isfinite(data)]))
    path = write_mrc(data, tmp_path / "bad.mrc")
    with caplog.at_level(logging.WARNING, logger="tomoml"):
        ts = read_tilt_series(path, [-1, 0, 1], repair=True)
    assert "repaired 2 NaN/Inf values" in caplog.text and "bad.mrc" in caplog.text
    assert ts.data[1, 2, 2] == finite_median and ts.data[2, 0, 0] == finite_median
    assert np.isfinite(read_volume(path, repair=True).data).all()


def test_repair_nonfinite_counts_and_leaves_clean_data_alone():
    clean = np.ones(5)
    out, n = repair_nonfinite(clean)
    assert n == 0 and out is clean
    out, n = repair_nonfinite(np.array([1.0, np.nan, 3.0, np.inf, 5.0]))
    assert n == 2 and out.tolist() == [1.0, 3.0, 3.0, 3.0, 5.0]
    with pytest.raises(InputError, match="every value is NaN"):
        repair_nonfinite(np.full(3, np.nan), source="x.mrc")


def test_unknown_suffix_for_reading_and_writing(tmp_path, stack):
    odd = tmp_path / "volume.xyz"
    odd.write_bytes(b"0" * 2000)
    with pytest.raises(InputError) as err:
        read_volume(odd)
    assert "volume.xyz: unknown file type '.xyz'" in _one_line(err) and ".mrc" in str(err.value)
    ts = read_tilt_series(stack, np.zeros(4))
    with pytest.raises(OutputError, match=r"out\.png: unknown output type"):
        write_tilt_series(ts, tmp_path / "out.png")


def test_bad_line_in_angle_file(tmp_path):
    tlt = tmp_path / "a.tlt"
    tlt.write_text("0\nten\n")
    with pytest.raises(InputError, match=r"a\.tlt:2: not a number"):
        read_angles(tlt)


def test_labels_requested_from_non_integer_data(tmp_path):
    path = write_mrc(np.full((2, 2, 2), 0.5, np.float32), tmp_path / "dens.mrc")
    with pytest.raises(InputError, match=r"dens\.mrc: labels requested"):
        read_volume(path, labels=True)
