"""Pydantic request and response models of the service: what OpenAPI documents and responses are checked against."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Scalar = str | int | float | bool


class Health(BaseModel):
    """Liveness: the process answers."""

    status: str = "ok"
    version: str


class Ready(BaseModel):
    """Readiness: every model loaded and its worker running."""

    ready: bool
    models: list[str]


class Calibration(BaseModel):
    """The artifact's stored uncertainty: calibrator method (None: raw scores) and whether `coverage` is available."""

    method: str | None = None
    conformal: bool = False


class OptionInfo(BaseModel):
    """One task option (`options` in a predict request), as `medrnn predict` has it."""

    name: str
    kind: str
    help: str


class ModelInfo(BaseModel):
    """A served model: task, labels, version, training data hash, calibration and what it accepts."""

    name: str
    task: str
    title: str
    output_kind: str
    labels: list[str]
    medrnn_version: str | None = None
    format_version: int | None = None
    created: str | None = None
    training_data_sha256: str | None = None
    training_units: int | None = None
    ensemble_members: int | None = None
    calibration: Calibration
    options: list[OptionInfo]
    inputs: dict[str, Any]
    predict_help: str


class PredictJson(BaseModel):
    """A JSON predict body: the items the model's task reads (see `inputs.json_example` in GET /models) and task options."""

    model_config = ConfigDict(extra="forbid")
    items: list[Any] = Field(min_length=1, description="SMILES strings, note texts, a stay's rows [[time, parameter, value], ...] ...")
    options: dict[str, Scalar] = Field(default_factory=dict, description="the task's predict options by name (GET /models)")


class ItemOut(BaseModel):
    """One predicted input: its rows (one per beat, molecule, stay, code ...) and what was left out or noted."""

    input: str
    rows: list[dict[str, Any]]
    rejected: list[dict[str, Any]] = Field(default_factory=list)
    notes: dict[str, Any] = Field(default_factory=dict)


class Failure(BaseModel):
    """An input that could not be predicted (error, message) or was predicted with parts rejected."""

    error: str | None = None
    message: str | None = None
    rejected: list[dict[str, Any]] | None = None


class ExplainedOut(BaseModel):
    """The explanation of one input: attributions on the task's axes and links to its PNG figures."""

    input: str
    n_samples: int
    explained: int
    json_url: str
    figures: list[str]
    explanations: list[dict[str, Any]]


class ExplanationOut(BaseModel):
    """`?explain=METHOD`: explained inputs and the inputs that could not be explained."""

    method: str
    items: list[ExplainedOut]
    failures: dict[str, Failure]


class PredictResponse(BaseModel):
    """Per-input predictions in input order, failures keyed by input (client names), and optional explanations."""

    model: str
    task: str
    request_id: str
    coverage: float | None = None
    columns: list[str]
    items: list[ItemOut]
    failures: dict[str, Failure]
    n_inputs: int
    n_failed: int
    explanation: ExplanationOut | None = None
    seconds: float


class ErrorOut(BaseModel):
    """Every refusal: the HTTP status, the field or file at fault, and what was expected (never a traceback)."""

    status: int
    field: str | None = None
    message: str
    request_id: str | None = None
