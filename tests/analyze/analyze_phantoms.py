"""Analytic phantoms for the analysis tests (tiny volumes, known answers)."""

from __future__ import annotations

import numpy as np


def ball(shape, centre, radius) -> np.ndarray:
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius ** 2


def gyroid(n: int, period: float) -> np.ndarray:
    z, y, x = np.ogrid[:n, :n, :n]
    k = 2 * np.pi / period
    f = (np.sin(k * x) * np.cos(k * y) + np.sin(k * y) * np.cos(k * z)
         + np.sin(k * z) * np.cos(k * x))
    return f > 0


def rod_lattice(n: int, *, period: int = 12, radius: float = 2.5, offset: int = 0) -> np.ndarray:
    """Cubic lattice of rods along z, y and x (periodic): one node and 3 rods per unit cell."""
    z, y, x = (a + offset for a in np.ogrid[:n, :n, :n])

    def d2(a):
        a = (a % period) - period / 2
        return a * a

    r2 = radius ** 2
    return (d2(y) + d2(x) <= r2) | (d2(z) + d2(x) <= r2) | (d2(z) + d2(y) <= r2)
