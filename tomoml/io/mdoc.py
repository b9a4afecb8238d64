"""SerialEM ``.mdoc`` metadata files (IMOD autodoc format) beside a tilt-series stack.

An ``.mdoc`` holds global ``key = value`` lines, title lines ``[T = ...]`` and one
``[ZValue = k]`` section per image ``k`` of the stack. tomoml reads:

- ``TiltAngle`` of each ZValue section -> the tilt angle of image ``k`` (degrees);
- ``PixelSpacing`` (global or per section) -> pixel size in ångström;
- the tilt-axis angle, from ``Tilt axis angle = X`` in a ``[T = ...]`` title line or a
  ``TiltAxisAngle`` key -> ``tilt_axis_deg``. SerialEM measures it as IMOD's rotation angle
  (from the image y axis, counter-clockwise; what etomo takes as the axis rotation), which is
  tomoml's convention, so it is used as is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from tomoml.errors import InputError
from tomoml.io._common import TiltMetadata, require_file

__all__ = ["read_mdoc", "find_mdoc"]

_SECTION = re.compile(r"^\[\s*(\w+)\s*=\s*(.*?)\s*\]\s*$")
_KEYVAL = re.compile(r"^([A-Za-z][\w ]*?)\s*=\s*(.*)$")
_AXIS_IN_TITLE = re.compile(r"tilt\s*axis\s*angle\s*=\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)",
                            re.IGNORECASE)


def _number(text: str, path: Path, lineno: int, key: str) -> float:
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        raise InputError(f"{path}:{lineno}: {key} is not a number: {text[:40]!r}") from None


def read_mdoc(path: str | os.PathLike) -> TiltMetadata:
    """Read tilt angles, pixel size and tilt-axis angle from a SerialEM ``.mdoc`` file.

    Parameters
    ----------
    path : path-like
        The ``.mdoc`` file (SerialEM names it ``<stack>.mdoc``, e.g. ``ts.st.mdoc``).

    Returns
    -------
    TiltMetadata
        ``angles_deg`` ordered by ZValue (the image order in the stack), ``pixel_size_A`` and
        ``tilt_axis_deg`` (``None`` where the file has none).

    Raises
    ------
    InputError
        Missing file, a value that is not a number, ZValue sections without ``TiltAngle``,
        or ZValues that do not run 0..n-1.
    """
    p = require_file(path, "SerialEM .mdoc")
    angles: dict[int, float] = {}
    pixel = axis = None
    zvalue = None
    for lineno, raw in enumerate(p.read_text(errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        sec = _SECTION.match(line)
        if sec:
            kind, value = sec.group(1), sec.group(2)
            zvalue = None
            if kind.lower() == "zvalue":
                zvalue = int(_number(value, p, lineno, "ZValue"))
            elif kind == "T":
                m = _AXIS_IN_TITLE.search(value)
                if m and axis is None:
                    axis = float(m.group(1))
            continue
        kv = _KEYVAL.match(line)
        if not kv:
            continue
        key, value = kv.group(1).strip(), kv.group(2).strip()
        if key == "TiltAngle" and zvalue is not None:
            angles[zvalue] = _number(value, p, lineno, key)
        elif key == "PixelSpacing" and pixel is None:
            pixel = _number(value, p, lineno, key)
        elif key == "TiltAxisAngle" and axis is None:
            axis = _number(value, p, lineno, key)
    angles_deg = None
    if angles:
        zs = sorted(angles)
        if zs != list(range(len(zs))):
            raise InputError(f"{p}: ZValue sections with TiltAngle are not numbered 0..{len(zs) - 1}"
                             f" (found {zs[0]}..{zs[-1]}, {len(zs)} sections)")
        angles_deg = np.array([angles[z] for z in zs], dtype=np.float64)
    pixel_size_A = pixel if pixel is not None and pixel > 0 else None
    return TiltMetadata(angles_deg=angles_deg, pixel_size_A=pixel_size_A, tilt_axis_deg=axis,
                        origin=f"{p.name}")


def find_mdoc(stack: str | os.PathLike) -> Path | None:
    """The SerialEM ``.mdoc`` beside a stack: ``<stack>.mdoc`` or ``<stem>.mdoc``, else None."""
    s = Path(stack)
    for cand in (s.with_name(s.name + ".mdoc"), s.with_suffix(".mdoc")):
        if cand.is_file():
            return cand
    return None
