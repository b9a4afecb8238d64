"""``[parallel]`` in the pipeline config: the steps run their chunked paths on a dask scheduler
and give the results of the plain run; a bad setting is named in one line."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from tomoml.errors import BackendError, ConfigError
from tomoml.pipeline.config import config_from_dict

STEPS = """
[align]
method = "none"
[reconstruct]
method = "sirt"
iterations = 4
device = "cpu"
[denoise]
method = "n2v"
epochs = 1
steps_per_epoch = 1
patch = 16
batch = 2
device = "cpu"
[segment]
method = "otsu"
[analyze]
[render]
enabled = false
"""


def test_parallel_section_is_read_and_defaults_to_none():
    cfg = config_from_dict({"input": {"tilts": "a"}})
    assert cfg.parallel.scheduler is None and cfg.to_dict()["parallel"]["scheduler"] is None
    cfg = config_from_dict({"input": {"tilts": "a"},
                            "parallel": {"scheduler": "tcp://10.0.0.5:8786", "chunk": 64}})
    assert cfg.parallel.scheduler == "tcp://10.0.0.5:8786" and cfg.parallel.chunk == 64


@pytest.mark.parametrize("parallel, message", [
    ({"scheduler": "bogus"}, r"p\.toml: \[parallel\] scheduler must be one of threads"),
    ({"scheduler": "threads", "num_workers": 0}, r"\[parallel\] num_workers = 0: must be >= 1"),
    ({"num_workers": 2}, r"\[parallel\] num_workers and chunk need a scheduler"),
    ({"schedular": "threads"}, r"\[parallel\] unknown key 'schedular'"),
])
def test_bad_parallel_setting_is_named(parallel, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"input": {"tilts": "a"}, "parallel": parallel}, source="p.toml")


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    from tomoml.io import write_angles, write_tilt_series
    from tomoml.synthetic import simulate_tilt_series, sphere_pack

    d = tmp_path_factory.mktemp("pipeline_parallel")
    sim = simulate_tilt_series(sphere_pack((32, 40, 32), seed=1).volume,
                               tilt_range=(-60, 60, 4), seed=1, pixel_size_A=8)
    write_tilt_series(sim.tilts, d / "s.mrc")
    write_angles(sim.tilts.angles_deg, d / "s.tlt")
    return d


def _run(d, name, extra=""):
    from tomoml.pipeline import load_config, run_pipeline

    cfg = d / f"{name}.toml"
    cfg.write_text(f'[input]\ntilts = "s.mrc"\nangles = "s.tlt"\n[output]\ndir = "{name}"\n'
                   + STEPS + extra)
    return run_pipeline(load_config(cfg))


def test_chunked_steps_equal_the_plain_run(series, monkeypatch):
    from tomoml.io import read_volume

    # the whole-volume-only metrics (sizes, topology, transport) are not what is tested here
    monkeypatch.setattr("tomoml.analyze.report.METRICS", ("porosity", "surface"))
    plain = _run(series, "plain")
    chunked = _run(series, "chunked", '[parallel]\nscheduler = "threads"\nnum_workers = 2\n'
                                      'chunk = 16\n')
    a, b = (read_volume(r.path(step, role)) for r in (plain, chunked)
            for step, role in [("reconstruct", "volume")])
    assert b.voxel_size_A == pytest.approx(a.voxel_size_A)
    np.testing.assert_array_equal(b.data, a.data)  # slabs of SIRT: bit-identical
    # denoising: the same windows (bit-identical with the same torch thread count; dask's
    # worker threads may use another, which changes float rounding in the convolutions)
    a, b = (read_volume(r.path("denoise", "volume")).data for r in (plain, chunked))
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-6 * float(np.ptp(a)))
    # otsu by chunks is bit-identical on equal input; on the rounding above a voxel at the
    # threshold may flip
    a, b = (read_volume(r.path("segment", "labels")).data for r in (plain, chunked))
    assert np.mean(a == b) >= 0.999
    assert chunked.path("denoise", "model").is_file()  # the model the workers applied
    m_plain = json.loads(plain.path("analyze", "json").read_text())["metrics"]
    m_chunk = json.loads(chunked.path("analyze", "json").read_text())["metrics"]
    assert m_chunk["porosity"] == m_plain["porosity"]
    assert m_chunk["surface"]["surface_area_nm2"] == pytest.approx(
        m_plain["surface"]["surface_area_nm2"], rel=1e-6)
    # another cache entry than the plain run's; re-running reuses every step
    assert chunked.steps["segment"].key != plain.steps["segment"].key
    again = _run(series, "chunked", '[parallel]\nscheduler = "threads"\nnum_workers = 2\n'
                                    'chunk = 16\n')
    assert all(s.cached for s in again.steps.values())


def test_unreachable_scheduler_fails_before_any_step(series):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendError, match="cannot connect"):
        _run(series, "unreachable", f'[parallel]\nscheduler = "tcp://127.0.0.1:{port}"\n')
    assert not any((series / "unreachable").glob("0*"))
