"""The GPU engine: ASTRA's CUDA 3D projectors with ``parallel3d_vec`` geometry.

Per-tilt shifts and the tilt-axis angle of an ``.xf`` go into the geometry vectors
(:meth:`TomoGeometry.astra_vectors`), so the raw images are never resampled. SIRT and CGLS run as
ASTRA's own ``SIRT3D_CUDA`` / ``CGLS3D_CUDA`` (data stay on the GPU between iterations); FBP
filters on the CPU and back-projects with ``BP3D_CUDA``; TV runs in torch on the GPU with
:class:`AstraCudaTensorOperator` (ASTRA projects torch CUDA tensors in place: the iterate never
leaves GPU memory); masked SIRT uses the generic algorithm on :class:`AstraCudaOperator`.

Layouts: domain = ASTRA's volume array ``(Z, Y, X)`` = tomoml's ``(z, y, x)``; range = ASTRA's
projection array ``(rows, tilts, cols)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tomoml.reconstruct.geometry import TomoGeometry
from tomoml.reconstruct.operators import Operator

__all__ = ["AstraCudaOperator", "AstraCudaTensorOperator", "run_astra_cuda_algorithm"]


def _geometries(geometry: TomoGeometry):
    import astra

    nz, ny, nx = geometry.volume_shape
    rows, cols = geometry.detector_shape
    vol_geom = astra.create_vol_geom(ny, nx, nz)  # (rows=Y, cols=X, slices=Z) -> array (Z, Y, X)
    proj_geom = astra.create_proj_geom("parallel3d_vec", rows, cols, geometry.astra_vectors())
    return vol_geom, proj_geom


class AstraCudaOperator(Operator):
    """``A`` on the GPU for a whole volume; arrays go through host memory on each call."""

    def __init__(self, geometry: TomoGeometry) -> None:
        self.geometry = geometry
        self.vol_geom, self.proj_geom = _geometries(geometry)
        self.domain_shape = tuple(geometry.volume_shape)
        rows, cols = geometry.detector_shape
        self.range_shape = (rows, geometry.n_tilts, cols)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        import astra

        sid, data = astra.create_sino3d_gpu(np.ascontiguousarray(x, dtype=np.float32),
                                            self.proj_geom, self.vol_geom, returnData=True)
        astra.data3d.delete(sid)
        return data

    def _backward(self, y: np.ndarray) -> np.ndarray:
        import astra

        vid, data = astra.create_backprojection3d_gpu(
            np.ascontiguousarray(y, dtype=np.float32), self.proj_geom, self.vol_geom,
            returnData=True)
        astra.data3d.delete(vid)
        return data

    def volume_to_domain(self, volume: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(volume, dtype=np.float32)

    def domain_to_volume(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)

    def projections_to_range(self, projections: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(projections, dtype=np.float32).transpose(1, 0, 2))

    def range_to_projections(self, y: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(y.transpose(1, 0, 2))


class AstraCudaTensorOperator(AstraCudaOperator):
    """``A`` on the GPU on torch CUDA tensors: ASTRA's ``direct_FP3D`` / ``direct_BP3D`` read and
    write the tensors' memory through DLPack, so nothing crosses to the host between iterations.

    Domain and range arrays are float32 CUDA tensors in the layouts of :class:`AstraCudaOperator`;
    :func:`tomoml.reconstruct.tv_pdhg` recognises the operator by its ``torch_device``.
    """

    torch_device = "cuda"

    def __init__(self, geometry: TomoGeometry) -> None:
        import weakref

        import astra

        super().__init__(geometry)
        self._pid = astra.create_projector("cuda3d", self.proj_geom, self.vol_geom)
        weakref.finalize(self, astra.projector3d.delete, self._pid)

    def _project(self, direct, vol, proj) -> None:
        import torch

        # ASTRA launches on its own stream: let torch's queued work finish first, and ASTRA's
        # before torch reads the result.
        torch.cuda.synchronize()
        direct(self._pid, vol, proj)
        torch.cuda.synchronize()

    def _forward(self, x):
        import astra.experimental
        import torch

        y = torch.empty(self.range_shape, dtype=torch.float32, device=self.torch_device)
        self._project(astra.experimental.direct_FP3D, x.contiguous(), y)
        return y

    def _backward(self, y):
        import astra.experimental
        import torch

        x = torch.empty(self.domain_shape, dtype=torch.float32, device=self.torch_device)
        self._project(astra.experimental.direct_BP3D, x, y.contiguous())
        return x

    def row_sums(self):
        import torch

        return self._forward(torch.ones(self.domain_shape, device=self.torch_device))

    def col_sums(self):
        import torch

        return self._backward(torch.ones(self.range_shape, device=self.torch_device))

    def volume_to_domain(self, volume):
        import torch

        return torch.as_tensor(super().volume_to_domain(volume), device=self.torch_device)

    def domain_to_volume(self, x) -> np.ndarray:
        return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x, np.float32)

    def projections_to_range(self, projections):
        import torch

        return torch.as_tensor(super().projections_to_range(projections),
                               device=self.torch_device)

    def range_to_projections(self, y) -> np.ndarray:
        return np.ascontiguousarray(self.domain_to_volume(y).transpose(1, 0, 2))


def run_astra_cuda_algorithm(name: str, geometry: TomoGeometry, projections: np.ndarray, *,
                             iterations: int, options: dict | None = None,
                             report_every: int = 1,
                             callback: Callable[[int, float], None] | None = None,
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Run ``SIRT3D_CUDA`` or ``CGLS3D_CUDA`` on ``(n, rows, cols)`` projections.

    The algorithm runs ``report_every`` iterations per call (it keeps its state between calls)
    and reads ASTRA's residual norm after each call; iterations in between get NaN.

    Returns the volume ``(nz, ny, nx)`` and the residuals ``||A x_k - y||``.
    """
    import astra

    vol_geom, proj_geom = _geometries(geometry)
    sino = np.ascontiguousarray(np.asarray(projections, dtype=np.float32).transpose(1, 0, 2))
    pid = astra.data3d.create("-proj3d", proj_geom, sino)
    vid = astra.data3d.create("-vol", vol_geom, 0.0)
    cfg = astra.astra_dict(name)
    cfg["ProjectionDataId"] = pid
    cfg["ReconstructionDataId"] = vid
    if options:
        cfg["option"] = dict(options)
    aid = astra.algorithm.create(cfg)
    residuals = np.full(iterations, np.nan)
    try:
        done = 0
        step = max(1, int(report_every))
        while done < iterations:
            n = min(step, iterations - done)
            astra.algorithm.run(aid, n)
            done += n
            try:
                residuals[done - 1] = float(astra.algorithm.get_res_norm(aid))
            except Exception:  # older ASTRA builds without a residual for this algorithm
                pass
            if callback is not None:
                callback(done - 1, residuals[done - 1])
        return astra.data3d.get(vid), residuals
    finally:
        astra.algorithm.delete(aid)
        astra.data3d.delete([pid, vid])
