"""The service through FastAPI's TestClient, on tiny real artifacts and real inputs: every endpoint, every task's
input form, failures per item, and every refusal (401, 404, 413, 415, 422, 503) with the field it names."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from medrnn.serve.app import create_app
from medrnn.serve.loading import load_models
from medrnn.serve.settings import ServeSettings

TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def models(trained: Callable[[str], Path]) -> dict:
    return load_models([f"{name}={trained(name)}" for name in ("ecg_beats", "molecules", "icu_mortality", "icd_coding")])


@pytest.fixture(scope="module")
def client(models: dict) -> Iterator[TestClient]:
    with TestClient(create_app(ServeSettings(), models), raise_server_exceptions=False) as c:
        yield c


def small_client(models: dict, **limits: int) -> TestClient:
    """A client of an app with other limits (the same loaded models)."""
    return TestClient(create_app(ServeSettings(**limits), models), raise_server_exceptions=False)


def record_files(base: Path) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (base.name + ext, base.with_suffix(ext).read_bytes())) for ext in (".hea", ".dat")]


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_health_ready_models(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").json() == {"ready": True, "models": ["ecg_beats", "molecules", "icu_mortality", "icd_coding"]}
    info = {m["name"]: m for m in client.get("/models").json()}
    assert info["ecg_beats"]["labels"] == ["N", "S", "V", "F", "Q"]
    assert info["ecg_beats"]["calibration"]["conformal"] is True
    assert len(info["molecules"]["training_data_sha256"]) == 64
    assert info["molecules"]["inputs"]["json_one_file"] is True
    assert "id_column" in {o["name"] for o in info["molecules"]["options"]}
    assert client.get("/").headers["content-type"].startswith("text/html")
    assert "app.js" in client.get("/").text and client.get("/static/app.js").status_code == 200


def test_ecg_upload_with_coverage(client: TestClient, ecg_record: Path) -> None:
    r = client.post("/models/ecg_beats/predict?coverage=0.9", files=record_files(ecg_record))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"][0]["input"] == "r100" and not body["failures"]
    rows = body["items"][0]["rows"]
    assert 8 <= len(rows) <= 20  # about 12 beats in 10 s
    assert {"prediction_set", "set_size", "p_N"} <= set(rows[0]) and rows[0]["item_id"] == "r100"
    assert "x-request-id" in r.headers


def test_ecg_zip_and_mixed_good_and_bad(client: TestClient, ecg_record: Path) -> None:
    good = {ecg_record.name + ext: ecg_record.with_suffix(ext).read_bytes() for ext in (".hea", ".dat")}
    bad = {"broken.hea": b"this is not a header\n", "broken.dat": b"\x00" * 10}
    r = client.post("/models/ecg_beats/predict", files=[("files", ("records.zip", zipped({**good, **bad})))])
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["input"] for i in body["items"]] == ["r100"] and body["items"][0]["rows"]
    assert set(body["failures"]) == {"broken"} and body["failures"]["broken"]["message"]
    assert "/tmp" not in json.dumps(body) and body["n_failed"] == 1


def test_molecules_json_and_upload_with_explanation(client: TestClient, smiles_csv: Path) -> None:
    r = client.post("/models/molecules/predict?explain=ig", json={"items": ["CCO", "c1ccccc1O", "not_a_smiles"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [row["smiles"] for row in body["items"][0]["rows"]] == ["CCO", "c1ccccc1O"]
    assert body["failures"]["items"]["rejected"][0]["row"] == 2
    figure = body["explanation"]["items"][0]["figures"][0]
    png = client.get(figure)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert body["explanation"]["items"][0]["explanations"]
    r = client.post("/models/molecules/predict", files=[("files", ("mols.csv", smiles_csv.read_bytes()))],
                    data={"options": json.dumps({"id_column": "name"})})
    assert r.status_code == 200, r.text
    assert [row["id"] for row in r.json()["items"][0]["rows"]] == ["ethanol", "phenol", "aspirin"]


def test_icu_stay_json_rows_and_file(client: TestClient, icu_stay: Path) -> None:
    rows = [line.split(",") for line in icu_stay.read_text().splitlines()[1:]]
    r = client.post("/models/icu_mortality/predict", json={"items": [rows, [["00:00", "Age", "54"]]]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"][0]["input"] == "items[0]" and 0 <= body["items"][0]["rows"][0][body["columns"][2]] <= 1
    assert "items[1]" in body["failures"]  # descriptors only: an error for that stay, the other predicted
    r = client.post("/models/icu_mortality/predict", files=[("files", (icu_stay.name, icu_stay.read_bytes()))])
    assert r.status_code == 200 and r.json()["items"][0]["input"] == icu_stay.name


def test_note_json_with_explanation_and_logs_hold_no_text(client: TestClient, note_text: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="medrnn.serve"):
        r = client.post("/models/icd_coding/predict?explain=ig", json={"items": [note_text]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["items"][0]["rows"] and {"code", "probability", "evidence"} <= set(body["items"][0]["rows"][0])
    assert body["explanation"]["method"] == "ig"
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "request_id=" in logged and "bytes_in=" in logged and "ms=" in logged
    assert note_text[:40] not in logged


def test_token(models: dict) -> None:
    with TestClient(create_app(ServeSettings(token=TOKEN), models)) as c:
        assert c.get("/health").status_code == 200
        r = c.get("/models")
        assert r.status_code == 401 and r.json()["field"] == "authorization" and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/models", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_size_limits_413(models: dict, ecg_record: Path) -> None:
    with small_client(models, max_request_bytes=2000) as c:
        r = c.post("/models/molecules/predict", json={"items": ["C" * 3000]})
        assert r.status_code == 413 and r.json()["field"] == "body"
    with small_client(models, max_file_bytes=1000) as c:
        r = c.post("/models/ecg_beats/predict", files=record_files(ecg_record))
        assert r.status_code == 413 and r.json()["field"] == "r100.dat"
    with small_client(models, max_files=2) as c:
        files = [("files", (f"f{k}.hea", b"x")) for k in range(4)]
        assert c.post("/models/ecg_beats/predict", files=files).status_code == 413


def test_zip_refusals(client: TestClient, models: dict) -> None:
    for entry in ("../evil.hea", "/etc/evil.hea", "a/../../evil.hea"):
        r = client.post("/models/ecg_beats/predict", files=[("files", ("x.zip", zipped({entry: b"x"})))])
        assert r.status_code == 422 and "'..'" in r.json()["message"], entry
    bomb = zipped({"big.dat": b"\0" * (3 << 20)})  # 3 MB of zeros packs to a few kB
    with small_client(models, max_file_bytes=1 << 20) as c:
        r = c.post("/models/ecg_beats/predict", files=[("files", ("bomb.zip", bomb))])
        assert r.status_code == 413 and r.json()["field"] == "bomb.zip"
    with small_client(models, max_unzipped_bytes=1 << 20, max_file_bytes=4 << 20) as c:
        many = zipped({f"p{k}.dat": b"\0" * (400 << 10) for k in range(4)})
        assert c.post("/models/ecg_beats/predict", files=[("files", ("many.zip", many))]).status_code == 413
    entries = zipped({f"e{k}.dat": b"" for k in range(100)})
    assert client.post("/models/ecg_beats/predict", files=[("files", ("n.zip", entries))]).status_code == 413
    r = client.post("/models/ecg_beats/predict", files=[("files", ("bad.zip", b"PK not a zip"))])
    assert r.status_code == 422 and r.json()["field"] == "bad.zip"


def test_content_type_and_suffix_415(client: TestClient) -> None:
    r = client.post("/models/molecules/predict", content=b"CCO", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["field"] == "content-type"
    r = client.post("/models/ecg_beats/predict", files=[("files", ("mols.csv", b"smiles\nCCO\n"))])
    assert r.status_code == 415 and ".hea" in r.json()["message"]
    r = client.post("/models/ecg_beats/predict", json={"items": ["x"]})
    assert r.status_code == 415 and "uploaded files only" in r.json()["message"]


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/models/molecules/predict", {"items": []}, "items"),
    ("/models/molecules/predict", {"smiles": ["CCO"]}, "items"),
    ("/models/molecules/predict", {"items": ["CCO"], "options": {"nope": 1}}, "options.nope"),
    ("/models/molecules/predict", {"items": ["CCO"], "options": {"id_column": 3}}, "options.id_column"),
    ("/models/molecules/predict", {"items": [{"smiles": "CCO", "extra": 1}]}, "items[0]"),
    ("/models/icu_mortality/predict", {"items": [[["00:00", "Age"]]]}, "items[0][0]"),
    ("/models/molecules/predict?coverage=1.5", {"items": ["CCO"]}, "coverage"),
    ("/models/molecules/predict?explain=magic", {"items": ["CCO"]}, "explain"),
])  # fmt: skip
def test_bad_input_422_names_the_field(client: TestClient, url: str, body: dict, field: str) -> None:
    r = client.post(url, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and r.json()["message"]


def test_unknown_model_404_and_bad_names(client: TestClient) -> None:
    r = client.post("/models/nope/predict", json={"items": ["CCO"]})
    assert r.status_code == 404 and "ecg_beats" in r.json()["message"]
    r = client.post("/models/ecg_beats/predict", files=[("files", ("..", b"x"))])
    assert r.status_code == 422


def test_queue_full_503(models: dict) -> None:
    with small_client(models, max_queue=0) as c:
        r = c.post("/models/molecules/predict", json={"items": ["CCO"]})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"


def test_bad_artifact_refused_at_start(tmp_path: Path, trained: Callable[[str], Path]) -> None:
    import shutil

    from medrnn.cli.main import main

    copy = tmp_path / "model"
    shutil.copytree(trained("molecules"), copy)
    weights = copy / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    assert main(["serve", "--artifact", str(copy)]) == 2
    assert main(["serve", "--artifact", str(tmp_path / "missing")]) == 2
