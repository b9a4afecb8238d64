"""Fixtures of tests/render: small volumes with known geometry."""

from __future__ import annotations

import pytest
from render_volumes import ball


@pytest.fixture(scope="session")
def sphere_labels():
    """A ball of radius 14.3 voxels in a 64^3 box, centred."""
    return ball((64, 64, 64), (31.5, 31.5, 31.5), 14.3), 14.3
