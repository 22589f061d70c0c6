"""HTML report: a synthetic run folder renders to one self-contained, escaped HTML file with a headline box, the published
comparison, tidy numbers, a per-unit table, full-width figures and the config folded away."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from medrnn.cli.report import report_command
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.metrics import evaluate
from medrnn.report import write_report
from medrnn.report.numbers import DASH, estimate, interval, sig
from medrnn.tasks.ecg_beats.config import MITDB_DS1, MITDB_DS2

NAMES = ["N", "S", "V", "F", "Q"]


def _make_run(run_dir: Path, nested: bool = True, with_optional: bool = True, data: dict | None = None) -> dict:
    """Write metrics.json (+ predictions.npz, strip.npz, config.yaml) as `medrnn train` would. No beat is ever Q or
    predicted Q, so Q's Se and +P are undefined."""
    rng = np.random.default_rng(0)
    n = 400
    y_true = rng.choice(4, n, p=[0.62, 0.15, 0.15, 0.08]).astype(np.int64)
    y_score = rng.dirichlet(np.ones(5), n)
    y_score[:, 4] = 0.0
    y_score[np.arange(n), y_true] += 0.25
    y_score = (y_score / y_score.sum(1, keepdims=True)).astype(np.float32)
    groups = np.array([f"1{g:02d}" for g in rng.integers(0, 8, n)])
    report = evaluate(y_true, y_score, NAMES, units=groups, unit="records", n_boot=30, seed=0, headline="jkappa").to_dict()
    metrics = {"test": report, "epochs": 12, "best_val_macro_f1": 0.71, "model": "lstm", "dataset": "<img src=x onerror=alert(1)>"}
    metrics = metrics if nested else report
    if data is not None:
        metrics["data"] = data
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if with_optional:
        np.savez(run_dir / "predictions.npz", y_true=y_true, y_score=y_score, units=groups, label_names=np.array(NAMES))
        sfreq = 360.0
        t = np.arange(int(6 * sfreq)) / sfreq
        beats = np.arange(150, t.size - 100, 280)
        signal = (0.05 * np.sin(2 * np.pi * t)).astype(np.float32)
        signal[beats] += 1.0
        beat_true = rng.integers(0, 5, beats.size)
        beat_true[0] = -1
        np.savez(
            run_dir / "strip.npz", signal=signal, sfreq_hz=sfreq, beat_sample=beats,
            beat_pred=rng.integers(0, 5, beats.size), beat_true=beat_true,
            record_id="100", class_names=np.array(NAMES), lead="MLII", units="mV", start_s=64.5,
        )  # fmt: skip
        (run_dir / "config.yaml").write_text("model:\n  name: lstm  # <script>alert('x')</script>\n")
        (run_dir / "RUN_COMPLETE").write_text("2026-12-06T04:37:38\n")
    return report


def _visible(page: str) -> str:
    """The page without its base64 images (what a reader sees as text and markup)."""
    return re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", page)


def test_report_has_headline_tables_images_and_escaped_config(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "mitdb_lstm"
    report = _make_run(run)
    out = write_report(run)
    assert out == run / "report.html" and out.exists()
    page = out.read_text(encoding="utf-8")
    text = _visible(page)
    # the headline box comes first: protocol, model, date, key metrics with their CIs
    headline = text[text.index('<div class="headline">') : text.index("Beside published results")]
    for part in ("inter-patient", "lstm", "2026-12-06 04:37:38", "SVEB Se", "VEB +P", "jκ", "400 samples from 8 records"):
        assert part in headline, part
    jk = report["overall"]["jkappa"]
    assert sig(jk) in headline and interval(report["ci"]["overall.jkappa"]) in headline
    assert '<div class="kpi main"><div class="kpi-label">jκ</div>' in headline  # the task's headline metric stands out
    # per-class cells: 3 significant digits, CI under the value; Q never occurs nor is predicted: undefined, not 0.000
    assert f'{sig(report["per_label"]["S"]["se"])}<br><span class="ci">{interval(report["ci"]["S.se"])}</span>' in text
    q_row = re.search(r"<tr><td>Q \(unknown\)</td>(.*?)</tr>", text).group(1)
    assert q_row.count(f"<td>{DASH}</td>") == 5 and "0.000" not in q_row  # Se, +P, F1, AUROC, AUPRC undefined
    assert not re.search(r"\d\.\d{5,}", re.sub(r"<pre>.*?</pre>", "", text, flags=re.S))  # no raw 15-digit floats
    # figures: confusion, ROC/PR, reliability (computed from predictions.npz for a run without a summary), ECG strip
    for alt in ("confusion matrix", "ROC curves", "reliability diagram", "ECG strip"):
        assert f'<img alt="{alt}" src="data:image/png;base64,' in page
    assert page.count("<img ") == 4
    # per record: the bootstrap unit, S and V detailed, a pooled row
    assert "Per record (the bootstrap unit)" in text and "all (pooled)" in text and "S (SVEB)" in text
    # the published comparison, with a warning that this run is not DS1 -> DS2
    assert "de Chazal 2004 (LDA)" in text and "Mondéjar-Guerra 2019" in text and "medrnn benchmark" in text
    assert 'class="warn">Cannot tell whether this run used DS1 → DS2' in text
    # config folded away at the end, escaped; no script, no external asset
    assert "<details><summary>config.yaml of the run" in text and text.index("Resolved config") > text.index("ECG strip")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page and "<script" not in page and "<img src=x" not in page
    assert "http://" not in page and "https://" not in page


def test_de_chazal_protocol_is_named_and_comparable(tmp_path: Path) -> None:
    data = {"train_records": list(MITDB_DS1[4:]), "validation_records": list(MITDB_DS1[:4]), "test_records": list(MITDB_DS2)}
    _make_run(tmp_path, data=data)
    text = _visible(write_report(tmp_path).read_text(encoding="utf-8"))
    assert "inter-patient, de Chazal DS1 → DS2: trained on the 22 DS1 records (4 held out whole for validation)" in text
    assert "Same protocol as the published rows" in text
    _make_run(tmp_path, data={"train_records": ["101"], "validation_records": ["106"], "test_records": ["100", "103"]})
    text = html.unescape(_visible(write_report(tmp_path).read_text(encoding="utf-8")))
    assert "not de Chazal's full DS1 → DS2: trained on 2 records (1 for validation), tested on 2 (100, 103)" in text
    assert "Not comparable" in text


def test_bare_metrics_without_optional_files(tmp_path: Path) -> None:
    _make_run(tmp_path, nested=False, with_optional=False)
    (tmp_path / "RUN_COMPLETE").write_text("done\n")
    out = write_report(tmp_path, out=tmp_path / "sub" / "r.html")
    page = out.read_text(encoding="utf-8")
    assert out.exists() and 'alt="confusion matrix"' in page
    assert "ROC curves" not in page and "ECG strip" not in page and "Per record" not in page


def test_a_task_without_a_headline_gets_the_generic_box(tmp_path: Path) -> None:
    _make_run(tmp_path, with_optional=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    metrics["task"] = "no_such_task"
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "RUN_COMPLETE").write_text("done\n")
    text = _visible(write_report(tmp_path).read_text(encoding="utf-8"))
    assert "medrnn run of task no_such_task" in text and '<div class="kpi main"><div class="kpi-label">jκ (Mondéjar-Guerra 2019)' in text
    assert "Beside published results" not in text


def test_missing_metrics_raises_with_fix(tmp_path: Path) -> None:
    with pytest.raises(MedrnnError, match=r"metrics\.json.*medrnn train"):
        write_report(tmp_path)


def test_bad_predictions_file_names_file(tmp_path: Path) -> None:
    _make_run(tmp_path, with_optional=False)
    (tmp_path / "RUN_COMPLETE").write_text("done\n")
    np.savez(tmp_path / "predictions.npz", y_true=np.zeros(3, dtype=np.int64))
    with pytest.raises(InvalidRecordError, match=r"predictions\.npz.*y_score"):
        write_report(tmp_path)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.48644924, "0.486"), (0.000447027, "0.000447"), (3.342874, "3.34"), (1234.5, "1,230"), (0.99961, "1.00"), (0.0, "0.00"),
     (-0.0388167, "-0.0388"), (4354, "4,354"), (None, DASH), (float("nan"), DASH), (1.234e-05, "1.23e-05"), ("N", "N")],
)  # fmt: skip
def test_numbers_have_three_significant_digits(value: object, text: str) -> None:
    assert sig(value) == text


def test_estimates_and_intervals() -> None:
    assert estimate(0.49027, [0.07644166, 0.9351273]) == "0.490 [0.0764–0.935]"
    assert estimate(None, [0.1, 0.2]) == DASH and estimate(0.5, None) == "0.500" and interval("bad") == ""


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report_command)
    return app


def test_report_command_writes_and_echoes_path(tmp_path: Path) -> None:
    _make_run(tmp_path, with_optional=False)
    (tmp_path / "RUN_COMPLETE").write_text("done\n")
    out = tmp_path / "x.html"
    result = CliRunner().invoke(_cli(), [str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and str(out) in result.output


def test_report_command_help_and_missing_run(tmp_path: Path) -> None:
    runner = CliRunner()
    help_text = runner.invoke(_cli(), ["--help"]).output
    assert "medrnn report runs/mitdb" in help_text and "--out" in help_text
    result = runner.invoke(_cli(), [str(tmp_path / "nope")])
    assert isinstance(result.exception, MedrnnError)
