"""IMOD text files: tilt angles (``.tlt``/``.rawtlt``) and alignment transforms (``.xf``).

Image coordinates here are IMOD's file coordinates: ``x`` = column, ``y`` = row index (IMOD draws
row 0 at the bottom, so its counter-clockwise is this frame's counter-clockwise). An ``.xf`` line
``a11 a12 a21 a22 dx dy`` maps a raw-image point to the aligned image about the image centre
``c = ((nx-1)/2, (ny-1)/2)``::

    p_aligned = A @ (p_raw - c) + d + c

tomoml's alignment is a tilt-axis angle ``theta`` (from the image y axis, counter-clockwise) and
per-tilt shifts ``(dy, dx)``: the raw image is first rotated about its centre by ``-theta`` (which
turns the tilt axis onto ``y``), then shifted by ``(dy, dx)``. So ``A = R(-theta)`` and
``d = (dx, dy)``, with ``R(phi) = [[cos phi, -sin phi], [sin phi, cos phi]]``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tomoml.errors import InputError
from tomoml.io._atomic import atomic_path

__all__ = ["XfTransforms", "read_angles", "write_angles", "read_xf", "write_xf"]


def _rotation(phi_deg: float) -> np.ndarray:
    phi = np.deg2rad(phi_deg)
    return np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])


@dataclass(frozen=True, eq=False)
class XfTransforms:
    """Per-tilt 2D affine transforms, IMOD ``.xf`` semantics.

    Parameters
    ----------
    matrices : (n, 2, 2) ndarray
        ``[[a11, a12], [a21, a22]]`` per tilt, acting on ``(x, y)`` = (column, row).
    shifts_xy : (n, 2) ndarray
        ``(dx, dy)`` per tilt in pixels.
    """

    matrices: np.ndarray
    shifts_xy: np.ndarray

    def __post_init__(self) -> None:
        m = np.asarray(self.matrices, dtype=np.float64)
        s = np.asarray(self.shifts_xy, dtype=np.float64)
        if m.ndim != 3 or m.shape[1:] != (2, 2) or s.shape != (m.shape[0], 2):
            raise InputError(f"xf transforms need (n,2,2) matrices and (n,2) shifts, got "
                             f"{m.shape} and {s.shape}")
        object.__setattr__(self, "matrices", m)
        object.__setattr__(self, "shifts_xy", s)

    def __len__(self) -> int:
        return int(self.matrices.shape[0])

    @classmethod
    def from_alignment(cls, shifts_dydx: np.ndarray, tilt_axis_deg: float = 0.0) -> XfTransforms:
        """Transforms that rotate by ``-tilt_axis_deg`` then shift by ``(dy, dx)`` per tilt."""
        shifts = np.asarray(shifts_dydx, dtype=np.float64).reshape(-1, 2)
        n = shifts.shape[0]
        mats = np.repeat(_rotation(-tilt_axis_deg)[None], n, axis=0)
        return cls(mats, shifts[:, ::-1].copy())

    def to_alignment(self) -> tuple[np.ndarray, float]:
        """``(shifts_dydx (n, 2), tilt_axis_deg)``: the mean rotation of the blocks and the shifts.

        Scale or shear in the blocks (IMOD's magnification changes) is not represented.
        """
        ang = np.rad2deg(np.arctan2(self.matrices[:, 1, 0], self.matrices[:, 0, 0]))
        mean = float(np.rad2deg(np.angle(np.exp(1j * np.deg2rad(ang)).mean())))
        return self.shifts_xy[:, ::-1].copy(), -mean

    def apply(self, images: np.ndarray, *, order: int = 1, mode: str = "nearest") -> np.ndarray:
        """Resample raw images ``(n, y, x)`` into the aligned frame (what IMOD's newstack does)."""
        from scipy import ndimage

        images = np.asarray(images)
        if images.ndim != 3 or images.shape[0] != len(self):
            raise InputError(f"{len(self)} transforms for images of shape {images.shape}")
        ny, nx = images.shape[1:]
        c_xy = np.array([(nx - 1) / 2, (ny - 1) / 2])
        out = np.empty(images.shape, dtype=np.float32)
        for i in range(len(self)):
            a_inv = np.linalg.inv(self.matrices[i])
            # raw = A^-1 (aligned - d - c) + c, written in (row, col) order for ndimage
            m_xy = a_inv
            off_xy = c_xy - a_inv @ (self.shifts_xy[i] + c_xy)
            m_rc = m_xy[::-1, ::-1]
            off_rc = off_xy[::-1]
            out[i] = ndimage.affine_transform(images[i], m_rc, offset=off_rc, order=order,
                                              mode=mode, output=np.float32)
        return out

    def inverse(self) -> XfTransforms:
        """The transforms that map aligned images back to raw ones."""
        inv = np.linalg.inv(self.matrices)
        return XfTransforms(inv, -np.einsum("nij,nj->ni", inv, self.shifts_xy))


def _read_numbers(path: str | os.PathLike, what: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file ({what})")
    rows = []
    for lineno, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            rows.append([float(v) for v in line.split()])
        except ValueError:
            raise InputError(f"{p}:{lineno}: not a number in {what}: {line[:40]!r}") from None
    if not rows:
        raise InputError(f"{p}: file holds no {what}")
    return rows


def read_angles(path: str | os.PathLike) -> np.ndarray:
    """Read an IMOD ``.tlt``/``.rawtlt`` file: one tilt angle in degrees per line."""
    rows = _read_numbers(path, "tilt angles")
    if any(len(r) != 1 for r in rows):
        raise InputError(f"{path}: a tilt-angle file must hold one number per line")
    return np.array([r[0] for r in rows], dtype=np.float64)


def write_angles(angles_deg, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write tilt angles (degrees) one per line, as IMOD's ``.tlt``."""
    with atomic_path(path, force=force) as tmp:
        tmp.write_text("".join(f"{a:.4f}\n" for a in np.asarray(angles_deg, dtype=float)))
    return Path(path)


def read_xf(path: str | os.PathLike) -> XfTransforms:
    """Read an IMOD ``.xf`` file (``a11 a12 a21 a22 dx dy`` per line)."""
    rows = _read_numbers(path, "xf transforms")
    if any(len(r) != 6 for r in rows):
        raise InputError(f"{path}: each .xf line must hold 6 numbers: a11 a12 a21 a22 dx dy")
    arr = np.array(rows, dtype=np.float64)
    return XfTransforms(arr[:, :4].reshape(-1, 2, 2), arr[:, 4:6])


def write_xf(xf: XfTransforms, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write transforms as an IMOD ``.xf`` file."""
    lines = []
    for m, d in zip(xf.matrices, xf.shifts_xy, strict=True):
        lines.append(f"{m[0, 0]:12.7f}{m[0, 1]:12.7f}{m[1, 0]:12.7f}{m[1, 1]:12.7f}"
                     f"{d[0]:12.3f}{d[1]:12.3f}\n")
    with atomic_path(path, force=force) as tmp:
        tmp.write_text("".join(lines))
    return Path(path)
