"""One predict request -> input files and task options: JSON items or multipart uploads, each checked (413/415/422)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from medrnn.serve.inputs import Inputs, RequestError, write_json_items, write_uploads
from medrnn.serve.loading import ServedModel
from medrnn.serve.schemas import PredictJson
from medrnn.serve.settings import ServeSettings

KINDS = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,), "list": (str,)}


async def read_request(request: Request, model: ServedModel, folder: Path, settings: ServeSettings) -> tuple[Inputs, dict[str, Any]]:
    """The request's inputs written under `folder`, and its task options checked against the task's predict options."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    spec = model.predictor.task.served_input
    if kind == "application/json":
        try:
            body = PredictJson.model_validate_json(await request.body())
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise RequestError(422, where, f"{where}: {first['msg']}; expected {{\"items\": [...], \"options\": {{...}}}}") from None
        return write_json_items(body.items, spec, folder, settings), check_options(body.options, model)
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_files=settings.max_files, max_fields=8, max_part_size=1 << 20)
        except (MultiPartException, HTTPException) as err:
            text = str(getattr(err, "detail", err))
            raise RequestError(413 if "Too many" in text or "exceeded" in text else 422, "files", f"multipart body: {text}") from None
        files, options = [], {}
        for key, value in form.multi_items():
            if key == "files" and isinstance(value, UploadFile):
                if value.size is not None and value.size > settings.max_file_bytes:
                    raise RequestError(413, value.filename or "files", f"{value.size} bytes; at most {settings.max_file_bytes} per file")
                content = await value.read()
                if len(content) > settings.max_file_bytes:
                    raise RequestError(413, value.filename or "files", f"{len(content)} bytes; at most {settings.max_file_bytes} per file")
                files.append((value.filename or "", content))
            elif key == "options" and isinstance(value, str):
                options = parse_options(value)
            else:
                raise RequestError(422, key[:64], f"unexpected form field {key[:64]!r}; expected 'files' (one or more) and 'options'")
        if not files:
            raise RequestError(422, "files", "expected at least one uploaded file in form field 'files'")
        return write_uploads(files, spec, folder, settings), check_options(options, model)
    raise RequestError(415, "content-type", f"content type {kind[:60] or 'none'!r}; expected application/json or multipart/form-data")


def parse_options(text: str) -> dict[str, Any]:
    """The multipart `options` field: a JSON object of scalars."""
    try:
        value = json.loads(text)
    except ValueError:
        raise RequestError(422, "options", "expected a JSON object, e.g. {\"id_column\": \"name\"}") from None
    if not isinstance(value, dict) or not all(isinstance(v, (str, int, float, bool)) for v in value.values()):
        raise RequestError(422, "options", "expected a JSON object of strings, numbers or booleans")
    return value


def check_options(options: dict[str, Any], model: ServedModel) -> dict[str, Any]:
    """Only the task's own predict options, each of its declared kind (a list as a comma-separated string)."""
    declared = {o.field: o for o in model.predictor.task.predict_options}
    out = {}
    for key, value in options.items():
        option = declared.get(key)
        if option is None:
            valid = ", ".join(declared) or "none"
            raise RequestError(422, f"options.{key[:64]}", f"not an option of task {model.predictor.task.name}; valid: {valid}")
        kinds = KINDS.get(option.kind, (str,))
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise RequestError(422, f"options.{key}", f"expected a {option.kind}, got {type(value).__name__}")
        out[key] = [v.strip() for v in value.split(",") if v.strip()] if option.kind == "list" else value
    return out
