"""Micro-batching: concurrent requests to one model become one Predictor call, split back per request; a failed
call fails only its own requests; without a window what is already queued is joined; max_batch 1 means one call per
request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from medrnn.errors import ConfigError
from medrnn.predict import ItemResult, Predictions
from medrnn.serve.batching import Batcher, QueueFull
from medrnn.tasks.base import Scores


class Recorder:
    """A stand-in Served: records each predict call; inputs named bad* fail, 'defect' raises for the whole call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def predict(self, inputs: list[str], coverage: float | None = None, **options: Any) -> Predictions:
        self.calls.append(list(inputs))
        if coverage == 0.5:
            raise ConfigError("--coverage 0.5: not available")
        items = [ItemResult(s, [{"item_id": s}], Scores(None)) for s in inputs if not s.startswith("bad")]
        return Predictions("t", ["item_id"], items, {s: {"error": "X", "message": "m"} for s in inputs if s.startswith("bad")})


def run(window_ms: float, jobs: list[tuple[list[str], float | None]], max_queue: int = 100,
        max_batch: int = 64) -> tuple[Recorder, list[Any]]:  # fmt: skip
    async def main() -> list[Any]:
        recorder = Recorder()
        batcher = Batcher("m", recorder, window_ms, max_batch, max_queue)  # type: ignore[arg-type]
        batcher.start()
        results = await asyncio.gather(*(batcher.predict(i, {}, c) for i, c in jobs), return_exceptions=True)
        await batcher.stop()
        return [recorder, results]

    recorder, results = asyncio.run(main())
    return recorder, results


def test_concurrent_requests_share_one_call() -> None:
    jobs = [([f"r{k}a", f"bad{k}", f"r{k}b"], None) for k in range(6)]
    recorder, results = run(50, jobs)
    assert len(recorder.calls) == 1 and len(recorder.calls[0]) == 18
    for k, result in enumerate(results):
        assert [i.item_id for i in result.items] == [f"r{k}a", f"r{k}b"] and list(result.failures) == [f"bad{k}"]


def test_failed_call_fails_only_its_group_and_max_batch_one_means_one_call_each() -> None:
    recorder, results = run(50, [(["a"], 0.5), (["b"], None)])
    assert isinstance(results[0], ConfigError) and results[1].items[0].item_id == "b"
    recorder, results = run(0, [([f"x{k}"], None) for k in range(4)])  # queued together: joined without a window
    assert recorder.calls == [["x0", "x1", "x2", "x3"]]
    recorder, results = run(0, [([f"x{k}"], None) for k in range(4)], max_batch=1)
    assert len(recorder.calls) == 4 and [r.items[0].item_id for r in results] == ["x0", "x1", "x2", "x3"]


def test_queue_bound() -> None:
    _, results = run(10, [(["a"], None)], max_queue=0)
    assert isinstance(results[0], QueueFull)


@pytest.mark.parametrize("task", ["eeg_seizure", "ehr_visits", "adrenal_mnist3d"])
def test_other_tasks_load_and_predict(task: str, trained: Any, tmp_path: Any) -> None:
    """The remaining tasks through the same routes: JSON example (when the task takes JSON) or real uploads (two NIfTI
    volumes in one request for the imaging world: one joined forward pass, split back per file)."""
    from fastapi.testclient import TestClient

    from medrnn import paths
    from medrnn.serve.app import create_app
    from medrnn.serve.loading import load_models
    from medrnn.serve.settings import ServeSettings

    models = load_models([f"{task}={trained(task)}"])
    spec = models[task].predictor.task.served_input
    with TestClient(create_app(ServeSettings(), models), raise_server_exceptions=False) as c:
        if spec.json_example is not None:
            r = c.post(f"/models/{task}/predict", json={"items": spec.json_example})
        elif task == "adrenal_mnist3d":
            import nibabel
            import numpy as np

            volumes = np.load(paths.dataset_dir("medmnist3d") / "adrenalmnist3d.npz")["test_images"][:2]
            files = []
            for k, volume in enumerate(volumes):
                nibabel.save(nibabel.Nifti1Image(volume.astype(np.uint8), np.eye(4)), tmp_path / f"v{k}.nii.gz")
                files.append(("files", (f"v{k}.nii.gz", (tmp_path / f"v{k}.nii.gz").read_bytes())))
            r = c.post(f"/models/{task}/predict", files=files)
            assert r.status_code == 200 and len(r.json()["items"]) == 2, r.text
        else:
            segment = sorted((paths.dataset_dir("bonn_eeg") / "Z").glob("*.txt"))[0]
            r = c.post(f"/models/{task}/predict", files=[("files", (segment.name, segment.read_bytes()))])
    assert r.status_code == 200, r.text
    assert r.json()["items"] and r.json()["items"][0]["rows"], r.text
