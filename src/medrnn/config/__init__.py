"""Pydantic run configuration, saved as YAML beside every run."""

from medrnn.config.ehr import (
    IcuDataConfig, IcuModelConfig, IcuRunConfig, IcuTrainConfig, VisitDataConfig, VisitModelConfig, VisitRunConfig, VisitTrainConfig,
)  # fmt: skip
from medrnn.config.molecules import MoleculeDataConfig, PretrainConfig, SmilesModelConfig, SmilesRunConfig, SmilesTrainConfig
from medrnn.config.notes import NotesDataConfig, NotesModelConfig, NotesRunConfig, NotesTrainConfig
from medrnn.config.schema import MITDB_DS1, MITDB_DS2, BeatDataConfig, ModelConfig, RunConfig, TrainConfig, load_config, save_config

__all__ = [
    "MITDB_DS1", "MITDB_DS2", "BeatDataConfig", "IcuDataConfig", "IcuModelConfig", "IcuRunConfig", "IcuTrainConfig",
    "ModelConfig", "MoleculeDataConfig", "NotesDataConfig", "NotesModelConfig", "NotesRunConfig", "NotesTrainConfig",
    "PretrainConfig", "RunConfig", "SmilesModelConfig",
    "SmilesRunConfig", "SmilesTrainConfig", "TrainConfig", "VisitDataConfig", "VisitModelConfig", "VisitRunConfig",
    "VisitTrainConfig", "load_config", "save_config",
]  # fmt: skip
