import numpy as np
import pytest

from tomoml.analyze import diffusive_tortuosity, geometric_tortuosity


def channels(shape=(32, 24, 24)):
    mask = np.zeros(shape, bool)
    for y in (5, 12, 19):
        for x in (5, 12, 19):
            mask[:, y - 2:y + 2, x - 2:x + 2] = True
    return mask


def test_straight_channels_have_geometric_tortuosity_one():
    res = geometric_tortuosity(channels(), "z")
    assert res["percolating"]
    assert res["tortuosity"] == pytest.approx(1.0, rel=0.02)
    assert res["outlet_voxels"] == 9 * 16


def test_channels_do_not_connect_the_side_faces():
    res = geometric_tortuosity(channels(), "x")
    assert res["percolating"] is False
    assert res["tortuosity"] is None


def test_slanted_tube_tortuosity_is_its_path_over_straight_length():
    n = 40
    z, y, x = np.mgrid[:n, :n, :n]
    tube = (np.abs(y - 0.5 * z - 5) <= 2) & (np.abs(x - 20) <= 2)
    res = geometric_tortuosity(tube, 0)
    # the shortest paths hug the inner corners of the 5-voxel tube: a little under the axis
    assert res["tortuosity"] == pytest.approx(np.sqrt(1 + 0.5 ** 2), rel=0.02)
    assert res["tortuosity"] < np.sqrt(1 + 0.5 ** 2)


def test_diffusive_tortuosity_of_straight_channels_is_one():
    res = diffusive_tortuosity(channels((20, 24, 24)), "z")
    assert res["tortuosity"] == pytest.approx(1.0, rel=1e-4)
    assert res["effective_porosity"] == pytest.approx(9 * 16 / (24 * 24))
    assert res["converged"] and res["computed_on"] == "whole volume"


def test_diffusive_tortuosity_ignores_dead_ends_in_the_porosity():
    mask = channels((20, 24, 24))
    mask[:10, 0:2, :] = True  # a dead-end slab touching the inlet only: no flux through it
    res = diffusive_tortuosity(mask, "z")
    assert res["effective_porosity"] == pytest.approx(9 * 16 / (24 * 24))
    assert res["tortuosity"] == pytest.approx(1.0, rel=1e-4)


def test_diffusive_tortuosity_reports_a_phase_that_does_not_percolate():
    res = diffusive_tortuosity(channels(), "x")
    assert res["tortuosity"] is None and "percolate" in res["reason"]


def test_diffusive_tortuosity_of_a_large_volume_uses_its_central_sub_volume():
    res = diffusive_tortuosity(channels((32, 24, 24)), "z", max_voxels=16 * 12 * 12)
    assert res["computed_on"]["sub_volume_zyx"] == [[8, 24], [6, 18], [6, 18]]
    assert res["tortuosity"] == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("axis", [0, 2])
def test_diffusive_tortuosity_equals_porespys_tortuosity_fd(axis):
    pytest.importorskip("openpnm")
    from analyze_phantoms import ball, gyroid
    from porespy.simulations import tortuosity_fd

    pores = ~gyroid(40, 16) & ~ball((40, 40, 40), (20, 14, 26), 7)  # an obstacle: not symmetric
    ours = diffusive_tortuosity(pores, axis)
    ref = tortuosity_fd(pores, axis=axis)
    assert ours["effective_porosity"] == pytest.approx(ref.effective_porosity, rel=1e-12)
    assert ours["tortuosity"] == pytest.approx(ref.tortuosity, rel=1e-3)
    assert ours["formation_factor"] == pytest.approx(ref.formation_factor, rel=1e-3)


def test_fast_marching_agrees_with_scikit_fmm_on_a_gyroid():
    from analyze_phantoms import gyroid

    skfmm = pytest.importorskip("skfmm")
    from tomoml.analyze import geodesic_distance

    pores = ~gyroid(48, 16)
    dist, _ = geodesic_distance(pores, "z")
    phi = np.ma.MaskedArray(np.where(np.arange(48)[:, None, None] == 0, -1.0, 1.0)
                            * np.ones(pores.shape), ~pores)
    ref = np.ma.filled(skfmm.distance(phi, order=2), np.nan) + 0.5  # from the voxel centres
    ref[0] = np.where(pores[0], 0.0, np.nan)
    both = np.isfinite(dist) & np.isfinite(ref)
    assert both.sum() == np.isfinite(ref).sum()  # reaches the same voxels
    assert np.abs(dist[both] - ref[both]).mean() < 0.1  # voxels
    tau = np.nanmean(dist[-1]) / 47
    tau_ref = np.nanmean(ref[-1]) / 47
    assert tau == pytest.approx(tau_ref, rel=0.002)


def test_fast_marching_restarts_with_a_larger_queue_when_the_front_outgrows_it(monkeypatch):
    from analyze_phantoms import gyroid

    from tomoml.analyze import _fmm

    pores = ~gyroid(24, 12)
    expected = _fmm.march_from_face(pores)
    monkeypatch.setattr(_fmm, "_POOL_MIN", 4)
    monkeypatch.setattr(_fmm, "_POOL_SLICES", 0)
    np.testing.assert_array_equal(_fmm.march_from_face(pores), expected)


def test_outlet_times_are_the_last_slice_of_the_full_march():
    from analyze_phantoms import gyroid

    from tomoml.analyze import _fmm

    pores = ~gyroid(24, 12)
    np.testing.assert_array_equal(_fmm.outlet_times(pores), _fmm.march_from_face(pores)[-1])
