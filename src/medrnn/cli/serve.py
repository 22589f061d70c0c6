"""`medrnn serve`: the inference service and its web page for any trained artifacts (docs/serve.md)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from medrnn.errors import ConfigError


def serve_command(
    artifact: list[str] = typer.Option(..., "--artifact", "-a", help="Model folder (RUN/model, RUN or an ensemble folder), or NAME=PATH to choose its URL name; repeat for several models."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    token_file: Optional[Path] = typer.Option(None, "--token-file", help="File holding a bearer token required on /models* (401 without it)."),
    batch_window_ms: float = typer.Option(0.0, "--batch-window-ms", help="Wait this long for more requests before a batch (0, the default: no wait; requests queued while the model is busy are joined into its next forward pass anyway: docs/serve.md)."),
    max_batch: int = typer.Option(64, "--max-batch", help="Requests joined into one forward pass at most (1: one request per pass, no batching)."),
    max_queue: int = typer.Option(256, "--max-queue", help="Requests waiting per model; beyond it 503 with Retry-After."),
    max_request_mb: float = typer.Option(64, "--max-request-mb", help="Request body limit (413 beyond)."),
    max_file_mb: float = typer.Option(32, "--max-file-mb", help="Limit per uploaded file or zip entry (413 beyond)."),
    cors_origin: list[str] = typer.Option([], "--cors-origin", help="Allow browser calls from this origin (CORS is off by default); repeatable."),
    log_level: str = typer.Option("info", "--log-level", help="Log level of the service and uvicorn."),
) -> None:
    """Serve predictions, uncertainty and explanations of trained models over HTTP, with a web page at /.

    Every artifact is loaded and checked (checksums, format and medrnn version) before the server starts; a bad one
    stops it with exit code 2. Endpoints: GET /health, /ready, /models; POST /models/NAME/predict (JSON items or
    multipart files; ?coverage=0.9, ?explain=ig). API docs at /docs.

    Example:

    \b
      medrnn serve --artifact runs/mitdb/model --artifact bbbp=runs/bbbp --port 8000
    """
    import uvicorn

    from medrnn.serve.app import create_app
    from medrnn.serve.loading import load_models
    from medrnn.serve.settings import ServeSettings

    token = None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(f"--token-file {token_file}: cannot read it ({err.strerror})") from None
        if len(token) < 16:
            raise ConfigError(f"--token-file {token_file}: the token must be at least 16 characters")
    if not 0 <= batch_window_ms <= 1000:
        raise ConfigError(f"--batch-window-ms {batch_window_ms}: expected 0 to 1000")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = ServeSettings(artifacts=list(artifact), token=token, batch_window_ms=batch_window_ms, max_batch=max_batch,
                             max_queue=max_queue, max_request_bytes=int(max_request_mb * (1 << 20)),
                             max_file_bytes=int(max_file_mb * (1 << 20)), cors_origins=list(cors_origin))  # fmt: skip
    models = load_models(settings.artifacts)  # refused here (exit code 2, the reason printed) before any port is opened
    for name, model in models.items():
        typer.echo(f"{name}: {model.predictor.task.name} from {model.path}")
    typer.echo(f"serving on http://{host}:{port}/  (API docs: /docs)")
    uvicorn.run(create_app(settings, models), host=host, port=port, log_level=log_level.lower(), timeout_graceful_shutdown=30)
