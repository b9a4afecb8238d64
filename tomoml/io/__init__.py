"""File input and output. The only place that knows file formats and header conventions.

Read and write tilt series and volumes by suffix (MRC, TIFF, Zarr; DigitalMicrograph for
reading), IMOD ``.tlt``/``.xf`` text files, SerialEM ``.mdoc`` metadata. Axes are ``(z, y, x)``
/ ``(n_tilts, y, x)``, sizes in ångström, angles in degrees (see docs/io.md). Outputs are
written atomically and never replace an existing file unless ``force=True``.
"""

from tomoml.io._api import read_tilt_series, read_volume, write_tilt_series, write_volume
from tomoml.io._atomic import atomic_path, check_output_path
from tomoml.io._common import TiltMetadata, repair_nonfinite
from tomoml.io.imod import XfTransforms, read_angles, read_xf, write_angles, write_xf
from tomoml.io.mdoc import read_mdoc
from tomoml.io.zarr_io import read_zarr, write_zarr

__all__ = [
    "TiltMetadata", "XfTransforms", "atomic_path", "check_output_path", "read_angles",
    "read_mdoc", "read_tilt_series", "read_volume", "read_xf", "repair_nonfinite",
    "read_zarr", "write_angles", "write_tilt_series", "write_volume", "write_xf", "write_zarr",
]
