"""Molecule report: synthetic classification and regression run folders render to one escaped HTML file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from medrnn.errors import InvalidRecordError
from medrnn.metrics import evaluate_molecules, format_estimate
from medrnn.report import write_molecule_report, write_report

EVIL = "<script>alert('x')</script>"
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "ClCCBr", "C[NH3+]", "[H]C(Cl)F"]


def _tokens(smiles: str) -> list[str]:
    from medrnn.transforms.smiles import tokenize

    return tokenize(smiles)


def _make_run(run_dir: Path, task_type: str, task_names: list[str], n: int = 60) -> dict:
    """Write metrics.json, predictions.npz, attention.json and config.yaml as `medrnn train smiles` would."""
    rng = np.random.default_rng(0)
    k = len(task_names)
    if task_type == "classification":
        y = (rng.random((n, k)) < 0.4).astype(float)
        score = np.clip(0.3 * y + 0.7 * rng.random((n, k)), 0, 1)
    else:
        y = rng.normal(-2.0, 1.5, (n, k))
        score = y + rng.normal(0, 0.6, (n, k))
    y[rng.random((n, k)) < 0.1] = np.nan
    report = evaluate_molecules(y, score, task_names, task_type, n_boot=50, seed=0)
    smiles = [SMILES[i % len(SMILES)] for i in range(n)]
    rejected = [{"row": 7, "smiles": "C1CC", "reason": "unclosed ring (RDKit: SMILES Parse Error)"}]
    rejected += [{"row": 100 + i, "smiles": f"X{i}", "reason": "not a SMILES"} for i in range(55)]
    rejected.append({"row": 3, "smiles": EVIL, "reason": f"bad {EVIL}"})
    rejected.insert(1, rejected.pop())  # keep the malicious row among the first 50 shown
    metrics = {
        "kind": "molecules",
        "task_type": task_type,
        "dataset": "bbbp",
        "split": {"kind": "scaffold", "seed": 0, "sizes": [0.8, 0.1, 0.1],
                  "counts": {"train": 8 * n, "val": n, "test": n}},
        "test": report.to_dict(),
        "data": {"read": {"source": "BBBP.csv", "n_read": 10 * n + 57, "n_kept": 10 * n, "n_rejected": 57,
                          "rejected": rejected},
                 "vocabulary": {"size": 42, "unknown_tokens_test": 3, "unknown_tokens_train": 0}},
        "training": {"epochs": 12, "best_epoch": 9, "augment": True},
        "timings": {"train_seconds": 31.5},
    }  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    np.savez(run_dir / "predictions.npz", smiles=np.array(smiles), y_true=y, y_score=score,
             task_names=np.array(task_names))  # fmt: skip
    attention = []
    for s in SMILES:
        tokens = _tokens(s)
        w = rng.random(len(tokens))
        attention.append({"smiles": s, "tokens": tokens, "weights": (w / w.sum()).tolist(),
                          "score": score[0].tolist(), "target": [None] * k})  # fmt: skip
    (run_dir / "attention.json").write_text(json.dumps(attention))
    (run_dir / "config.yaml").write_text(f"data:\n  data: bbbp  # {EVIL}\n")
    return report.to_dict()


def test_classification_report_has_tasks_rejections_images_and_escapes(tmp_path):
    names = ["BBB_penetration", EVIL]
    run = tmp_path / "runs" / "bbbp_lstm"
    report = _make_run(run, "classification", names)
    out = write_report(run)  # dispatches on metrics.json "kind"
    assert out == run / "report.html"
    html = out.read_text(encoding="utf-8")
    assert "BBB_penetration" in html and "bbbp" in html and "scaffold" in html
    assert "unclosed ring (RDKit: SMILES Parse Error)" in html
    assert "and 7 more rejected rows" in html  # 57 rejected, 50 shown
    auroc = format_estimate(report["per_task"]["BBB_penetration"]["auroc"], report["ci"]["BBB_penetration.auroc"])
    assert auroc in html
    assert "ROC-AUC" in html and "molecules (rows) are drawn with replacement" in html
    assert html.count("data:image/png;base64,") >= 2 + len(SMILES)  # ROC, PR and one depiction per molecule
    assert 'class="tok"' in html and "training.best_epoch" in html and "timings.train_seconds" in html
    # nothing read from the run folder can inject markup
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_regression_report_has_parity_and_residual_plots(tmp_path):
    run = tmp_path / "esol"
    report = _make_run(run, "regression", ["measured log solubility"])
    out = write_molecule_report(run, tmp_path / "out" / "esol.html")
    html = out.read_text(encoding="utf-8")
    assert "measured log solubility" in html and "parity plot" in html and "residual histogram" in html
    rmse = format_estimate(report["overall"]["rmse"], report["ci"]["overall.rmse"])
    assert rmse in html
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(images) >= 2 and all(len(i) > 1000 for i in images[:2])


def test_optional_files_may_be_missing(tmp_path):
    run = tmp_path / "bare"
    _make_run(run, "classification", ["a", "b"])
    for name in ("predictions.npz", "attention.json", "config.yaml"):
        (run / name).unlink()
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["data"], metrics["split"], metrics["training"]
    (run / "metrics.json").write_text(json.dumps(metrics))
    html = write_report(run).read_text(encoding="utf-8")
    assert "predictions.npz not found" in html and "Attention" not in html


def test_bad_attention_file_names_the_entry(tmp_path):
    run = tmp_path / "bad"
    _make_run(run, "classification", ["a"])
    (run / "attention.json").write_text(json.dumps([{"smiles": "CCO", "tokens": ["C", "C", "O"], "weights": [1.0]}]))
    with pytest.raises(InvalidRecordError, match="entry 0.*one weight per token"):
        write_report(run)
