"""``--scheduler`` on reconstruct, denoise, segment and analyze: the chunked/distributed path
through the real CLI gives the plain run's result (bit-identical where the algorithm allows,
else within a stated tolerance), and a bad scheduler is a one-line error."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
from scipy import ndimage as ndi

from tomoml.cli import main

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 31-tilt series of a (16, 40, 32) phantom, two noisy 40^3 halves and 40^3 labels."""
    from tomoml.data import TiltSeries, Volume
    from tomoml.io import write_angles, write_tilt_series, write_volume, write_zarr
    from tomoml.reconstruct import forward_project

    d = tmp_path_factory.mktemp("scheduler")
    rng = np.random.default_rng(0)
    vol = np.zeros((16, 40, 32), np.float32)
    vol[4:12, 6:34, 6:26] = 1.0
    vol += 0.2 * rng.random(vol.shape, dtype=np.float32)
    angles = np.arange(-60.0, 61.0, 4.0)
    write_tilt_series(TiltSeries(forward_project(vol, angles), angles, pixel_size_A=5.0),
                      d / "ts.mrc")
    write_angles(angles, d / "ts.tlt")

    field = ndi.gaussian_filter(rng.standard_normal((40, 40, 40)), 2.0)
    truth = (field > 0).astype(np.float32)
    for name in ("even", "odd"):
        noisy = truth + rng.normal(0, 0.3, truth.shape).astype(np.float32)
        write_volume(Volume(noisy, voxel_size_A=7.5), d / f"{name}.mrc")
    write_volume(Volume(truth, voxel_size_A=7.5), d / "rec.mrc")
    write_zarr(np.asarray(truth + 0.1 * field, np.float32), d / "rec.zarr", voxel_size_A=7.5,
               chunks=16)

    labels = (field > 0).astype(np.uint8)
    labels[field > 0.1] = 2
    write_volume(Volume(labels, voxel_size_A=8.0), d / "labels.mrc")
    return d


def _read(path):
    from tomoml.io import read_volume

    return read_volume(path)


def test_reconstruct_sirt_by_slabs_on_threads_is_bit_identical(data):
    common = ["reconstruct", str(data / "ts.mrc"), "--angles", str(data / "ts.tlt"),
              "-m", "sirt", "-n", "4", "--thickness", "16", "--device", "cpu"]
    assert main([*common, "-o", str(data / "sirt_plain.mrc")]) == 0
    # 40 rows in slabs of 32 (--chunk rounds up to the engine slab): two tasks
    assert main([*common, "-o", str(data / "sirt_slabs.mrc"), "--scheduler", "threads",
                 "--workers", "2", "--chunk", "16"]) == 0
    plain, slabs = _read(data / "sirt_plain.mrc"), _read(data / "sirt_slabs.mrc")
    assert slabs.voxel_size_A == pytest.approx(5.0)
    np.testing.assert_array_equal(slabs.data, plain.data)


def test_reconstruct_on_a_local_cluster_address_into_zarr_is_bit_identical(data,
                                                                           cluster_address):
    common = ["reconstruct", str(data / "ts.mrc"), "--angles", str(data / "ts.tlt"),
              "--thickness", "16", "--device", "cpu"]
    assert main([*common, "-o", str(data / "fbp_plain.mrc")]) == 0
    assert main([*common, "-o", str(data / "fbp_cluster.zarr"), "--scheduler", cluster_address,
                 "--chunk", "16"]) == 0
    np.testing.assert_array_equal(_read(data / "fbp_cluster.zarr").data,
                                  _read(data / "fbp_plain.mrc").data)


def test_segment_otsu_by_chunks_of_zarr_is_bit_identical(data):
    common = ["segment", str(data / "rec.zarr"), "--method", "otsu", "--sigma", "1.0"]
    assert main([*common, "-o", str(data / "otsu_plain.mrc")]) == 0
    # chunks of 16 with a 4-voxel halo (the Gaussian's radius): 3 x 3 x 3 tasks
    assert main([*common, "-o", str(data / "otsu_chunks.zarr"), "--scheduler", "threads",
                 "--chunk", "16"]) == 0
    plain, chunked = _read(data / "otsu_plain.mrc"), _read(data / "otsu_chunks.zarr")
    assert chunked.is_labels and chunked.voxel_size_A == pytest.approx(7.5)
    assert 0.2 < plain.data.mean() < 0.8
    np.testing.assert_array_equal(chunked.data, plain.data)


def test_segment_default_unet_on_cluster_matches_plain(data, cluster_address):
    common = ["segment", str(data / "rec.mrc"), "--device", "cpu"]
    assert main([*common, "-o", str(data / "unet_plain.mrc")]) == 0
    assert main([*common, "-o", str(data / "unet_cluster.mrc"), "--scheduler",
                 cluster_address, "--chunk", "16"]) == 0
    plain, chunked = _read(data / "unet_plain.mrc").data, _read(data / "unet_cluster.mrc").data
    # the U-Net sees the same context per chunk but another window grid: near-ties on class
    # borders may flip (docs/scale.md); on 40^3 every chunk's context spans the volume
    assert np.mean(plain == chunked) >= 0.995


def test_denoise_n2n_trained_then_applied_by_chunks_equals_plain(data):
    common = ["denoise", str(data / "rec.mrc"), "--even", str(data / "even.mrc"), "--odd",
              str(data / "odd.mrc"), "--epochs", "1", "--steps", "1", "--patch", "16",
              "--batch", "2", "--seed", "1", "--device", "cpu"]
    assert main([*common, "-o", str(data / "n2n_plain.mrc")]) == 0
    # the same training (seeded), then the model is applied by chunks: --chunk 20 is put on
    # the window grid (24: windows of 16 every 8 voxels) with 16 voxels of context, so each
    # chunk blends the very windows the whole-volume run puts over it
    assert main([*common, "-o", str(data / "n2n_chunks.mrc"), "--scheduler", "threads",
                 "--chunk", "20"]) == 0
    chunked, plain = _read(data / "n2n_chunks.mrc"), _read(data / "n2n_plain.mrc").data
    assert chunked.voxel_size_A == pytest.approx(7.5)
    # bit-identical with the same torch thread count (tests/parallel/test_denoise_blocks.py);
    # dask's worker threads may run torch with another, which changes float rounding only
    np.testing.assert_allclose(chunked.data, plain, rtol=0, atol=1e-6 * float(np.ptp(plain)))
    assert not list(data.glob(".tomoml-model-*"))  # the temporary model file is gone


def test_analyze_porosity_and_surface_by_chunks_equal_plain(data):
    common = ["analyze", str(data / "labels.mrc"), "--metrics", "porosity,surface",
              "--phase", "2"]
    assert main([*common, "--json", str(data / "m_plain.json")]) == 0
    assert main([*common, "--json", str(data / "m_chunks.json"), "--scheduler", "threads",
                 "--chunk", "12"]) == 0
    plain = json.loads((data / "m_plain.json").read_text())["metrics"]
    chunked = json.loads((data / "m_chunks.json").read_text())["metrics"]
    assert chunked["porosity"] == plain["porosity"]  # integer counts: exact
    assert chunked["surface"].keys() == plain["surface"].keys()
    for key, value in plain["surface"].items():
        assert chunked["surface"][key] == pytest.approx(value, rel=1e-6), key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, message", [
    (["--scheduler", "bogus"], "scheduler must be one of threads, processes, sync"),
    (["--scheduler", "tcp://127.0.0.1:{port}"], "cannot connect"),
    (["--workers", "2"], "--workers applies to the chunked path: add --scheduler"),
    (["--scheduler", "threads", "-o", "{d}/out.tif"], "out.tif: with --scheduler the output"),
])
def test_bad_scheduler_options_give_one_line_and_nonzero_exit(data, capsys, args, message):
    args = [a.format(port=_free_port(), d=data) for a in args]
    out = [] if "-o" in args else ["-o", str(data / "never.mrc")]
    rc = main(["segment", str(data / "rec.mrc"), "--method", "otsu", *out, *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert len(err) == 1 and message in err[0], err
    assert not (data / "never.mrc").exists() and not (data / "out.tif").exists()


def test_chunked_outputs_keep_the_input_origin(data):
    from tomoml.data import Volume
    from tomoml.io import write_volume

    rec = _read(data / "rec.mrc")
    write_volume(Volume(rec.data, voxel_size_A=7.5, origin_A=(15.0, -30.0, 45.0)),
                 data / "rec_origin.mrc")
    for out in ("origin_labels.mrc", "origin_labels.zarr"):
        assert main(["segment", str(data / "rec_origin.mrc"), "--method", "otsu", "-o",
                     str(data / out), "--scheduler", "sync", "--chunk", "16"]) == 0
        assert _read(data / out).origin_A == pytest.approx((15.0, -30.0, 45.0))
