"""tomoml: electron tomography from tilt series to morphology.

The stages are subpackages, imported lazily so ``import tomoml`` is instant::

    import tomoml
    tilts = tomoml.io.read_tilt_series("tilts.mrc", "tilts.tlt")
    volume = tomoml.reconstruct.reconstruct(tilts, method="sirt", iterations=50)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tomoml.data import TiltSeries, Volume
from tomoml.errors import TomomlError

__version__ = "0.1.0"

_SUBPACKAGES = ("io", "synthetic", "align", "reconstruct", "denoise", "segment", "analyze",
                "render", "pipeline")

__all__ = ["TiltSeries", "TomomlError", "Volume", "__version__", *_SUBPACKAGES]

if TYPE_CHECKING:  # pragma: no cover
    from tomoml import align, analyze, denoise, io, pipeline, reconstruct, render, segment, synthetic  # noqa: F401


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        module = importlib.import_module(f"tomoml.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'tomoml' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
