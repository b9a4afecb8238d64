"""A minimal DigitalMicrograph 3 writer, only for tests: rosettasciio reads DM but cannot write it.

It writes the tag tree rosettasciio's reader needs (ImageList > image > ImageData with Data,
DataType, Dimensions, Calibrations; ImageTags; Name) in DM3's layout: big-endian tag headers,
little-endian values. Enough to test tomoml's DM reading on real bytes, not a general writer.
"""

from __future__ import annotations

import struct

import numpy as np

# DM3 type codes: 7 = double, 3 = int32, 4 = uint16 (text), 20 = array
_SIMPLE = {float: (7, "<d"), int: (3, "<i")}
# numpy dtype -> (DM image DataType, DM array element type)
_DATATYPE = {np.dtype(np.float32): (2, 6), np.dtype(np.int16): (1, 2),
             np.dtype(np.uint16): (10, 4)}


def _name(tag_id: int, name: str) -> bytes:
    raw = name.encode("latin-1")
    return struct.pack(">bh", tag_id, len(raw)) + raw


def _data(name: str, info: list[int], payload: bytes) -> bytes:
    return (_name(21, name) + b"%%%%" + struct.pack(">i", len(info))
            + b"".join(struct.pack(">i", v) for v in info) + payload)


def _tag(name: str, value) -> bytes:
    if isinstance(value, np.ndarray):
        el_type = _DATATYPE[value.dtype][1]
        raw = value.astype(value.dtype.newbyteorder("<")).tobytes()
        return _data(name, [20, el_type, value.size], raw)
    if isinstance(value, (dict, list)):
        items = value.items() if isinstance(value, dict) else [("", v) for v in value]
        body = b"".join(_tag(k, v) for k, v in items)
        return _name(20, name) + struct.pack(">bbi", 0, 1, len(items)) + body
    if isinstance(value, str):  # DM stores text as an array of uint16 code units
        raw = value.encode("utf-16-le")
        return _data(name, [20, 4, len(raw) // 2], raw)
    code, fmt = _SIMPLE[type(value)]
    return _data(name, [code], struct.pack(fmt, value))


def write_dm3(path, data: np.ndarray, *, scales: list[float], units: list[str],
              image_tags: dict | None = None) -> None:
    """Write ``data`` (numpy axis order, e.g. (n, y, x)) with per-axis calibrations."""
    data = np.ascontiguousarray(data)
    image = {
        "ImageData": {
            "Calibrations": {
                "Brightness": {"Origin": 0.0, "Scale": 1.0, "Units": ""},
                # DM lists dimensions x, y, z: the reverse of numpy's order
                "Dimension": [{"Origin": 0.0, "Scale": float(s), "Units": u}
                              for s, u in zip(scales[::-1], units[::-1], strict=True)],
            },
            "Data": data,
            "DataType": _DATATYPE[data.dtype][0],
            "Dimensions": [int(d) for d in data.shape[::-1]],
            "PixelDepth": int(data.dtype.itemsize),
        },
        "ImageTags": image_tags or {},
        "Name": "tilt series",
    }
    root = struct.pack(">bbi", 0, 1, 1) + _tag("ImageList", [image])
    with open(path, "wb") as f:
        f.write(struct.pack(">iii", 3, len(root) + 20, 1) + root + b"\0" * 8)
