"""The whole workflow from one config: align -> reconstruct -> denoise -> segment -> analyze -> render."""

from tomoml.pipeline.config import PipelineConfig, config_from_dict, load_config
from tomoml.pipeline.runner import PipelineResult, run_pipeline

__all__ = ["PipelineConfig", "PipelineResult", "config_from_dict", "load_config", "run_pipeline"]
