"""Iterative reconstruction written against an :class:`~tomoml.reconstruct.operators.Operator`.

Both algorithms take data ``y`` in the operator's range layout and return the iterate in its
domain layout together with the residual history ``||A x_k - y||`` after each iteration ``k``
(absolute, in the data's units). ``callback(k, residual)`` is called once per iteration.

SIRT (the update ASTRA's ``SIRT`` and IMOD's ``tilt -SIRT`` use)::

    x <- x + relaxation * C * A.T(R * (y - A x)),   R = 1 / row sums,  C = 1 / column sums

CGLS: conjugate gradients on the normal equations ``A.T A x = A.T y``; its residual
``||A x - y||`` decreases monotonically.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tomoml.errors import ConfigError

__all__ = ["sirt", "cgls"]

_EPS = 1e-6  # row/column sums below this are rays/voxels outside the geometry: weight 0


def _inverse(sums: np.ndarray) -> np.ndarray:
    sums = np.asarray(sums, dtype=np.float32)
    out = np.zeros_like(sums)
    np.divide(1.0, sums, out=out, where=sums > _EPS)
    return out


def _check_iterations(iterations: int) -> int:
    iterations = int(iterations)
    if iterations < 1:
        raise ConfigError(f"iterations must be >= 1, got {iterations}")
    return iterations


def sirt(op, y: np.ndarray, *, iterations: int = 50, relaxation: float = 1.0,
         nonnegative: bool = False, mask: np.ndarray | None = None,
         x0: np.ndarray | None = None,
         callback: Callable[[int, float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous iterative reconstruction technique.

    Parameters
    ----------
    op : Operator
        Projection operator ``A``.
    y : ndarray, ``op.range_shape``
        Projection data in the operator's layout.
    iterations : int
        Number of SIRT updates.
    relaxation : float
        Step multiplier in ``(0, 2)``; 1 is ASTRA's and IMOD's default.
    nonnegative : bool
        Clip the iterate at 0 after every update.
    mask : ndarray of bool, ``op.domain_shape``, optional
        Support: voxels outside stay 0.
    x0 : ndarray, optional
        Start (default zeros).

    Returns
    -------
    x : ndarray, ``op.domain_shape``
    residuals : (iterations,) ndarray
        ``||A x_k - y||`` after each update.
    """
    iterations = _check_iterations(iterations)
    if not 0 < relaxation < 2:
        raise ConfigError(f"relaxation must lie in (0, 2), got {relaxation}")
    y = np.asarray(y, dtype=np.float32)
    r_w = _inverse(op.row_sums())
    c_w = _inverse(op.col_sums()) * np.float32(relaxation)
    x = np.zeros(op.domain_shape, np.float32) if x0 is None else np.array(x0, np.float32)
    keep = None if mask is None else np.asarray(mask, dtype=bool)
    if keep is not None:
        x *= keep
    residuals = np.empty(iterations)
    for k in range(iterations + 1):
        r = op(x)
        np.subtract(y, r, out=r)
        if k > 0:  # r is the residual of the iterate of update k - 1
            residuals[k - 1] = float(np.linalg.norm(r))
            if callback is not None:
                callback(k - 1, residuals[k - 1])
        if k == iterations:
            break
        r *= r_w
        b = op.T(r)
        b *= c_w
        x += b
        if nonnegative:
            np.maximum(x, 0, out=x)
        if keep is not None:
            x *= keep
    return x, residuals


def cgls(op, y: np.ndarray, *, iterations: int = 20, x0: np.ndarray | None = None,
         callback: Callable[[int, float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Conjugate gradient least squares: minimise ``||A x - y||``.

    Parameters and returns as :func:`sirt` (CGLS has no relaxation or constraints; stop early,
    ~10-30 iterations, as its regularisation).
    """
    iterations = _check_iterations(iterations)
    y = np.asarray(y, dtype=np.float32)
    x = np.zeros(op.domain_shape, np.float32) if x0 is None else np.array(x0, np.float32)
    r = y - op(x) if x0 is not None else y.copy()
    s = op.T(r)
    p = s.copy()
    gamma = float(np.vdot(s, s))
    residuals = np.empty(iterations)
    for k in range(iterations):
        if gamma == 0.0:  # exact solution reached
            residuals[k:] = float(np.linalg.norm(r))
            break
        q = op(p)
        qq = float(np.vdot(q, q))
        if qq == 0.0:
            residuals[k:] = float(np.linalg.norm(r))
            break
        alpha = gamma / qq
        x += np.float32(alpha) * p
        r -= np.float32(alpha) * q
        residuals[k] = float(np.linalg.norm(r))
        if callback is not None:
            callback(k, residuals[k])
        s = op.T(r)
        gamma_new = float(np.vdot(s, s))
        p *= np.float32(gamma_new / gamma)
        p += s
        gamma = gamma_new
    return x, residuals
