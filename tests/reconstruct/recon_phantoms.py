"""Small phantoms with known truth for the reconstruction tests."""

import numpy as np


def blob_phantom(n: int = 64, ny: int = 8) -> np.ndarray:
    """Piecewise-constant (z, y, x) phantom: a disc with an off-centre denser ellipse and a hole."""
    z, x = np.mgrid[:n, :n] - (n - 1) / 2
    sl = ((z**2 + x**2) < (0.35 * n) ** 2).astype(np.float32)
    sl[((z / 1.6) ** 2 + (x - 0.1 * n) ** 2) < (0.12 * n) ** 2] = 2.0
    sl[((z + 0.15 * n) ** 2 + (x + 0.15 * n) ** 2) < (0.06 * n) ** 2] = 0.0
    vol = np.repeat(sl[:, None, :], ny, axis=1)
    # vary along y so slices are not all alike
    vol *= (1 + 0.1 * np.arange(ny) / max(ny - 1, 1))[None, :, None]
    return vol.astype(np.float32)


def corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


