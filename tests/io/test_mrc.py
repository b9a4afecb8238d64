"""MRC reading and writing: round trips, axis/unit translation, FEI headers, damaged files."""

import logging

import mrcfile
import numpy as np
import pytest

import tomoml.io.mrc as mrc_mod
from tomoml.data import TiltSeries, Volume
from tomoml.errors import InputError
from tomoml.io import read_tilt_series, read_volume, write_tilt_series, write_volume
from tomoml.io.mrc import fei_extended_header, read_mrc, write_mrc


@pytest.fixture
def density():
    return np.random.default_rng(0).normal(size=(6, 8, 10)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".mrc", ".rec", ".map"])
def test_volume_round_trip_keeps_data_voxel_size_and_origin(tmp_path, density, suffix):
    vol = Volume(density, voxel_size_A=3.25, origin_A=(-1.5, 2.0, 7.25))
    back = read_volume(write_volume(vol, tmp_path / f"v{suffix}"))
    np.testing.assert_array_equal(back.data, density)
    assert back.data.dtype == np.float32
    assert back.voxel_size_A == pytest.approx(3.25)
    assert back.origin_A == pytest.approx((-1.5, 2.0, 7.25))


def test_header_voxel_size_and_origin_are_xyz_in_the_file(tmp_path, density):
    """mrcfile's records are (x, y, z); tomoml's are (z, y, x): check the translation."""
    path = write_mrc(density, tmp_path / "v.mrc", voxel_size_A=2.0, origin_A=(10.0, 20.0, 30.0))
    with mrcfile.open(path) as m:
        assert (float(m.header.origin.x), float(m.header.origin.z)) == (30.0, 10.0)
        assert m.header.nx == 10 and m.header.nz == 6
    with mrcfile.open(path, mode="r+") as m:
        m.voxel_size = (2.0, 2.0, 4.0)  # x, y, z: anisotropic along z
    c = read_mrc(path)
    assert c.voxel_size_zyx_A == pytest.approx((4.0, 2.0, 2.0))


@pytest.mark.parametrize("hi, mode", [(3, 0), (200, 1), (40000, 6), (100000, 2)])
def test_labels_round_trip_in_the_smallest_mode(tmp_path, hi, mode):
    labels = np.random.default_rng(1).integers(0, hi + 1, size=(4, 5, 6))
    labels.flat[0] = hi
    path = write_volume(Volume(labels, voxel_size_A=5.0), tmp_path / "labels.mrc")
    with mrcfile.open(path) as m:
        assert int(m.header.mode) == mode
    back = read_volume(path)
    assert back.is_labels
    np.testing.assert_array_equal(back.data, labels)


def test_imod_unsigned_byte_file_reads_as_unsigned(tmp_path):
    data = np.arange(0, 250, 10, dtype=np.uint8)[:24].reshape(2, 3, 4)
    path = tmp_path / "bytes.mrc"
    with mrcfile.new(path) as m:
        m.set_data(data.view(np.int8))
    raw = bytearray(path.read_bytes())
    raw[152:156] = np.int32(1146047817).tobytes()  # IMOD stamp, flags = 0: unsigned bytes
    raw[156:160] = np.int32(0).tobytes()
    path.write_bytes(bytes(raw))
    vol = read_volume(path)
    np.testing.assert_array_equal(vol.data, data.astype(np.float32))


def test_tilt_series_round_trip_carries_angles_pixel_size_and_axis(tmp_path, density):
    ts = TiltSeries(density, np.linspace(-50, 50, 6), pixel_size_A=4.5, tilt_axis_deg=-85.3)
    back = read_tilt_series(write_tilt_series(ts, tmp_path / "ts.st"))
    np.testing.assert_array_equal(back.data, density)
    np.testing.assert_allclose(back.angles_deg, ts.angles_deg)
    assert back.pixel_size_A == pytest.approx(4.5)
    assert back.tilt_axis_deg == pytest.approx(-85.3)


def test_memory_mapped_read_is_read_only_and_equal(tmp_path, density):
    path = write_mrc(density, tmp_path / "v.mrc", voxel_size_A=1.5)
    vol = read_volume(path, mmap=True)
    assert not vol.data.flags.owndata  # a view of the mapped file, not a loaded copy
    assert not vol.data.flags.writeable
    np.testing.assert_array_equal(vol.data, density)


def test_large_files_are_memory_mapped_automatically(tmp_path, density, monkeypatch):
    path = write_mrc(density, tmp_path / "v.mrc")
    monkeypatch.setattr(mrc_mod, "MMAP_AUTO_BYTES", 100)
    assert isinstance(read_mrc(path).data, np.memmap)
    monkeypatch.setattr(mrc_mod, "MMAP_AUTO_BYTES", 1 << 40)
    assert not isinstance(read_mrc(path).data, np.memmap)


def _fei_file(path, angles, pixel_A, *, exttyp=b"FEI1", pad_to=None):
    """An FEI-style stack: FEI extended header, then the MAP and machine stamps wiped."""
    data = np.random.default_rng(2).normal(size=(len(angles), 8, 9)).astype(np.float32)
    ext = fei_extended_header(angles, pixel_A, exttyp=exttyp)
    raw_ext = ext.tobytes()
    if pad_to:  # real files pad each record beyond the documented fields
        rec = ext.dtype.itemsize
        ext["Metadata size"] = pad_to
        raw_ext = b"".join(ext[i:i + 1].tobytes() + b"\0" * (pad_to - rec)
                           for i in range(len(angles)))
    with mrcfile.new(path) as m:
        m.set_data(data)
        m.set_extended_header(np.frombuffer(raw_ext, dtype="V1"))
        m.header.exttyp = exttyp
        m.voxel_size = 1.0  # header left at IMOD's "unknown"
    raw = bytearray(path.read_bytes())
    raw[208:212] = b"\0\0\0\0"  # no 'MAP ' stamp
    raw[212:216] = b"\0\0\0\0"  # no machine stamp
    path.write_bytes(bytes(raw))
    return data


@pytest.mark.parametrize("exttyp, pad", [(b"FEI1", None), (b"FEI2", None), (b"FEI1", 1024)])
def test_fei_file_without_stamps_opens_with_warning_and_gives_its_angles(tmp_path, caplog,
                                                                         exttyp, pad):
    angles = np.array([-45.0, -30.5, -15.0, 0.0, 15.25, 30.0, 45.0])
    path = tmp_path / "fei.mrc"
    data = _fei_file(path, angles, 3.37, exttyp=exttyp, pad_to=pad)
    with caplog.at_level(logging.WARNING, logger="tomoml"):
        ts = read_tilt_series(path)
    assert "permissive" in caplog.text and "fei.mrc" in caplog.text
    np.testing.assert_allclose(ts.angles_deg, angles)
    assert ts.pixel_size_A == pytest.approx(3.37)
    np.testing.assert_array_equal(ts.data, data)


def test_tlt_file_overrides_fei_angles(tmp_path):
    path = tmp_path / "fei.mrc"
    _fei_file(path, np.linspace(-30, 30, 5), 2.0)
    tlt = tmp_path / "fixed.tlt"
    tlt.write_text("\n".join(str(a) for a in np.linspace(-40, 40, 5)))
    ts = read_tilt_series(path, tlt)
    np.testing.assert_allclose(ts.angles_deg, np.linspace(-40, 40, 5))


def test_truncated_mrc_is_one_line_input_error_naming_the_file(tmp_path, density):
    path = write_mrc(density, tmp_path / "cut.mrc")
    path.write_bytes(path.read_bytes()[:1024 + 100])
    with pytest.raises(InputError, match=r"cut\.mrc: truncated MRC file") as err:
        read_volume(path)
    assert "\n" not in str(err.value)


def test_file_shorter_than_a_header_is_input_error(tmp_path):
    path = tmp_path / "tiny.mrc"
    path.write_bytes(b"MAP " * 10)
    with pytest.raises(InputError, match=r"tiny\.mrc: not an MRC file or truncated"):
        read_mrc(path)


def test_garbage_file_is_input_error(tmp_path):
    path = tmp_path / "garbage.mrc"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match=r"garbage\.mrc: not an MRC file"):
        read_tilt_series(path, np.zeros(3))


def _with_imod_extended_header(path, data, ext: bytes, exttyp: bytes, nint: int, nreal: int):
    with mrcfile.new(path) as m:
        m.set_data(data)
        m.set_extended_header(np.frombuffer(ext, dtype="V1"))
        m.header.exttyp = exttyp
    raw = bytearray(path.read_bytes())
    raw[128:132] = np.array([nint, nreal], "<i2").tobytes()
    path.write_bytes(bytes(raw))


def test_serialem_extended_header_gives_angles(tmp_path):
    angles = np.array([-20.0, -10.01, 0.0, 9.99, 20.0])
    rec = np.zeros((5, 8), np.uint8)  # nint = 8 bytes: tilt (2) + stage (4) + mag (2)
    rec[:, :2] = np.round(angles * 100).astype("<i2")[:, None].view(np.uint8)
    path = tmp_path / "serialem.st"
    data = np.zeros((5, 4, 4), np.float32)
    _with_imod_extended_header(path, data, rec.tobytes(), b"SERI", 8, 1 | 4 | 8)
    ts = read_tilt_series(path)
    np.testing.assert_allclose(ts.angles_deg, angles, atol=1e-9)


def test_old_fei_agard_extended_header_gives_angles_and_pixel_size(tmp_path):
    angles = np.linspace(-64, 64, 5)
    rec = np.zeros((1024, 32), "<f4")  # old FEI: 1024 sections x 32 floats, no exttyp
    rec[:5, 0] = angles
    rec[:5, 11] = 4.2e-10  # pixel size in metres
    path = tmp_path / "oldfei.mrc"
    _with_imod_extended_header(path, np.zeros((5, 4, 4), np.float32), rec.tobytes(), b"", 0, 32)
    ts = read_tilt_series(path)
    np.testing.assert_allclose(ts.angles_deg, angles, atol=1e-5)
    assert ts.pixel_size_A == pytest.approx(4.2, rel=1e-5)


def test_extended_header_without_plausible_angles_is_ignored(tmp_path):
    rec = np.zeros((3, 32), "<f4")  # all zero: no angles recorded
    path = tmp_path / "zeros.mrc"
    _with_imod_extended_header(path, np.zeros((3, 4, 4), np.float32), rec.tobytes(), b"", 0, 32)
    with pytest.raises(InputError, match="no tilt angles"):
        read_tilt_series(path)
