"""The demo: the bundled sample and the pipeline settings that run on it in a few minutes."""

from __future__ import annotations

import os
from pathlib import Path

from tomoml.pipeline.config import config_from_dict

SAMPLE_FILES = ("tilts.mrc", "tilts.tlt", "tilts_even.mrc", "tilts_odd.mrc")


def sample_dir() -> Path:
    """The folder holding the sample tilt series.

    ``$TOMOML_SAMPLE_DIR`` if set, else ``data_samples/`` of the source checkout.
    """
    env = os.environ.get("TOMOML_SAMPLE_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "data_samples")
    for c in candidates:
        if all((c / f).exists() for f in SAMPLE_FILES):
            return c
    from tomoml.errors import InputError

    raise InputError(
        f"{candidates[-1]}: the bundled sample is missing (run from a source checkout, or set "
        "TOMOML_SAMPLE_DIR to a folder made by `tomoml simulate`)")


def demo_config(out_dir: str | os.PathLike):
    """The pipeline config of ``tomoml demo`` for output folder ``out_dir``."""
    d = sample_dir()
    data = {
        "input": {"tilts": str(d / "tilts.mrc"), "angles": str(d / "tilts.tlt"),
                  "even": str(d / "tilts_even.mrc"), "odd": str(d / "tilts_odd.mrc")},
        "output": {"dir": str(out_dir)},
        "align": {"method": "projmatch"},
        "reconstruct": {"method": "sirt", "iterations": 50},
        # A short Noise2Noise training keeps the demo within a few minutes on a laptop CPU;
        # on your own data use the defaults (tomoml denoise) or more epochs.
        "denoise": {"method": "n2n", "epochs": 8, "steps_per_epoch": 15, "max_minutes": 1.5},
        "segment": {"model": "default"},
        "analyze": {"envelope": "closing"},
        "render": {"html": True},
        "seed": 0,
    }
    if (d / "truth_labels.mrc").exists():
        data["input"]["truth_labels"] = str(d / "truth_labels.mrc")
    return config_from_dict(data, source="tomoml demo")
