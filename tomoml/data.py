"""Small validated containers that cross module boundaries: :class:`TiltSeries` and :class:`Volume`.

Axes, units and geometry follow CONVENTIONS.md: a tilt series is ``(n_tilts, y, x)`` with the tilt
axis along ``y``; a volume is ``(z, y, x)``; angles in degrees; pixel and voxel sizes in ångström.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tomoml.errors import InputError

__all__ = ["TiltSeries", "Volume"]

_NAN_CHECK_CHUNK = 1 << 24  # elements per chunk when scanning (possibly memory-mapped) data


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _check_finite(data: np.ndarray, source: str | None) -> None:
    """Raise if ``data`` holds NaN or Inf; scans in chunks so memory-mapped data stays on disk."""
    if not np.issubdtype(data.dtype, np.floating):
        return
    flat = data.reshape(-1) if data.flags.c_contiguous else data.ravel()
    for start in range(0, flat.size, _NAN_CHECK_CHUNK):
        chunk = flat[start : start + _NAN_CHECK_CHUNK]
        if not np.isfinite(chunk).all():
            n_bad = int(np.count_nonzero(~np.isfinite(chunk)))
            raise InputError(
                f"{_where(source)}data contain NaN or Inf values ({n_bad}+ voxels); "
                "repair them first (e.g. tomoml.io.repair_nonfinite) or check the file"
            )


def _as_float32(data: np.ndarray, what: str, source: str | None) -> np.ndarray:
    arr = np.asarray(data)
    if arr.dtype == np.float32:
        return arr
    if not (np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.complexfloating)):
        raise InputError(f"{_where(source)}{what} must be real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float32)


@dataclass(frozen=True, eq=False)
class TiltSeries:
    """A single-axis tilt series.

    Parameters
    ----------
    data : (n_tilts, y, x) ndarray of float32
        Projection images, higher value = more mass. Converted to float32 if needed.
    angles_deg : (n_tilts,) ndarray
        Tilt angle of each image in degrees.
    pixel_size_A : float
        Pixel size in ångström.
    tilt_axis_deg : float
        In-plane angle of the tilt axis, measured from the image ``y`` axis, counter-clockwise.
        0 means the axis already runs along ``y`` (aligned data).
    source : str, optional
        Where the data came from (a path); used in error messages.
    """

    data: np.ndarray
    angles_deg: np.ndarray
    pixel_size_A: float = 1.0
    tilt_axis_deg: float = 0.0
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        src = self.source
        data = np.asarray(self.data)
        if data.ndim != 3:
            raise InputError(
                f"{_where(src)}a tilt series must be 3D (n_tilts, y, x), got shape {data.shape}"
            )
        if min(data.shape) < 1:
            raise InputError(f"{_where(src)}tilt series is empty, shape {data.shape}")
        data = _as_float32(data, "tilt series", src)
        _check_finite(data, src)
        angles = np.asarray(self.angles_deg, dtype=np.float64).reshape(-1)
        if angles.size != data.shape[0]:
            raise InputError(
                f"{_where(src)}{angles.size} tilt angles for {data.shape[0]} images; "
                "the angle file must list one angle per image"
            )
        if not np.isfinite(angles).all():
            raise InputError(f"{_where(src)}tilt angles contain NaN or Inf")
        if np.abs(angles).max(initial=0) > 90:
            raise InputError(
                f"{_where(src)}tilt angles must lie within ±90°, got {angles.min():g}..{angles.max():g} "
                "(are they in radians? tomoml expects degrees)"
            )
        if not (np.isfinite(self.pixel_size_A) and self.pixel_size_A > 0):
            raise InputError(f"{_where(src)}pixel size must be > 0 Å, got {self.pixel_size_A}")
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "angles_deg", angles)
        object.__setattr__(self, "pixel_size_A", float(self.pixel_size_A))
        object.__setattr__(self, "tilt_axis_deg", float(self.tilt_axis_deg))

    @property
    def n_tilts(self) -> int:
        return int(self.data.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]

    def replace(self, **changes) -> TiltSeries:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def sorted_by_angle(self) -> TiltSeries:
        """The same series with images ordered by increasing tilt angle."""
        order = np.argsort(self.angles_deg, kind="stable")
        if np.array_equal(order, np.arange(self.n_tilts)):
            return self
        return self.replace(data=self.data[order], angles_deg=self.angles_deg[order])

    def __repr__(self) -> str:
        a = self.angles_deg
        return (
            f"TiltSeries(shape={self.shape}, angles={a.min():g}..{a.max():g}°, "
            f"pixel_size_A={self.pixel_size_A:g}, tilt_axis_deg={self.tilt_axis_deg:g})"
        )


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D volume: densities (float32) or labels (an integer type).

    Parameters
    ----------
    data : (z, y, x) ndarray
        float32 densities, or integer labels (0 = background/pore, 1..N = phases or objects).
        Other real dtypes are converted to float32; bool becomes uint8.
    voxel_size_A : float
        Voxel edge length in ångström (isotropic).
    origin_A : (3,) tuple of float
        Position of voxel ``(0, 0, 0)`` in ångström, ``(z, y, x)`` order.
    source : str, optional
        Where the data came from (a path); used in error messages.
    """

    data: np.ndarray
    voxel_size_A: float = 1.0
    origin_A: tuple[float, float, float] = (0.0, 0.0, 0.0)
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        src = self.source
        data = np.asarray(self.data)
        if data.ndim != 3:
            raise InputError(f"{_where(src)}a volume must be 3D (z, y, x), got shape {data.shape}")
        if min(data.shape) < 1:
            raise InputError(f"{_where(src)}volume is empty, shape {data.shape}")
        if data.dtype == bool:
            data = data.astype(np.uint8)
        elif not np.issubdtype(data.dtype, np.integer):
            data = _as_float32(data, "volume", src)
            _check_finite(data, src)
        if not (np.isfinite(self.voxel_size_A) and self.voxel_size_A > 0):
            raise InputError(f"{_where(src)}voxel size must be > 0 Å, got {self.voxel_size_A}")
        origin = tuple(float(v) for v in self.origin_A)
        if len(origin) != 3:
            raise InputError(f"{_where(src)}origin must have 3 values (z, y, x), got {origin}")
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "voxel_size_A", float(self.voxel_size_A))
        object.__setattr__(self, "origin_A", origin)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape)  # type: ignore[return-value]

    @property
    def is_labels(self) -> bool:
        """True when the data are integer labels rather than densities."""
        return bool(np.issubdtype(self.data.dtype, np.integer))

    @property
    def voxel_size_nm(self) -> float:
        return self.voxel_size_A / 10.0

    def replace(self, **changes) -> Volume:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        kind = "labels" if self.is_labels else "densities"
        return f"Volume(shape={self.shape}, {kind} {self.data.dtype}, voxel_size_A={self.voxel_size_A:g})"
