"""The operator abstraction the algorithms are written against (as in tomosipo).

An :class:`Operator` ``A`` maps a volume-like array (its *domain*) to a projection-like array
(its *range*): ``A(x)`` is the forward projection and ``A.T(y)`` the back-projection (the exact
transpose). Each backend stores arrays in the layout that is fastest for it; the algorithms only
use ``A``, ``A.T`` and element-wise arithmetic, so one SIRT serves every backend. Converting
between tomoml's layouts (``(z, y, x)`` volumes, ``(n, y, x)`` tilt series) and the backend's is
the operator's job (:meth:`Operator.volume_to_domain` and friends).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Operator"]


class Operator:
    """A linear projection operator ``A`` with its transpose ``A.T``.

    Subclasses implement :meth:`_forward`, :meth:`_backward` and the layout conversions.
    """

    domain_shape: tuple[int, ...]
    range_shape: tuple[int, ...]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x)

    @property
    def T(self) -> _Transposed:  # noqa: N802 - the mathematical name
        return _Transposed(self)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # Sums of the matrix rows and columns (SIRT's weights). Backends that can compute them
    # cheaply (the sparse engine: once per slice) override these; they must broadcast to
    # ``range_shape`` / ``domain_shape``.
    def row_sums(self) -> np.ndarray:
        return self._forward(np.ones(self.domain_shape, dtype=np.float32))

    def col_sums(self) -> np.ndarray:
        return self._backward(np.ones(self.range_shape, dtype=np.float32))

    # Layout conversions. tomoml volume: (nz, ny, nx); tomoml projections: (n, ny, n_det).
    def volume_to_domain(self, volume: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def domain_to_volume(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def projections_to_range(self, projections: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def range_to_projections(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _Transposed:
    """``A.T``: calling it back-projects."""

    def __init__(self, op: Operator) -> None:
        self._op = op

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return self._op._backward(y)

    @property
    def T(self) -> Operator:  # noqa: N802
        return self._op


def operator_norm(op: Operator, *, iterations: int = 12, seed: int = 0) -> float:
    """Largest singular value of ``op`` by power iteration on ``A.T A`` (slight underestimate)."""
    rng = np.random.default_rng(seed)
    x = rng.random(op.domain_shape, dtype=np.float32)
    s = 0.0
    for _ in range(iterations):
        x = op.T(op(x))
        s = float(np.linalg.norm(x))
        if s == 0:
            return 0.0
        x /= s
    return float(np.sqrt(s))
