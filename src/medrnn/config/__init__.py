"""Pydantic configuration shared by every task (model, training), YAML in and out; each task's run config lives in
its folder under tasks/."""

from medrnn.config.schema import ModelConfig, TrainConfig, load_config, save_config

__all__ = ["ModelConfig", "TrainConfig", "load_config", "save_config"]
