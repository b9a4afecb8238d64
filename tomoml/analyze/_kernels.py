"""Small numba kernels of the analysis (compiled on first use, cached on disk)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def triangle_area_sum(points: np.ndarray, triangles: np.ndarray) -> float:
    """Sum of the areas of ``triangles`` (m, 3 vertex indices) over ``points`` (n, 3).

    One pass without temporaries: the numpy version (gather, cross product, norm) spent 3.9 s
    on the 27 M triangles of a 512³ gyroid, mostly allocating; this takes a tenth of that.
    """
    total = 0.0
    for k in range(triangles.shape[0]):
        i, j, m = triangles[k, 0], triangles[k, 1], triangles[k, 2]
        ax = points[j, 0] - points[i, 0]
        ay = points[j, 1] - points[i, 1]
        az = points[j, 2] - points[i, 2]
        bx = points[m, 0] - points[i, 0]
        by = points[m, 1] - points[i, 1]
        bz = points[m, 2] - points[i, 2]
        cx = ay * bz - az * by
        cy = az * bx - ax * bz
        cz = ax * by - ay * bx
        total += np.sqrt(np.float64(cx * cx + cy * cy + cz * cz))
    return 0.5 * total
