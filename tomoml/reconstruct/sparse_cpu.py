"""The CPU engine: ASTRA's exact projection matrix for one slice, applied to many slices at once.

ASTRA's CPU algorithms reconstruct one ``(z, x)`` slice at a time and recompute the projection
weights on every pass. In parallel-beam single-axis geometry every slice along the tilt axis sees
the same matrix ``W``, so it is built once (:func:`tomoml.reconstruct._astra.slice_matrix`) and a
slab of ``s`` slices is projected as one sparse-times-dense product ``W @ X`` with ``X`` of shape
``(nz * nx, s)``: each matrix entry is read once per slab instead of once per slice, and the
``s``-wide rows of ``X`` vectorise. torch's CSR product (MKL, multithreaded) does this faster
than scipy's single-threaded one (measured: see docs/performance/reconstruct.md). Slabs of ~32
slices keep the iterate in cache; that is why the slab size matters more than the thread count.

Layouts: domain ``(nz, nx, s)`` and range ``(n_tilts, n_det, s)``, both C-ordered, so the slice
index is the fastest axis.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from tomoml.reconstruct.operators import Operator

__all__ = ["SliceMatrix", "SparseSlabOperator", "linear_slice_matrix"]


def linear_slice_matrix(slice_shape: tuple[int, int], angles_deg, n_det: int):
    """ASTRA's ``linear`` (Joseph) projection matrix of one slice, built vectorised.

    Same matrix as ``astra.projector.matrix`` of the ``linear`` projector in the geometry of
    :mod:`tomoml.reconstruct._astra` (ASTRA angle = -tilt), including its float32 arithmetic
    (the ray position is stepped from pixel row to row by repeated float32 addition, as ASTRA
    does), so the two agree to float rounding. Reading ASTRA's matrix out through
    ``astra.matrix.get`` costs ~1 us per entry (6 s for a 256^2 slice at 61 tilts); this takes
    a fraction of that. Rows are ``(tilt, detector bin)``, columns ``(z, x)``; float32 CSR.

    Joseph's method: a ray that is closer to the z (row) direction crosses every pixel row once;
    at each row it is split linearly between the two nearest pixel centres, weighted by the
    path length per row ``1 / |cos|``; rays closer to x step over columns instead.
    """
    import scipy.sparse as sp

    from tomoml.reconstruct._astra import astra_angles

    nz, nx = (int(v) for v in slice_shape)
    n_det = int(n_det)
    f32 = np.float32
    theta = astra_angles(angles_deg)
    det = np.arange(n_det, dtype=f32) + f32(0.5)
    ex = f32(-nx / 2 + 0.5)  # centre of the first column
    ey = f32(nz / 2 - 0.5)  # centre of the first row (ASTRA's y points up)
    indptr_parts, col_parts, val_parts = [], [], []
    for th in theta:
        rx, ry = f32(np.sin(th)), f32(-np.cos(th))
        ux, uy = f32(np.cos(th)), f32(np.sin(th))
        sx, sy = f32(-n_det / 2 * np.cos(th)), f32(-n_det / 2 * np.sin(th))
        dx = sx + det * ux
        dy = sy + det * uy
        det_size = np.sqrt(ux * ux + uy * uy, dtype=f32)
        norm_r = np.sqrt(rx * rx + ry * ry, dtype=f32)
        vertical = abs(rx) < abs(ry)
        if vertical:
            ratio = f32(rx / ry)
            length = f32(det_size * norm_r / abs(ry))
            start = (dx + (ey - dy) * ratio - ex).astype(f32)
            step, n_steps, n_other = f32(-ratio), nz, nx
        else:
            ratio = f32(ry / rx)
            length = f32(det_size * norm_r / abs(rx))
            start = (-(dy + (ex - dx) * ratio - ey)).astype(f32)
            step, n_steps, n_other = f32(-ratio), nx, nz
        pos = np.empty((n_det, n_steps), dtype=f32)
        pos[:, 0] = start
        pos[:, 1:] = step
        np.cumsum(pos, axis=1, dtype=f32, out=pos)  # sequential float32 adds, as ASTRA
        lo = np.floor(pos).astype(np.int64)
        off = (pos - lo.astype(f32)).astype(f32)
        idx_step = np.arange(n_steps)[None, :]
        # two entries per (bin, step): the lower pixel and the upper one
        other = np.stack([lo, lo + 1], axis=-1)
        w = np.stack([(f32(1) - off) * length, off * length], axis=-1).astype(f32)
        ok = (other >= 0) & (other < n_other) & (lo[..., None] >= -1) & (lo[..., None] < n_other)
        if vertical:
            cols = idx_step[..., None] * nx + other
        else:
            cols = other * nx + idx_step[..., None]
        ok &= w != 0
        counts = ok.reshape(n_det, -1).sum(axis=1)
        indptr_parts.append(counts)
        col_parts.append(cols[ok])
        val_parts.append(w[ok])
    counts = np.concatenate(indptr_parts)
    indptr = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    m = sp.csr_matrix((np.concatenate(val_parts), np.concatenate(col_parts).astype(np.int32),
                       indptr), shape=(theta.size * n_det, nz * nx))
    m.sort_indices()
    return m


class SliceMatrix:
    """ASTRA's projection matrix of one slice, and its transpose, as torch CSR tensors.

    Parameters
    ----------
    angles_deg : (n,) array_like
        Tilt angles in degrees.
    nz, nx : int
        Slice shape (thickness, width).
    n_det : int, optional
        Detector width; defaults to ``nx``.
    """

    def __init__(self, angles_deg, nz: int, nx: int, n_det: int | None = None) -> None:
        self.angles_deg = np.asarray(angles_deg, dtype=np.float64)
        self.nz, self.nx = int(nz), int(nx)
        self.n_det = self.nx if n_det is None else int(n_det)
        w = linear_slice_matrix((self.nz, self.nx), self.angles_deg, self.n_det)
        self.nnz = int(w.nnz)
        # Sums over rows / columns: SIRT's weights, the same for every slice.
        self.row_sums = np.asarray(w.sum(axis=1), dtype=np.float32).reshape(-1)
        self.col_sums = np.asarray(w.sum(axis=0), dtype=np.float32).reshape(-1)
        self._w = _to_torch_csr(w)
        self._wt = _to_torch_csr(w.T.tocsr())

    @property
    def nbytes(self) -> int:
        """Memory held by the two matrices, in bytes."""
        return 2 * (8 * self.nnz + 4 * (self.n_det * self.angles_deg.size + self.nz * self.nx))

    def forward(self, x2d: np.ndarray) -> np.ndarray:
        """``W @ x2d`` for ``x2d`` of shape ``(nz * nx, s)``, C-ordered float32."""
        import torch

        return (self._w @ torch.from_numpy(x2d)).numpy()

    def backward(self, y2d: np.ndarray) -> np.ndarray:
        """``W.T @ y2d`` for ``y2d`` of shape ``(n * n_det, s)``, C-ordered float32."""
        import torch

        return (self._wt @ torch.from_numpy(y2d)).numpy()


def _to_torch_csr(m):
    import torch

    # int32 indices: MKL's int32 kernels ran ~1.4x faster than int64 here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(np.int32)),
            torch.from_numpy(m.indices.astype(np.int32)),
            torch.from_numpy(np.ascontiguousarray(m.data, dtype=np.float32)),
            size=m.shape,
        )


@functools.lru_cache(maxsize=4)
def cached_slice_matrix(angles: tuple[float, ...], nz: int, nx: int, n_det: int) -> SliceMatrix:
    """A :class:`SliceMatrix`, cached for repeated reconstructions of the same geometry."""
    return SliceMatrix(np.array(angles), nz, nx, n_det)


class SparseSlabOperator(Operator):
    """``A`` for a slab of ``n_slices`` slices, sharing one :class:`SliceMatrix`."""

    def __init__(self, matrix: SliceMatrix, n_slices: int) -> None:
        self.matrix = matrix
        self.n_slices = int(n_slices)
        m = matrix
        self.domain_shape = (m.nz, m.nx, self.n_slices)
        self.range_shape = (m.angles_deg.size, m.n_det, self.n_slices)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        s = self.n_slices
        x2 = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, s)
        return self.matrix.forward(x2).reshape(self.range_shape)

    def _backward(self, y: np.ndarray) -> np.ndarray:
        s = self.n_slices
        y2 = np.ascontiguousarray(y, dtype=np.float32).reshape(-1, s)
        return self.matrix.backward(y2).reshape(self.domain_shape)

    def row_sums(self) -> np.ndarray:
        m = self.matrix
        return m.row_sums.reshape(m.angles_deg.size, m.n_det, 1)

    def col_sums(self) -> np.ndarray:
        m = self.matrix
        return m.col_sums.reshape(m.nz, m.nx, 1)

    def volume_to_domain(self, volume: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(volume, dtype=np.float32).transpose(0, 2, 1))

    def domain_to_volume(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.transpose(0, 2, 1))

    def projections_to_range(self, projections: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(projections, dtype=np.float32).transpose(0, 2, 1))

    def range_to_projections(self, y: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(y.transpose(0, 2, 1))
