"""How alignments are scored against a known truth."""

from __future__ import annotations

import numpy as np


def shift_error(estimated_dydx, true_dydx, angles_deg) -> float:
    """Shift RMSE (px) after removing what no aligner can know from the projections.

    That is a common offset in ``dy`` and a rigid translation of the specimen, which moves the
    images by ``dx = a + x0 cos t + z0 sin t``; both are fitted and removed before the RMSE.
    """
    d = np.asarray(estimated_dydx, float) - np.asarray(true_dydx, float)
    t = np.deg2rad(np.asarray(angles_deg, float))
    dy = d[:, 0] - d[:, 0].mean()
    basis = np.stack([np.ones_like(t), np.cos(t), np.sin(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, d[:, 1], rcond=None)
    dx = d[:, 1] - basis @ coef
    return float(np.sqrt(np.mean(dy**2 + dx**2)))
