"""File input and output. The only place that knows file formats and header conventions."""

from tomoml.io._atomic import atomic_path, check_output_path
from tomoml.io.imod import XfTransforms, read_angles, read_xf, write_angles, write_xf

__all__ = [
    "XfTransforms", "atomic_path", "check_output_path", "read_angles", "read_xf",
    "write_angles", "write_xf",
]
