"""HTML report: a synthetic run folder renders to one self-contained, escaped HTML file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from medrnn.cli.report import report_command
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.metrics import evaluate, format_estimate
from medrnn.report import write_report

NAMES = ["N", "S", "V", "F", "Q"]


def _make_run(run_dir: Path, nested: bool = True, with_optional: bool = True) -> dict:
    """Write metrics.json (+ predictions.npz, strip.npz, config.yaml) as `medrnn train` would."""
    rng = np.random.default_rng(0)
    n = 400
    y_true = rng.choice(5, n, p=[0.6, 0.15, 0.15, 0.07, 0.03]).astype(np.int64)
    y_score = rng.dirichlet(np.ones(5), n)
    y_score[np.arange(n), y_true] += 0.25
    y_score = (y_score / y_score.sum(1, keepdims=True)).astype(np.float32)
    groups = np.array([f"1{g:02d}" for g in rng.integers(0, 8, n)])
    report = evaluate(y_true, y_score, NAMES, units=groups, unit="records", n_boot=30, seed=0).to_dict()
    metrics = {"test": report, "epochs": 12, "best_val_macro_f1": 0.71} if nested else report
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    if with_optional:
        np.savez(run_dir / "predictions.npz", y_true=y_true, y_score=y_score, groups=groups)
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
            record_id="100", class_names=np.array(NAMES),
        )  # fmt: skip
        (run_dir / "config.yaml").write_text("model:\n  name: lstm  # <script>alert('x')</script>\n")
        (run_dir / "RUN_COMPLETE").write_text("done\n")
    return report


def test_report_contains_tables_images_and_escaped_config(tmp_path):
    run = tmp_path / "runs" / "mitdb_lstm"
    report = _make_run(run)
    out = write_report(run)
    assert out == run / "report.html" and out.exists()
    html = out.read_text(encoding="utf-8")
    se_s = format_estimate(report["per_label"]["S"]["se"], report["ci"]["S.se"])
    jk = format_estimate(report["overall"]["jkappa"], report["ci"]["overall.jkappa"])
    assert se_s in html and jk in html
    assert html.count('<img alt="') == 4  # confusion, ROC, PR, strip
    for alt in ("confusion matrix", "ROC curves", "precision-recall curves", "ECG strip"):
        assert f'<img alt="{alt}" src="data:image/png;base64,' in html
    assert "resamples of the test 8 records" in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<script" not in html
    assert "http://" not in html and "https://" not in html  # no external assets


def test_bare_metrics_without_optional_files(tmp_path):
    _make_run(tmp_path, nested=False, with_optional=False)
    out = write_report(tmp_path, out=tmp_path / "sub" / "r.html")
    html = out.read_text(encoding="utf-8")
    assert out.exists() and 'alt="confusion matrix"' in html
    assert "ROC curves" not in html and "ECG strip" not in html


def test_missing_metrics_raises_with_fix(tmp_path):
    with pytest.raises(MedrnnError, match=r"metrics\.json.*medrnn train"):
        write_report(tmp_path)


def test_bad_predictions_file_names_file(tmp_path):
    _make_run(tmp_path, with_optional=False)
    np.savez(tmp_path / "predictions.npz", y_true=np.zeros(3, dtype=np.int64))
    with pytest.raises(InvalidRecordError, match=r"predictions\.npz.*y_score"):
        write_report(tmp_path)


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("report")(report_command)
    return app


def test_report_command_writes_and_echoes_path(tmp_path):
    _make_run(tmp_path, with_optional=False)
    out = tmp_path / "x.html"
    result = CliRunner().invoke(_cli(), [str(tmp_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and str(out) in result.output


def test_report_command_help_and_missing_run(tmp_path):
    runner = CliRunner()
    help_text = runner.invoke(_cli(), ["--help"]).output
    assert "medrnn report runs/mitdb" in help_text and "--out" in help_text
    result = runner.invoke(_cli(), [str(tmp_path / "nope")])
    assert isinstance(result.exception, MedrnnError)
