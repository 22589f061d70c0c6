"""Molecule report sections: data facts, rejected rows, and the attention gallery (which molecules, and why), escaped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from medrnn.errors import InvalidRecordError
from medrnn.metrics import evaluate_outputs
from medrnn.tasks.base import get_task
from medrnn.tasks.molecules.report import gallery_groups, write_attention
from medrnn.transforms.smiles import tokenize

EVIL = "<script>alert('x')</script>"
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "ClCCBr", "C[NH3+]", "[H]C(Cl)F"]


def _make_run(run_dir: Path, task_type: str, task_names: list[str], n: int = 60) -> dict:
    """Write metrics.json and attention.json as `medrnn train smiles` (run_task + the task's write_outputs) does."""
    rng = np.random.default_rng(0)
    k = len(task_names)
    if task_type == "classification":
        y = (rng.random((n, k)) < 0.4).astype(float)
        score = np.clip(0.3 * y + 0.7 * rng.random((n, k)), 0, 1)
    else:
        y = rng.normal(-2.0, 1.5, (n, k))
        score = y + rng.normal(0, 0.6, (n, k))
    y[rng.random((n, k)) < 0.1] = np.nan
    kind = "regression" if task_type == "regression" else ("binary" if k == 1 else "multilabel")
    report = evaluate_outputs(y, score, task_names, kind, n_boot=50, seed=0)
    smiles = [SMILES[i % len(SMILES)] for i in range(n)]
    rejected = [{"row": 7, "smiles": "C1CC", "reason": "unclosed ring (RDKit: SMILES Parse Error)"}]
    rejected += [{"row": 100 + i, "smiles": f"X{i}", "reason": "not a SMILES"} for i in range(55)]
    rejected.append({"row": 3, "smiles": EVIL, "reason": f"bad {EVIL}"})
    rejected.insert(1, rejected.pop())  # keep the malicious row among the first 50 shown
    metrics = {
        "task": "molecules", "kind": "molecules", "task_type": task_type, "dataset": "bbbp",
        "split": {"unit": "molecule", "seed": 0, "counts": {"train": 8 * n, "val": n, "test": n}},
        "test": report.to_dict(),
        "data": {"read": {"source": "BBBP.csv", "n_read": 10 * n + 57, "n_kept": 10 * n, "n_rejected": 57, "rejected": rejected},
                 "split": {"kind": "scaffold", "seed": 0, "sizes": [0.8, 0.1, 0.1]},
                 "vocabulary": {"size": 42, "fitted_on": "the training split", "unknown_tokens_test": 3, "unknown_tokens_train": 0}},
        "model_init": {"pretrain": {"corpus_molecules": 1234, "val_perplexity": 2.5}},
    }  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    tokens = [tokenize(s) for s in smiles]
    weights = [rng.random(len(t)) for t in tokens]
    write_attention(run_dir / "attention.json", smiles, tokens, [w / w.sum() for w in weights], score, y, task_type)
    return metrics


def _html(run_dir: Path) -> tuple[list, str]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    sections = get_task("molecules").report_sections(run_dir, metrics)
    return sections, "\n".join(f"<h2>{s.title}</h2>{s.html}" for s in sections)


def test_classification_sections_have_facts_rejections_gallery_and_escape(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "bbbp_lstm"
    _make_run(run, "classification", ["BBB_penetration", EVIL])
    sections, html = _html(run)
    assert [s.title for s in sections] == ["Headline", "Molecules", "Rejected input rows", "Attention over SMILES tokens"]
    assert "bbbp" in html and "scaffold" in html and "42 tokens (the training split)" in html and "corpus_molecules 1,234" in html
    assert "unclosed ring (RDKit: SMILES Parse Error)" in html and "and 7 more rejected rows" in html  # 57 rejected, 50 shown
    # the gallery says which molecules it shows and why
    assert "<h3>most confident correct</h3>" in html and "<h3>most confident wrong</h3>" in html
    assert "right side of 0.5" in html and "wrong side of 0.5" in html
    assert html.count("data:image/png;base64,") == 12 and 'class="tok"' in html  # one depiction per molecule shown
    assert "<script>" not in html and "&lt;script&gt;" in html  # nothing read from the run folder can inject markup


def test_gallery_picks_confident_correct_and_wrong_molecules() -> None:
    y = np.array([[1.0], [0.0], [1.0], [0.0], [np.nan], [1.0]])
    p = np.array([[0.9], [0.45], [0.2], [0.99], [0.999], [0.6]])
    (correct_name, _, correct), (wrong_name, _, wrong) = gallery_groups(y, p, "classification", n=2)
    assert correct_name == "most confident correct" and correct.tolist() == [0, 5]  # 0.9 before 0.6; the unlabelled row never
    assert wrong_name == "most confident wrong" and wrong.tolist() == [3, 2]  # |p - y| 0.99, then 0.8
    multi_y = np.array([[1.0, 0.0], [1.0, np.nan]])
    multi_p = np.array([[0.9, 0.7], [0.8, 0.1]])  # molecule 0 has one task wrong: wrong, though its other task is right
    (_, _, right), (_, _, bad) = gallery_groups(multi_y, multi_p, "classification")
    assert right.tolist() == [1] and bad.tolist() == [0]
    reg = gallery_groups(np.array([[1.0], [2.0], [3.0]]), np.array([[1.5], [2.0], [0.0]]), "regression", n=1)
    assert [g[0] for g in reg] == ["closest to the measured value", "farthest from the measured value"]
    assert reg[0][2].tolist() == [1] and reg[1][2].tolist() == [2]


def test_regression_gallery_and_optional_parts(tmp_path: Path) -> None:
    run = tmp_path / "esol"
    _make_run(run, "regression", ["measured log solubility"])
    sections, html = _html(run)
    assert "closest to the measured value" in html and "largest mean absolute error" in html
    assert "measured log solubility: score" in html
    (run / "attention.json").unlink()
    metrics = json.loads((run / "metrics.json").read_text())
    del metrics["data"], metrics["model_init"]
    sections = get_task("molecules").report_sections(run, metrics)
    assert [s.title for s in sections] == ["Headline", "Molecules"]


def test_bad_attention_file_names_the_entry(tmp_path: Path) -> None:
    run = tmp_path / "bad"
    _make_run(run, "classification", ["a"])
    (run / "attention.json").write_text(json.dumps([{"smiles": "CCO", "tokens": ["C", "C", "O"], "weights": [1.0]}]))
    with pytest.raises(InvalidRecordError, match="entry 0.*one weight per token"):
        _html(run)
    (run / "attention.json").write_text("{not json")
    with pytest.raises(InvalidRecordError, match="attention.json: unreadable attention gallery"):
        _html(run)
    (run / "attention.json").write_text(json.dumps({"smiles": "CCO"}))
    with pytest.raises(InvalidRecordError, match="attention.json: attention gallery .* holds dict, expected a JSON list"):
        _html(run)


def test_headline_names_the_split_and_sets_moleculenet_and_benchmark_figures_beside_the_run(tmp_path: Path) -> None:
    from medrnn.report.headline import Headline

    run = tmp_path / "bbbp"
    _make_run(run, "classification", ["p_np"])
    sections, html = _html(run)
    box = sections[0]
    assert isinstance(box, Headline) and box.protocol.startswith("scaffold split (Bemis–Murcko scaffolds kept on one side) 80/10/10")
    assert [k.label for k in box.key_metrics] == ["ROC-AUC", "PR-AUC", "ECE", "Brier"]
    published = {r.method: r for r in box.references}
    wu = published["MoleculeNet, best model"]
    assert wu.values == {"ROC-AUC": 0.729} and "Wu et al." in wu.citation
    assert published["chemprop D-MPNN"].values == {"ROC-AUC": 0.920} and published["chemprop D-MPNN"].kind == "medrnn benchmark"
    assert "Which molecules:</b> not a random sample" in html
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["dataset"] = "my_table.csv"
    assert get_task("molecules").report_sections(run, metrics)[0].references == []  # no published figure for a CSV
