"""reconstruct(): out-of-core output, memory budget, argument checks, the tomopy adapter's
orientation calibration (with a stand-in for tomopy)."""

import sys
import types

import numpy as np
import pytest
from recon_phantoms import corr

from tomoml.errors import ConfigError, InputError
from tomoml.reconstruct import reconstruct


def test_out_memmap_is_filled_slab_by_slab_like_in_memory(limited_series, tmp_path):
    ref = reconstruct(limited_series, "cgls", iterations=5).data
    out = np.lib.format.open_memmap(tmp_path / "vol.npy", mode="w+", dtype=np.float32,
                                    shape=ref.shape)
    vol = reconstruct(limited_series, "cgls", iterations=5, out=out, slab_size=3,
                      memory_gb=1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    assert np.shares_memory(vol.data, out)


def test_memory_budget_without_out_is_refused_with_advice(limited_series):
    with pytest.raises(ConfigError, match="memory-mapped"):
        reconstruct(limited_series, "fbp", memory_gb=1e-5)


def test_bad_arguments_name_the_problem(limited_series):
    with pytest.raises(ConfigError, match="method must be one of"):
        reconstruct(limited_series, "art")
    with pytest.raises(ConfigError, match="iterations"):
        reconstruct(limited_series, "sirt", iterations=0)
    with pytest.raises(ConfigError, match="relaxation"):
        reconstruct(limited_series, "sirt", relaxation=2.5)
    with pytest.raises(InputError, match="mask"):
        reconstruct(limited_series, "sirt", mask=np.ones((3, 3, 3), bool))


def test_voxel_size_is_the_pixel_size(limited_series):
    assert reconstruct(limited_series, "fbp").voxel_size_A == limited_series.pixel_size_A


def test_tomopy_adapter_calibrates_orientation_of_a_transposed_flipped_engine(
        monkeypatch, limited_series, phantom):
    # A stand-in "tomopy" whose slices come out transposed and flipped relative to tomoml's
    # (the kind of convention difference the adapter must detect), scaled by 3.
    from tomoml.data import TiltSeries
    from tomoml.reconstruct import tomopy as adapter

    def recon(tomo, theta, center=None, algorithm="gridrec", sinogram_order=False, **kw):
        ts = TiltSeries(np.asarray(tomo), np.rad2deg(theta))
        v = reconstruct(ts, "fbp").data  # (z, y, x), square because thickness = width
        return 3.0 * np.ascontiguousarray(v.transpose(1, 2, 0)[:, ::-1, :])  # (y, x, -z)

    monkeypatch.setitem(sys.modules, "tomopy", types.SimpleNamespace(recon=recon))
    adapter._orientation.cache_clear()
    got = reconstruct(limited_series, "fbp", engine="tomopy").data
    ref = reconstruct(limited_series, "fbp").data
    adapter._orientation.cache_clear()
    assert corr(got, ref) > 0.999
    np.testing.assert_allclose(np.median(got[phantom > 0.5] / ref[phantom > 0.5]), 1.0,
                               rtol=0.1)
