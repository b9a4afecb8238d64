"""Segmentation: classical thresholds and watershed, and 3D U-Nets with a shipped default model.

- :func:`segment`: label a volume with the default model, your own model, or a classical method.
- :func:`train_segmenter`: train or fine-tune a U-Net on your labelled (or sparsely labelled) data.
- classical baselines: :func:`otsu`, :func:`multi_otsu`, :func:`local_threshold`,
  :func:`watershed_split`.
"""

from __future__ import annotations

from tomoml.segment.classical import (
    best_gaussian_otsu,
    local_threshold,
    multi_otsu,
    otsu,
    watershed_split,
)
from tomoml.segment.inference import load_model, predict, segment
from tomoml.segment.training import dice_per_class, masked_dice_ce_loss, train_segmenter
from tomoml.segment.unet import SegmentationModel, default_model_path

__all__ = [
    "SegmentationModel", "best_gaussian_otsu", "default_model_path", "dice_per_class",
    "load_model", "local_threshold", "masked_dice_ce_loss", "multi_otsu", "otsu", "predict",
    "segment", "train_segmenter", "watershed_split",
]
