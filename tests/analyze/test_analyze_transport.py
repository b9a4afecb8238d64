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
    assert res["tortuosity"] == pytest.approx(np.sqrt(1 + 0.5 ** 2), rel=0.02)


def test_diffusive_tortuosity_of_straight_channels_is_one_or_reported_unavailable():
    res = diffusive_tortuosity(channels((20, 24, 24)), "z")
    if not res["available"]:
        assert "openpnm" in res["reason"]
        return
    assert res["tortuosity"] == pytest.approx(1.0, rel=0.02)
    assert res["effective_porosity"] == pytest.approx(9 * 16 / (24 * 24))
