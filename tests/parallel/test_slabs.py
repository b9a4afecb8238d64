"""tomoml.reconstruct.slabs: slab tasks give the single-process reconstruction, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from tomoml.errors import ConfigError
from tomoml.reconstruct import reconstruct
from tomoml.reconstruct.slabs import reconstruct_slabs, slab_bounds


def test_slab_bounds_cover_every_row_once():
    assert slab_bounds(70, 32) == [(0, 32), (32, 64), (64, 70)]
    with pytest.raises(ConfigError):
        slab_bounds(10, 0)


@pytest.mark.parametrize("method, kw", [("fbp", {}), ("sirt", {"iterations": 8}),
                                        ("cgls", {"iterations": 5})])
def test_slabs_on_threads_equal_whole_reconstruction(tilt_series, method, kw):
    whole = reconstruct(tilt_series, method, thickness=24, slab_size=16, **kw).data
    slabs = reconstruct_slabs(tilt_series, method, thickness=24, slab_size=16, slab_rows=32,
                              scheduler="threads", num_workers=2, **kw)
    np.testing.assert_array_equal(slabs.data, whole)
    assert slabs.voxel_size_A == pytest.approx(5.0)


def test_slab_rows_round_up_to_engine_slabs_so_cgls_stays_identical(tilt_series):
    # CGLS step sizes are norms over an engine slab: task borders must fall on engine borders
    whole = reconstruct(tilt_series, "cgls", iterations=4, thickness=24, slab_size=16).data
    slabs = reconstruct_slabs(tilt_series, "cgls", iterations=4, thickness=24, slab_size=16,
                              slab_rows=20, scheduler="sync")
    np.testing.assert_array_equal(slabs.data, whole)


def test_tilt_axis_rotation_is_resampled_once_then_slabbed(tilt_series):
    rotated = tilt_series.replace(tilt_axis_deg=3.0)
    whole = reconstruct(rotated, "fbp", thickness=24).data
    slabs = reconstruct_slabs(rotated, "fbp", thickness=24, slab_rows=32, scheduler="threads")
    np.testing.assert_array_equal(slabs.data, whole)


def test_sirt_slabs_into_memory_mapped_mrc_from_mrc_path(tilt_series, tmp_path):
    from tomoml.io import read_volume, write_tilt_series

    write_tilt_series(tilt_series, tmp_path / "ts.mrc")
    whole = reconstruct(tilt_series, "sirt", iterations=6, thickness=24).data
    out = reconstruct_slabs(tmp_path / "ts.mrc", "sirt", iterations=6, thickness=24,
                            out=tmp_path / "rec.mrc", scheduler="threads")
    vol = read_volume(out, mmap=True)
    np.testing.assert_array_equal(vol.data, whole)
    assert vol.voxel_size_A == pytest.approx(5.0)
