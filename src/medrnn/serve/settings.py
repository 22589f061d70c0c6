"""The service's limits and switches, with the defaults `medrnn serve` documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ServeSettings:
    """Everything `create_app` needs; every limit is a number a deployment can change from the CLI."""

    artifacts: list[str] = field(default_factory=list)  # PATH or NAME=PATH, one served model each
    token: str | None = None  # bearer token required on /models* (None: open, for 127.0.0.1 use)
    max_request_bytes: int = 64 << 20  # whole request body -> 413
    max_file_bytes: int = 32 << 20  # one uploaded file (or one zip entry) -> 413
    max_files: int = 64  # files per request, zip entries included -> 413
    max_items: int = 256  # JSON items per request -> 422
    max_unzipped_bytes: int = 128 << 20  # total uncompressed size of a request's zips -> 413
    batch_window_ms: float = 0.0  # wait this long for more requests before a batch (0: take only what is queued; no latency cost)
    max_batch: int = 64  # requests joined into one Predictor call (one forward pass) at most; 1: no batching
    max_queue: int = 256  # requests waiting per model; beyond it 503 with Retry-After
    explain_samples: int = 3  # samples explained per input with ?explain=
    keep_explanations: int = 64  # explanation folders kept for their PNG links (oldest removed first)
    cors_origins: list[str] = field(default_factory=list)  # CORS off unless origins are named
    work_dir: Path | None = None  # where request temp folders go (default: the system temp dir)
