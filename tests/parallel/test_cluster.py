"""The same results on a dask.distributed LocalCluster of 2 workers (1 thread each),
reached by its address as a user would give ``--scheduler tcp://HOST:PORT``."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from scipy import ndimage as ndi

from tomoml import analyze
from tomoml.analyze import chunked
from tomoml.parallel import map_blocks_overlap
from tomoml.reconstruct import reconstruct
from tomoml.reconstruct.slabs import reconstruct_slabs

distributed = pytest.importorskip("distributed")


def test_cluster_has_two_single_thread_workers(cluster_address):
    assert ":://" not in cluster_address and "://" in cluster_address
    with distributed.Client(cluster_address) as client:
        info = client.scheduler_info()["workers"]
    assert len(info) == 2
    assert all(w["nthreads"] == 1 for w in info.values())


def test_overlapping_gaussian_on_cluster_zarr_to_mrc_is_bit_identical(
        cluster_address, random_field, tmp_path):
    from tomoml.io import read_volume, write_zarr

    store = write_zarr(random_field, tmp_path / "in.zarr", chunks=20)
    smooth = partial(ndi.gaussian_filter, sigma=1.5)  # radius 6
    out = map_blocks_overlap(store, smooth, depth=6, out=tmp_path / "out.mrc",
                             scheduler=cluster_address)
    np.testing.assert_array_equal(read_volume(out).data, smooth(random_field))


def test_sirt_slabs_on_cluster_equal_single_process(cluster_address, tilt_series, tmp_path):
    from tomoml.io import read_volume, write_tilt_series

    write_tilt_series(tilt_series, tmp_path / "ts.mrc")
    whole = reconstruct(tilt_series, "sirt", iterations=6, thickness=24, slab_size=16).data
    out = reconstruct_slabs(tmp_path / "ts.mrc", "sirt", iterations=6, thickness=24,
                            slab_size=16, slab_rows=16, out=tmp_path / "rec.zarr",
                            scheduler=cluster_address, threads_per_task=1)
    np.testing.assert_array_equal(read_volume(out).data, whole)


def test_chunked_metrics_on_cluster_equal_whole_volume(cluster_address, porous_labels,
                                                       tmp_path):
    from tomoml.io import write_zarr

    store = write_zarr(porous_labels, tmp_path / "labels.zarr", voxel_size_A=10.0, chunks=24)
    m = chunked.chunked_metrics(store, 10.0, scheduler=cluster_address)
    mask = porous_labels > 0
    assert m["phase_voxels"] == analyze.porosity(porous_labels)["phase_voxels"]
    assert m["euler_characteristic"] == analyze.euler_number(mask)
    assert m["surface_area_nm2"] == pytest.approx(
        analyze.surface_area(mask, 10.0)["area_nm2"], rel=1e-6)


def test_slab_tasks_on_a_thread_pool_leave_the_torch_thread_count_alone():
    import torch

    from tomoml.data import TiltSeries
    from tomoml.reconstruct import forward_project

    before = torch.get_num_threads()
    vol = np.zeros((8, 8, 16), np.float32)
    vol[2:6, :, 4:12] = 1.0
    angles = np.arange(-60.0, 61.0, 10.0)
    ts = TiltSeries(forward_project(vol, angles), angles)
    reconstruct_slabs(ts, "fbp", thickness=8, slab_rows=4, scheduler="threads",
                      threads_per_task=1, num_workers=2)
    assert torch.get_num_threads() == before
