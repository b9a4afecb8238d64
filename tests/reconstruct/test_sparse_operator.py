"""The CPU engine's operator: ASTRA's matrix, exact transpose, slab layout."""

import numpy as np

from tomoml.reconstruct import forward_project
from tomoml.reconstruct._astra import slice_matrix
from tomoml.reconstruct.sparse_cpu import SliceMatrix, SparseSlabOperator, linear_slice_matrix
from tomoml.reconstruct.tv import divergence, gradient


def test_vectorised_matrix_equals_astra_linear_projector_matrix():
    angles = np.array([-60.0, -45.0, -13.7, 0.0, 30.0, 45.0, 72.5])
    mine = linear_slice_matrix((40, 48), angles, 52)
    ref = slice_matrix((40, 48), angles, 52)
    # float32 rounding of the ray stepping only: entries are ~1, differences ~1e-4
    assert abs(mine - ref).max() < 1e-3
    assert abs(mine.sum() - ref.sum()) / ref.sum() < 1e-5


def test_slab_operator_projects_like_forward_project(phantom):
    angles = np.arange(-60, 61, 15.0)
    op = SparseSlabOperator(SliceMatrix(angles, 64, 64), phantom.shape[1])
    got = op.range_to_projections(op(op.volume_to_domain(phantom)))
    ref = forward_project(phantom, angles)
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3 * ref.max())


def test_backprojection_is_the_exact_transpose():
    rng = np.random.default_rng(1)
    op = SparseSlabOperator(SliceMatrix(np.arange(-60, 61, 10.0), 24, 32, 36), 5)
    x = rng.standard_normal(op.domain_shape).astype(np.float32)
    y = rng.standard_normal(op.range_shape).astype(np.float32)
    lhs = float(np.vdot(op(x).astype(np.float64), y))
    rhs = float(np.vdot(x, op.T(y).astype(np.float64)))
    assert abs(lhs - rhs) <= 1e-5 * abs(lhs)


def test_divergence_is_minus_the_adjoint_of_gradient():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 7, 5))
    g = rng.standard_normal((3, 6, 7, 5))
    assert np.isclose(np.vdot(gradient(x), g), -np.vdot(x, divergence(g)))
