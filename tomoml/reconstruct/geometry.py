"""Acquisition geometry as a small immutable object.

:class:`TomoGeometry` holds what a projector needs: tilt angles, volume shape, detector shape and,
optionally, the alignment of the raw images (per-tilt shifts and the tilt-axis angle, as an IMOD
``.xf`` describes them). The CPU engine resamples the images with the alignment first
(:meth:`tomoml.io.XfTransforms.apply`); the GPU engine puts it into ASTRA ``parallel3d_vec``
vectors (:meth:`TomoGeometry.astra_vectors`) so the raw images are never interpolated.

Coordinates (CONVENTIONS.md): voxels from the array centre ``(n - 1) / 2``; the aligned projection
at tilt ``t`` puts volume point ``(z, y, x)`` at detector column ``u = x cos t + z sin t`` and row
``v = y``, both from the detector centre.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tomoml.errors import ConfigError, InputError

__all__ = ["TomoGeometry"]


@dataclass(frozen=True, eq=False)
class TomoGeometry:
    """Parallel-beam single-axis tilt geometry.

    Parameters
    ----------
    angles_deg : (n,) array_like
        Tilt angles in degrees.
    volume_shape : (3,) tuple of int
        ``(nz, ny, nx)`` of the reconstruction.
    detector_shape : (2,) tuple of int
        ``(rows, cols)`` of each projection image; rows run along the tilt axis.
    xf_matrices : (n, 2, 2) ndarray, optional
        Per-tilt IMOD ``.xf`` matrices (raw image -> aligned image, acting on ``(x, y)``).
        ``None`` means the images are already aligned.
    xf_shifts_xy : (n, 2) ndarray, optional
        Per-tilt ``(dx, dy)`` of the ``.xf`` transforms, in pixels.
    """

    angles_deg: np.ndarray
    volume_shape: tuple[int, int, int]
    detector_shape: tuple[int, int]
    xf_matrices: np.ndarray | None = field(default=None)
    xf_shifts_xy: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        angles = np.asarray(self.angles_deg, dtype=np.float64).reshape(-1)
        if angles.size == 0:
            raise InputError("geometry needs at least one tilt angle")
        vol = tuple(int(v) for v in self.volume_shape)
        det = tuple(int(v) for v in self.detector_shape)
        if len(vol) != 3 or min(vol) < 1:
            raise ConfigError(f"volume_shape must be 3 positive ints (nz, ny, nx), got {vol}")
        if len(det) != 2 or min(det) < 1:
            raise ConfigError(f"detector_shape must be 2 positive ints (rows, cols), got {det}")
        angles.setflags(write=False)
        object.__setattr__(self, "angles_deg", angles)
        object.__setattr__(self, "volume_shape", vol)
        object.__setattr__(self, "detector_shape", det)
        if (self.xf_matrices is None) != (self.xf_shifts_xy is None):
            raise ConfigError("xf_matrices and xf_shifts_xy go together")
        if self.xf_matrices is not None:
            m = np.array(self.xf_matrices, dtype=np.float64)
            s = np.array(self.xf_shifts_xy, dtype=np.float64)
            if m.shape != (angles.size, 2, 2) or s.shape != (angles.size, 2):
                raise InputError(f"{m.shape[0]} xf transforms for {angles.size} tilt angles; "
                                 "the .xf file must hold one line per tilt")
            m.setflags(write=False)
            s.setflags(write=False)
            object.__setattr__(self, "xf_matrices", m)
            object.__setattr__(self, "xf_shifts_xy", s)

    @classmethod
    def from_tilts(cls, tilts, *, thickness: int | None = None, xf=None) -> TomoGeometry:
        """The geometry of a :class:`~tomoml.data.TiltSeries` (``xf``: an ``XfTransforms``).

        The volume is ``(thickness, ny, nx)`` with ``thickness`` defaulting to ``nx``.
        """
        n, ny, nx = tilts.shape
        nz = nx if thickness is None else int(thickness)
        if nz < 1:
            raise ConfigError(f"thickness must be >= 1 voxel, got {thickness}")
        if xf is None:
            return cls(tilts.angles_deg, (nz, ny, nx), (ny, nx))
        if len(xf) != n:
            raise InputError(f"{len(xf)} xf transforms for {n} tilts; "
                             "the .xf file must hold one line per tilt")
        return cls(tilts.angles_deg, (nz, ny, nx), (ny, nx), xf.matrices, xf.shifts_xy)

    @property
    def n_tilts(self) -> int:
        return int(self.angles_deg.size)

    @property
    def is_aligned(self) -> bool:
        """True when the images need no transform (no ``.xf``, or identity transforms)."""
        if self.xf_matrices is None:
            return True
        return bool(np.allclose(self.xf_matrices, np.eye(2)) and np.allclose(self.xf_shifts_xy, 0))

    def aligned(self) -> TomoGeometry:
        """The same geometry for images already resampled with the ``.xf`` transforms."""
        return TomoGeometry(self.angles_deg, self.volume_shape, self.detector_shape)

    def astra_vectors(self) -> np.ndarray:
        """ASTRA ``parallel3d_vec`` vectors ``(n, 12)``: ray, detector centre, u, v.

        ASTRA's 3D volume array is our ``(z, y, x)`` array with ASTRA ``X`` = our ``x`` (columns),
        ``Y`` = ``y`` (rows), ``Z`` = ``z`` (slices); its projection array is
        ``(rows, tilts, cols)``. For the aligned geometry the detector column direction is
        ``u0 = (cos t, 0, sin t)`` and the row direction ``v0 = (0, 1, 0)`` (in ``X, Y, Z``), so a
        point lands at ``u = x cos t + z sin t``, ``v = y``. An ``.xf`` transform
        ``p_aligned = A p_raw + d`` (about the image centre) is put in the vectors, so that
        the raw pixel ``(col, row)`` sits at ``A (col, row) + d`` of the aligned frame:
        ``u = a11 u0 + a21 v0``, ``v = a12 u0 + a22 v0``, centre ``dx u0 + dy v0``.
        """
        t = np.deg2rad(self.angles_deg)
        n = t.size
        zero = np.zeros(n)
        u0 = np.stack([np.cos(t), zero, np.sin(t)], axis=1)
        v0 = np.stack([zero, np.ones(n), zero], axis=1)
        ray = np.stack([-np.sin(t), zero, np.cos(t)], axis=1)
        if self.xf_matrices is None:
            a = np.repeat(np.eye(2)[None], n, axis=0)
            d = np.zeros((n, 2))
        else:
            a, d = self.xf_matrices, self.xf_shifts_xy
        u = a[:, 0, 0, None] * u0 + a[:, 1, 0, None] * v0
        v = a[:, 0, 1, None] * u0 + a[:, 1, 1, None] * v0
        centre = d[:, 0, None] * u0 + d[:, 1, None] * v0
        return np.concatenate([ray, centre, u, v], axis=1)

    def detector_position(self, points_zyx: np.ndarray) -> np.ndarray:
        """Where volume points land on the raw detector, from :meth:`astra_vectors`.

        Parameters
        ----------
        points_zyx : (m, 3) array_like
            Points in voxels from the volume centre, ``(z, y, x)`` order.

        Returns
        -------
        (n, m, 2) ndarray
            ``(row, col)`` pixel index (0 = first pixel) on each tilt's raw image.
        """
        pts = np.asarray(points_zyx, dtype=np.float64).reshape(-1, 3)[:, ::-1]  # -> (X, Y, Z)
        vec = self.astra_vectors()
        rows, cols = self.detector_shape
        out = np.empty((vec.shape[0], pts.shape[0], 2))
        for i, (ray, d, u, v) in enumerate(vec.reshape(-1, 4, 3)):
            # solve p + s*ray = d + a*u + b*v for (a, b, s)
            m = np.stack([u, v, -ray], axis=1)
            ab = np.linalg.solve(m, (pts - d).T)[:2]
            out[i, :, 0] = ab[1] + (rows - 1) / 2
            out[i, :, 1] = ab[0] + (cols - 1) / 2
        return out
