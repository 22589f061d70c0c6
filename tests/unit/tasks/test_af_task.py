"""AF rhythm task (PhysioNet/CinC 2017) on real records: the reader's errors on corrupted copies, the stratified split,
the challenge score, a quick run with predict on records (and on one at another rate), and an overfit of a handful."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from medrnn import paths
from medrnn.data.batch import collate
from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.models import build_model
from medrnn.predict import Predictor
from medrnn.tasks.af_rhythm.pipeline import AfPipeline
from medrnn.tasks.af_rhythm.config import AfDataConfig, AfModelConfig, AfRunConfig
from medrnn.tasks.af_rhythm.data import CLASSES, AfDataset, AfRecords, collate_grid, load_records, read_reference
from medrnn.tasks.af_rhythm.task import challenge_f1
from medrnn.tasks.base import check_split, get_task
from medrnn.train.run import run_task

DATA = paths.dataset_dir("cinc2017_af")
pytestmark = pytest.mark.skipif(not (DATA / "REFERENCE.csv").is_file(), reason=f"cinc2017_af not under the data root ({DATA})")


def _copy(tmp_path: Path, record: str = "A00001") -> Path:
    for ext in ("hea", "mat"):
        shutil.copy(DATA / f"{record}.{ext}", tmp_path / f"{record}.{ext}")
    return tmp_path / record


def _edit_header(base: Path, old: str, new: str) -> None:
    hea = base.with_suffix(".hea")
    text = hea.read_bytes().decode("latin-1")
    assert old in text
    hea.write_bytes(text.replace(old, new, 1).encode("latin-1"))


def test_reader_names_file_and_field_on_corrupted_copies(tmp_path: Path) -> None:
    task = get_task("af_rhythm")
    pipeline = task.pipeline_from_state(AfPipeline.fit(AfDataConfig()).state_dict())
    base = _copy(tmp_path)
    mat = base.with_suffix(".mat")
    mat.write_bytes(mat.read_bytes()[:-100])  # truncated download
    with pytest.raises(InvalidRecordError, match=r"A00001\.mat: file has 17,924 bytes, header A00001\.hea declares 9,000 samples"):
        task.read_input(str(base), pipeline, {})
    base = _copy(tmp_path)
    _edit_header(base, "300 9000", "300 9100")  # header and samples disagree
    with pytest.raises(InvalidRecordError, match=r"A00001\.mat: file has 18,024 bytes, header A00001\.hea declares 9,100 samples"):
        task.read_input(str(base), pipeline, {})
    base = _copy(tmp_path)
    raw = bytearray(mat.read_bytes())
    raw[24 + 2 * 500 : 24 + 2 * 501] = np.array([-32768], dtype="<i2").tobytes()  # WFDB's invalid-sample code -> NaN
    mat.write_bytes(bytes(raw))
    with pytest.raises(InvalidRecordError, match=r"A00001\.mat: lead 'ECG' has 1 invalid \(NaN\) samples, first at sample 500"):
        task.read_input(str(base), pipeline, {})
    base = _copy(tmp_path)
    _edit_header(base, "300 9000", "50 9000")  # a rate too low to resample
    with pytest.raises(InvalidRecordError, match=r"A00001: sampling rate 50 Hz, the model reads 300 Hz; below 100 Hz"):
        task.read_input(str(base), pipeline, {})


def test_training_refuses_a_record_at_another_rate_and_goes_on(tmp_path: Path) -> None:
    for record in ("A00001", "A00002", "A00003"):
        _copy(tmp_path, record)
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\nA00002,N\nA00003,A\n")
    _edit_header(tmp_path / "A00002", "A00002 1 300", "A00002 1 250")
    records, errors, _ = load_records(AfDataConfig(dataset=str(tmp_path)))
    assert records.ids.tolist() == ["A00001", "A00003"] and records.y.tolist() == [0, 1]
    assert list(errors) == ["A00002"] and "sampling rate" in errors["A00002"] and "A00002.hea" in errors["A00002"]


def test_reference_rows_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "REFERENCE.csv"
    path.write_text("A00001,N\nA00002,X\n")
    with pytest.raises(InvalidRecordError, match=r"line 2: label 'X' of record A00002; known: N, A, O, ~"):
        read_reference(path)
    path.write_text("A00001;N\n")
    with pytest.raises(InvalidRecordError, match=r"line 1 'A00001;N': expected 'record,label'"):
        read_reference(path)
    assert read_reference(DATA / "REFERENCE.csv")["A00001"] == CLASSES.index("N") and len(read_reference(DATA / "REFERENCE.csv")) == 4000


def test_split_is_stratified_disjoint_and_fixed() -> None:
    task = get_task("af")
    config = AfRunConfig.model_validate({"data": {"max_records": 600}})
    data = task.load(config)
    split = task.split(data, config)
    check_split(data.units, split)
    assert sorted(np.concatenate(list(split)).tolist()) == list(range(len(data)))  # every record once
    y = data.samples.y
    overall = np.bincount(y, minlength=4) / len(y)
    for part, size in zip(split, config.data.split_sizes):
        assert abs(len(part) / len(y) - size) < 0.01
        assert np.abs(np.bincount(y[part], minlength=4) / len(part) - overall).max() < 0.02  # class shares kept
    other_seed = AfRunConfig.model_validate({"data": {"max_records": 600}, "train": {"seed": 5}})
    assert all(np.array_equal(a, b) for a, b in zip(split, task.split(data, other_seed)))  # the training seed does not move it
    folds = [task.split(data, AfRunConfig.model_validate({"data": {"max_records": 600, "protocol": "cv", "fold": k}})) for k in range(5)]
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests.tolist()) == list(range(len(data)))  # the 5 test folds partition the records
    with pytest.raises(ConfigError, match="cannot stratify"):
        task.split(task.load(AfRunConfig.model_validate({"data": {"max_records": 8}})), config)


def test_challenge_f1_is_the_mean_f1_of_n_a_o() -> None:
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    point, ci = challenge_f1(y, pred, list(CLASSES), n_boot=200)
    assert point == pytest.approx(f1_score(y, pred, labels=[0, 1, 2], average=None).mean())
    assert ci is not None and ci[0] <= point <= ci[1]


def test_quick_run_then_predict_records(tmp_path: Path) -> None:
    task = get_task("cinc2017")
    result = run_task(task, task.quick_config(), tmp_path / "run", progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["headline"] == "f1_naof" and "overall.f1_naof" in metrics["test"]["ci"]
    assert set(metrics["data"]["counts"]) == {"train", "val", "test"}
    sections = task.report_sections(tmp_path / "run", metrics)
    assert "hidden test set" in sections[0].comparable and "0.821" not in sections[0].html
    assert [s.title for s in sections] == ["Headline", "Records per class and part"]
    assert any("Zihlmann" in r.method for r in sections[0].references) and sections[0].key_metrics[0].ref == "overall.f1_naof"
    # a record at 360 Hz (resampled from the 300 Hz original) is resampled back and scored close to the original
    from scipy.signal import resample_poly

    from medrnn.io import read_wfdb

    wfdb = pytest.importorskip("wfdb")
    record = read_wfdb(DATA / "A00002", annotation_extension=None)
    resampled = resample_poly(record.signal[0].astype(np.float64), 6, 5)
    wfdb.wrsamp("B00002", fs=360, units=["mV"], sig_name=["ECG"], p_signal=resampled[:, None], fmt=["16"], adc_gain=[1000],
                baseline=[0], write_dir=str(tmp_path))  # fmt: skip
    predictor = Predictor.from_artifact(tmp_path / "run" / "model")
    out = predictor.predict([str(DATA / "A00002"), "A00003", str(tmp_path / "B00002"), str(tmp_path / "missing")])
    assert [item.item_id for item in out.items] == [str(DATA / "A00002"), "A00003", str(tmp_path / "B00002")]
    assert list(out.failures) == [str(tmp_path / "missing")]
    rows = [item.rows[0] for item in out.items]
    assert [r["record_id"] for r in rows] == ["A00002", "A00003", "B00002"] and rows[0]["class"] in CLASSES
    assert set(out.columns) == {"item_id", "record_id", "class", "p_N", "p_A", "p_O", "p_~", "seconds"}
    assert out.items[2].notes == {"resampled": "360 Hz -> 300 Hz"}
    assert abs(rows[2]["p_N"] - rows[0]["p_N"]) < 0.05
    assert result.metrics["split"]["counts"]["test"] == 24


def test_crnn_overfits_a_handful_of_records() -> None:
    """Eight real records, two per class, cut to 10 s: the default CRNN (narrower) memorises them in a few seconds."""
    labels = read_reference(DATA / "REFERENCE.csv")
    names = [n for k in range(4) for n in sorted(r for r, c in labels.items() if c == k)[:2]]
    records, _, _ = load_records(AfDataConfig(max_records=200))
    index = [int(np.flatnonzero(records.ids == n)[0]) for n in names]
    records = records.subset(np.array(index))
    records = AfRecords([x[:1500] for x in records.x], records.y, records.ids, records.seconds)
    torch.manual_seed(0)
    model = build_model("lstm", AfModelConfig(hidden_size=32, frontend_channels=16, dropout=0.0), input_size=1, num_classes=4)
    batch = collate([AfDataset(records)[i] for i in range(len(records))])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(batch).logits, batch.y)
        loss.backward()
        optimizer.step()
    model.eval()
    assert (model(batch).logits.argmax(1) == batch.y).all(), float(loss)
    gridded = collate_grid([AfDataset(records)[i] for i in range(len(records))])
    assert gridded.x.shape[1] % 512 == 0 and gridded.x.shape[1] > batch.x.shape[1]
    with torch.no_grad():  # the grid's extra padding does not change a record's scores
        torch.testing.assert_close(model(gridded).logits, model(batch).logits, rtol=0, atol=1e-5)
