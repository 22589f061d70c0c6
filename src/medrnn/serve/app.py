"""The FastAPI app: every route reads the request into files, calls the model's `Predictor` (through its batcher) and
shapes the answer; none holds inference logic of its own."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from medrnn import __version__
from medrnn.errors import MedrnnError
from medrnn.serve import explaining
from medrnn.serve.batching import Batcher, QueueFull
from medrnn.serve.guards import Guard, error_body
from medrnn.serve.inputs import RequestError
from medrnn.serve.loading import ServedModel, load_models
from medrnn.serve.requests import read_request
from medrnn.serve.results import predict_response
from medrnn.serve.schemas import ErrorOut, Health, ModelInfo, PredictResponse, Ready
from medrnn.serve.settings import ServeSettings

log = logging.getLogger("medrnn.serve")
STATIC = Path(__file__).parent / "static"
ERRORS = {k: {"model": ErrorOut} for k in (401, 404, 413, 415, 422, 503)}
Method = Literal["ig", "occlusion", "gradient_shap", "attention"]


def create_app(settings: ServeSettings, models: dict[str, ServedModel] | None = None) -> FastAPI:
    """The app serving `models` (loaded from settings.artifacts at start-up when not given)."""
    state: dict[str, Any] = {"models": models or {}, "batchers": {}, "ready": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if not state["models"]:
            state["models"] = load_models(settings.artifacts)
        for name, model in state["models"].items():
            batcher = Batcher(name, model.predictor, settings.batch_window_ms, settings.max_batch, settings.max_queue)
            batcher.start()
            state["batchers"][name] = batcher
        state["work"] = Path(tempfile.mkdtemp(prefix="medrnn-serve-", dir=settings.work_dir))
        state["explanations"] = explaining.Store(state["work"] / "explanations", settings.keep_explanations)
        state["ready"] = True
        log.info("serving %d models: %s", len(state["models"]), ", ".join(state["models"]))
        yield
        state["ready"] = False  # graceful: the server stops accepting; queued and running requests finish first
        await asyncio.gather(*(b.stop() for b in state["batchers"].values()))
        shutil.rmtree(state["work"], ignore_errors=True)

    app = FastAPI(title="medrnn", version=__version__, lifespan=lifespan,
                  description="Predictions, uncertainty and explanations of medrnn models (docs/serve.md).")  # fmt: skip
    app.state.medrnn = state

    def refusal(request: Request, status: int, field: str | None, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        rid = request.scope.get("state", {}).get("request_id")
        return JSONResponse(json.loads(error_body(status, message, field, rid)), status_code=status, headers=headers)

    @app.exception_handler(RequestError)
    async def _refused(request: Request, err: RequestError) -> JSONResponse:
        return refusal(request, err.status, err.field, err.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        return refusal(request, 422, where or None, f"{where or 'request'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        return refusal(request, err.status_code, None, str(err.detail), getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, err: Exception) -> JSONResponse:
        log.error("request_id=%s internal error %s", request.scope.get("state", {}).get("request_id"), type(err).__name__, exc_info=err)
        return refusal(request, 500, None, "internal error (a defect in medrnn, logged with this request id); the input was not at fault")

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        """Liveness: the process answers."""
        return Health(version=__version__)

    @app.get("/ready", response_model=Ready, responses={503: {"model": Ready}}, tags=["service"])
    async def ready() -> Any:
        """Readiness: 200 once every model is loaded and its worker runs, else 503."""
        body = Ready(ready=state["ready"], models=list(state["models"]))
        return body if state["ready"] else JSONResponse(body.model_dump(), status_code=503)

    @app.get("/models", response_model=list[ModelInfo], responses=ERRORS, tags=["models"])
    async def list_models() -> list[dict[str, Any]]:
        """Every served model: task, labels, version, training data hash, calibration and the inputs it accepts."""
        return [m.info() for m in state["models"].values()]

    @app.post("/models/{name}/predict", response_model=PredictResponse, responses=ERRORS, tags=["models"],
              openapi_extra=predict_body_schema())  # fmt: skip
    async def predict(request: Request, name: str,
                      coverage: float | None = Query(None, gt=0, lt=1, description="conformal sets / intervals at this coverage, e.g. 0.9"),
                      explain: Method | None = Query(None, description="add explanations by this method (JSON + PNG links)"),
                      ) -> Any:  # fmt: skip
        """Predict the uploaded files (multipart, field `files`; a zip of them too) or JSON `items`; one entry per input,
        failures keyed by input name; `coverage` adds conformal sets, `explain` the explanation."""
        model = state["models"].get(name)
        if model is None:
            raise RequestError(404, "name", f"no model {name[:64]!r}; served: {', '.join(state['models'])}")
        batcher: Batcher = state["batchers"][name]
        if batcher.waiting >= batcher.max_queue:
            return refusal(request, 503, None, f"model {name} is busy ({batcher.waiting} requests waiting); retry shortly",
                           {"Retry-After": "1"})  # fmt: skip
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="req-", dir=state["work"]) as folder:
            inputs, options = await read_request(request, model, Path(folder), settings)
            try:
                result = await batcher.predict(inputs.paths, options, coverage)
                explained = None
                if explain is not None:
                    explained = await batcher.run(lambda: state["explanations"].explain(model, inputs, explain, settings.explain_samples))
            except QueueFull:
                return refusal(request, 503, None, f"model {name} is busy; retry shortly", {"Retry-After": "1"})
            except MedrnnError as err:
                raise RequestError(422, "coverage" if "coverage" in str(err) else "options", str(err)) from None
        rid = request.scope.get("state", {}).get("request_id", "")
        return predict_response(name, result, inputs, coverage, explained, rid, time.perf_counter() - t0)

    @app.get("/explanations/{key}/{file}", include_in_schema=False)
    async def explanation_file(key: str, file: str) -> Any:
        """A PNG or JSON file of an explanation this service wrote."""
        path = state["explanations"].file(key, file)
        if path is None:
            raise RequestError(404, "file", "no such explanation file (they are kept for the last few requests only)")
        return FileResponse(path)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The web page."""
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-ID"])  # fmt: skip
    app.add_middleware(Guard, max_request_bytes=settings.max_request_bytes, token=settings.token)
    return app


def predict_body_schema() -> dict[str, Any]:
    """The two request bodies of predict, for OpenAPI: JSON items or multipart files."""
    from medrnn.serve.schemas import PredictJson

    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": PredictJson.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                      "description": "input files; files sharing a stem form one input (WFDB .hea + .dat); .zip expanded"},
            "options": {"type": "string", "description": "the task's predict options as a JSON object"}}}}}}}  # fmt: skip
