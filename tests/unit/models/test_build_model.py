"""build_model: one config section serves several models; a field the chosen model does not take is refused once set."""

from __future__ import annotations

import pytest

from medrnn.errors import ConfigError
from medrnn.models import build_model, create_model
from medrnn.tasks.icd_coding.config import NotesModelConfig
from medrnn.tasks.icu_mortality.config import IcuModelConfig


def test_defaults_of_other_models_are_dropped_and_set_fields_refused() -> None:
    model = build_model("gru_d", IcuModelConfig(), input_size=9, num_classes=1)
    assert model.config["name"] == "gru_d" and "frontend" not in model.config
    with pytest.raises(ConfigError, match=r"model.kernel_size=5: model 'laat' takes no 'kernel_size'.*laat's arguments: .*vocab_size"):
        build_model("laat", NotesModelConfig(kernel_size=5), exclude=("output_bias",), vocab_size=20, num_classes=3)
    assert build_model("caml", NotesModelConfig(name="caml", kernel_size=5), exclude=("output_bias",), vocab_size=20,
                       num_classes=3).config["kernel_size"] == 5  # fmt: skip


def test_unknown_arguments_name_the_valid_ones_and_retired_ones_still_load() -> None:
    with pytest.raises(ConfigError, match=r"model 'lstm' takes no argument 'kernel_size'; its arguments: input_size, num_classes"):
        create_model("lstm", input_size=3, num_classes=2, kernel_size=4)
    # an artifact of an older medrnn stored gru_d's retired front-end arguments at their only value: it still loads
    create_model("gru_d", input_size=9, num_classes=1, frontend="none", frontend_channels=32)
    with pytest.raises(ConfigError, match="frontend"):
        create_model("gru_d", input_size=9, num_classes=1, frontend="conv")
