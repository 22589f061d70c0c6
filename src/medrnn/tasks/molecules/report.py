"""The molecule part of a run's report: data read (and rows rejected), vocabulary, pretraining, attention gallery.

The generic writer draws the metric tables, ROC/PR or parity curves and calibration; this module adds what only a
molecule run has. attention.json names which test molecules it holds and why (`group`, `rule`), and the gallery says so.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medrnn import atomic
from medrnn.errors import InvalidRecordError
from medrnn.runfiles import load_json
from medrnn.tasks.base import Section
from medrnn.transforms.smiles import SPECIALS, is_atom_token

MAX_REJECTED_SHOWN = 50
GALLERY_SIZE = 6  # molecules per group
ATTENTION_CMAP = "Reds"

# MoleculeNet datasets: (split, metric, best model in MoleculeNet (Wu et al. 2018, on its own splits), and medrnn's
# benchmark on identical splits, 3 seeds, mean ± SD: medrnn chosen on validation, chemprop D-MPNN, RF on ECFP4).
# Source: docs/benchmarks.md, "MoleculeNet: SMILES RNN beside chemprop's D-MPNN and an ECFP4 random forest".
MOLECULENET = {
    ("bbbp", "scaffold"): ("ROC-AUC", 0.729, (0.932, 0.036), (0.920, 0.041), (0.925, 0.024)),
    ("bace", "scaffold"): ("ROC-AUC", 0.867, (0.838, 0.035), (0.869, 0.035), (0.891, 0.025)),
    ("hiv", "scaffold"): ("ROC-AUC", 0.792, (0.819, 0.016), (0.818, 0.029), (0.818, 0.021)),
    ("tox21", "random"): ("ROC-AUC", 0.829, (0.865, 0.007), (0.841, 0.005), (0.828, 0.002)),
    ("clintox", "random"): ("ROC-AUC", 0.832, (0.926, 0.037), (0.902, 0.028), (0.811, 0.019)),
    ("sider", "random"): ("ROC-AUC", 0.684, (0.633, 0.046), (0.616, 0.035), (0.676, 0.014)),
    ("esol", "random"): ("RMSE", 0.580, (0.604, 0.027), (0.638, 0.012), (1.160, 0.118)),
    ("freesolv", "random"): ("RMSE", 1.150, (1.125, 0.039), (1.477, 0.176), (1.820, 0.280)),
    ("lipophilicity", "random"): ("RMSE", 0.655, (0.642, 0.053), (0.589, 0.031), (0.784, 0.010)),
    ("bbbp", "random"): ("ROC-AUC", None, (0.925, 0.019), (0.913, 0.015), (0.920, 0.006)),
    ("tox21", "scaffold"): ("ROC-AUC", None, (0.824, 0.017), (0.806, 0.034), (0.767, 0.015)),
}  # fmt: skip


# ---- choosing and writing the molecules shown ---------------------------------------------------------------------
def gallery_groups(y: np.ndarray, scores: np.ndarray, task_type: str, n: int = GALLERY_SIZE) -> list[tuple[str, str, np.ndarray]]:
    """(group, rule, test positions) of the molecules the gallery shows, chosen on their labelled tasks only.

    Classification: the `n` most confident correct (every labelled task on the right side of 0.5, largest mean
    |p - 0.5|) and the `n` most confident wrong (some labelled task wrong, largest mean |p - y|). Regression: the `n`
    with the smallest and the `n` with the largest mean absolute error. Unlabelled molecules are never shown.
    """
    labelled = ~np.isnan(y)
    has = labelled.any(axis=1)
    count = np.maximum(labelled.sum(axis=1), 1)
    error = np.where(labelled, np.abs(scores - np.nan_to_num(y)), 0).sum(axis=1) / count
    if task_type == "classification":
        wrong = (np.where(labelled, (scores >= 0.5) != (np.nan_to_num(y) > 0.5), False)).any(axis=1)
        confidence = np.where(labelled, np.abs(scores - 0.5), 0).sum(axis=1) / count
        right = np.flatnonzero(has & ~wrong)
        bad = np.flatnonzero(has & wrong)
        return [
            ("most confident correct", f"the {n} test molecules whose every labelled task is on the right side of 0.5, "
             "largest mean |p - 0.5| first", right[np.argsort(-confidence[right], kind="stable")][:n]),
            ("most confident wrong", f"the {n} test molecules with a labelled task on the wrong side of 0.5, largest mean "
             "|p - label| first", bad[np.argsort(-error[bad], kind="stable")][:n]),
        ]  # fmt: skip
    rows = np.flatnonzero(has)
    order = rows[np.argsort(error[rows], kind="stable")]
    return [("closest to the measured value", f"the {n} test molecules with the smallest mean absolute error", order[:n]),
            ("farthest from the measured value", f"the {n} test molecules with the largest mean absolute error",
             order[::-1][:n])]  # fmt: skip


def write_attention(path: Path, smiles: Sequence[str], tokens: Sequence[Sequence[str]], attention: Sequence[np.ndarray],
                    scores: np.ndarray, y: np.ndarray, task_type: str, n: int = GALLERY_SIZE) -> int:  # fmt: skip
    """attention.json: canonical tokens, weights, scores and labels of the gallery's molecules; returns how many."""
    items = []
    for group, rule, index in gallery_groups(y, scores, task_type, n):
        items += [{"group": group, "rule": rule, "smiles": smiles[i], "tokens": list(tokens[i]),
                   "weights": [round(float(w), 5) for w in attention[i]], "score": [float(v) for v in scores[i]],
                   "target": [None if np.isnan(v) else float(v) for v in y[i]]} for i in index]  # fmt: skip
    atomic.write_text(path, json.dumps(items, indent=1))
    return len(items)


# ---- sections ----------------------------------------------------------------------------------------------------
def molecule_sections(run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
    """The headline, data and model facts of metrics.json, the rejected rows, and the attention gallery of attention.json."""
    sections = [molecule_headline(metrics), _facts(metrics)]
    rejected = _dict(_dict(metrics.get("data")).get("read")).get("rejected")
    if isinstance(rejected, list) and rejected:
        sections.append(_rejected(rejected))
    label_names = _label_names(metrics)
    gallery = attention_section(run_dir / "attention.json", label_names)
    if gallery is not None:
        sections.append(gallery)
    return sections


def molecule_headline(metrics: dict[str, Any]) -> Section:
    """Dataset, split by name, the key metrics and, for a MoleculeNet dataset, MoleculeNet's and the benchmark's figures."""
    from medrnn.report.headline import KeyMetric, Reference, headline

    data = _dict(metrics.get("data"))
    read, split = _dict(data.get("read")), _dict(data.get("split"))
    dataset = str(metrics.get("dataset", ""))
    kind = str(split.get("kind", ""))
    sizes = split.get("sizes")
    shown = "/".join(f"{100 * float(x):g}" for x in sizes) if isinstance(sizes, list) else ""
    protocol = {"scaffold": "scaffold split (Bemis–Murcko scaffolds kept on one side)", "random": "random split of the table rows"}.get(
        kind, kind
    )
    protocol += f" {shown}" if shown else ""
    protocol += f", split seed {split['seed']}" if "seed" in split else ""
    n = read.get("n_kept")
    source = f"MoleculeNet {dataset}" if (dataset, "random") in MOLECULENET or (dataset, "scaffold") in MOLECULENET else dataset
    source += f", {_num(n)} molecules" if isinstance(n, int) else ""
    if metrics.get("task_type") == "regression" or (metrics.get("output_kind") == "regression"):
        keys = [KeyMetric("RMSE", "overall.rmse", True), KeyMetric("MAE", "overall.mae", True), KeyMetric("R²", "overall.r2")]
    else:
        keys = [KeyMetric("ROC-AUC", "overall.roc_auc"), KeyMetric("PR-AUC", "overall.prc_auc"),
                KeyMetric("ECE", "calibration.ece", True), KeyMetric("Brier", "calibration.brier", True)]  # fmt: skip
    box = headline(data=source, protocol=protocol, key_metrics=keys)
    entry = MOLECULENET.get((dataset, kind))
    if entry is None:
        return box
    metric, wu, ours, chemprop, forest = entry
    refs = [Reference("MoleculeNet, best model", "Wu et al., Chem. Sci. 2018 (its own splits)", {metric: wu})] if wu is not None else []
    where = f"docs/benchmarks.md: {dataset} {kind} split, 3 seeds (mean ± SD)"
    refs += [Reference(name, where, {metric: value[0]}, {metric: value[1]}, kind="medrnn benchmark")
             for name, value in (("medrnn SMILES biLSTM, chosen on validation", ours), ("chemprop D-MPNN", chemprop),
                                 ("random forest, ECFP4", forest))]  # fmt: skip
    box.references = refs
    box.comparable = (f"Same dataset and split kind ({kind}) as the benchmark rows, drawn with other seeds; one run's test "
                      "set moves a few points with the split seed, so read the rows as a range, not a ranking.")  # fmt: skip
    units = " (RMSE in target units)" if metric == "RMSE" else ""
    box.reference_note = (f"MoleculeNet's figure is the best model Wu et al. report, on their own splits{units}. The benchmark "
                          "rows were measured by this project on identical splits for all three models.")  # fmt: skip
    return box


def _facts(metrics: dict[str, Any]) -> Section:
    data = _dict(metrics.get("data"))
    read, vocab, split = _dict(data.get("read")), _dict(data.get("vocabulary")), _dict(data.get("split"))
    pretrain = _dict(metrics.get("model_init")).get("pretrain")
    rows = [("dataset", metrics.get("dataset", "–")), ("task type", metrics.get("task_type", "–"))]
    if split:
        sizes = split.get("sizes")
        shown = f", sizes {'/'.join(str(s) for s in sizes)}" if isinstance(sizes, list) else ""
        rows.append(("split", f"{split.get('kind', '?')}{shown}"))
    if read:
        rows.append(("input rows", ", ".join(f"{_num(read.get(f'n_{k}', '?'))} {k}" for k in ("read", "kept", "rejected"))))
        if "source" in read:
            rows.append(("source", read["source"]))
    if "size" in vocab:
        rows.append(("token vocabulary", f"{_num(vocab['size'])} tokens ({vocab.get('fitted_on', 'fitted on the training split')})"))
    for part in ("train", "val", "test"):
        if f"unknown_tokens_{part}" in vocab:
            rows.append((f"unknown tokens in {part}", _num(vocab[f"unknown_tokens_{part}"])))
    if isinstance(pretrain, dict):
        rows.append(("language-model pretraining", ", ".join(f"{k} {_num(v)}" for k, v in pretrain.items())))
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return Section("Molecules", f'<table class="kv">{body}</table>')


def _rejected(rejected: list[Any]) -> Section:
    shown = [_dict(r) for r in rejected[:MAX_REJECTED_SHOWN]]
    body = "".join(f"<tr><td>{html.escape(str(r.get('row', '')))}</td><td class=\"l mono\">{html.escape(str(r.get('smiles', '')))}</td>"
                   f"<td class=\"l\">{html.escape(str(r.get('reason', '')))}</td></tr>" for r in shown)  # fmt: skip
    rest = len(rejected) - len(shown)
    note = f'<p class="note">… and {rest} more rejected rows (all are listed in metrics.json).</p>' if rest > 0 else ""
    head = '<tr><th>row</th><th class="l">SMILES</th><th class="l">reason</th></tr>'
    return Section("Rejected input rows", f"<table>{head}{body}</table>{note}")


def attention_section(path: Path, label_names: list[str]) -> Section | None:
    """The gallery: per group (its rule stated), each molecule's tokens shaded by weight and its depiction."""
    if not path.exists():
        return None
    items = load_json(path, list, "attention gallery (a list of molecules)")
    parts = ['<style>.tok{font-family:ui-monospace,Menlo,Consolas,monospace;padding:0.1em 0.05em;border-radius:2px}'
             '.mol{display:flex;flex-wrap:wrap;gap:1.2em;align-items:center;border-top:1px solid #eee;padding:0.6em 0}'
             '.mol .text{flex:1 1 360px;word-break:break-all}</style>',
             '<p class="note">Each token is shaded by its attention weight relative to the largest weight in that molecule '
             "(darker = more weight); the drawing colours atom i by the weight of the i-th atom token. Attention shows where "
             "the model pooled, not why it decided.</p>",
             '<p class="note"><b>Which molecules:</b> not a random sample, but the groups named below (each with its rule), '
             "chosen from the test set by their predictions.</p>"]  # fmt: skip
    group = None
    for k, item in enumerate(items):
        item = _dict(item)
        tokens, weights = item.get("tokens"), item.get("weights")
        if not isinstance(tokens, list) or not isinstance(weights, list) or len(tokens) != len(weights):
            raise InvalidRecordError(f"{path}: entry {k} needs 'tokens' and 'weights' lists of equal length (one weight per token); "
                                     f"got {type(tokens).__name__} and {type(weights).__name__}")  # fmt: skip
        try:
            weights = [float(w) for w in weights]
        except (TypeError, ValueError) as err:
            raise InvalidRecordError(f"{path}: entry {k}: weights must be numbers ({err})") from err
        tokens = [str(t) for t in tokens]
        name = str(item.get("group", "highest-scoring test molecules (attention.json of an older run)"))
        if name != group:
            group = name
            rule = item.get("rule")
            parts.append(f"<h3>{html.escape(name)}</h3>" + (f'<p class="note">{html.escape(str(rule))}</p>' if rule else ""))
        spans = "".join(f'<span class="tok" style="{_span_style(c)}" title="weight {w:.4f}">{html.escape(t)}</span>'
                        for t, w, c in zip(tokens, weights, weight_colors(weights)))  # fmt: skip
        image, note = draw_attention(tokens, weights)
        smiles = str(item.get("smiles", "".join(tokens)))
        img = f'<img alt="depiction of {html.escape(smiles)}" src="{image}">' if image else ""
        outcome = " · ".join(x for x in (_outcome(item, label_names), note) if x)
        parts.append(f'<div class="mol">{img}<div class="text"><div>{spans}</div><p class="note">{html.escape(outcome)}</p></div></div>')
    return Section("Attention over SMILES tokens", "\n".join(parts))


def _outcome(item: dict[str, Any], label_names: list[str]) -> str:
    """'task: score (target)' for a few tasks, or a mean score line when there are many."""
    scores, targets = item.get("score") or [], item.get("target") or []
    if not isinstance(scores, list) or not scores:
        return ""
    targets = targets if isinstance(targets, list) else []
    from medrnn.report.numbers import sig

    if len(scores) > 4:
        labelled = sum(t is not None for t in targets)
        return f"mean score over {len(scores)} tasks {sig(float(np.mean(scores)))}; {labelled} tasks labelled"
    parts = []
    for i, score in enumerate(scores):
        name = label_names[i] if i < len(label_names) else f"task {i}"
        target = targets[i] if i < len(targets) else None
        shown = "missing" if target is None else sig(int(target) if float(target).is_integer() else float(target))
        parts.append(f"{name}: score {sig(float(score))}, target {shown}")
    return "; ".join(parts)


# ---- drawing -----------------------------------------------------------------------------------------------------
def weight_colors(weights: Sequence[float]) -> list[tuple[float, float, float]]:
    """RGB per weight on the attention colour map, scaled to the molecule's largest weight."""
    from matplotlib import colormaps

    w = np.asarray(weights, dtype=np.float64)
    top = w.max() if w.size and w.max() > 0 else 1.0
    cmap = colormaps[ATTENTION_CMAP]
    return [tuple(float(c) for c in cmap(0.9 * v / top)[:3]) for v in w]


def draw_attention(tokens: Sequence[str], weights: Sequence[float], size: tuple[int, int] = (340, 250)) -> tuple[str | None, str]:
    """2-D depiction with each atom coloured by its token's weight: (data URI or None, note).

    RDKit numbers atoms in SMILES order, so the i-th atom token (bracket atom or organic-subset element) is atom i;
    the SMILES is parsed with explicit hydrogens kept so that [H] tokens stay atoms.
    """
    try:
        from rdkit import Chem, rdBase
        from rdkit.Chem.Draw import rdMolDraw2D
    except ImportError:
        return None, "RDKit is not installed: no depiction (pip install rdkit)"
    smiles = "".join(t for t in tokens if t not in SPECIALS)
    atom_colors = [c for t, c in zip(tokens, weight_colors(weights)) if is_atom_token(t)]
    params = Chem.SmilesParserParams()
    params.removeHs = False
    blocker = rdBase.BlockLogs()  # a parse failure is reported in the note, not on stderr
    mol = Chem.MolFromSmiles(smiles, params)
    del blocker
    if mol is None:
        return None, f"RDKit could not parse {smiles!r}: no depiction"
    if mol.GetNumAtoms() != len(atom_colors):
        return None, f"{len(atom_colors)} atom tokens but RDKit found {mol.GetNumAtoms()} atoms: weights cannot be placed on atoms"
    colors = dict(enumerate(atom_colors))
    if hasattr(rdMolDraw2D, "MolDraw2DCairo"):
        drawer, mime = rdMolDraw2D.MolDraw2DCairo(*size), "image/png"
    else:  # RDKit built without Cairo
        drawer, mime = rdMolDraw2D.MolDraw2DSVG(*size), "image/svg+xml"
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, highlightAtoms=list(colors), highlightAtomColors=colors, highlightBonds=[])
    drawer.FinishDrawing()
    data = drawer.GetDrawingText()
    data = data.encode("utf-8") if isinstance(data, str) else data
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", ""


def _span_style(rgb: tuple[float, float, float]) -> str:
    """Inline CSS of one token: background by weight, white text on dark backgrounds."""
    r, g, b = (round(255 * c) for c in rgb)
    text = "#fff" if 0.299 * r + 0.587 * g + 0.114 * b < 140 else "#222"
    return f"background: rgb({r}, {g}, {b}); color: {text};"


def _label_names(metrics: dict[str, Any]) -> list[str]:
    names = _dict(metrics.get("test")).get("label_names")
    return [str(n) for n in names] if isinstance(names, list) else []


def _dict(value: Any) -> dict[str, Any]:
    """value if it is a dict, else {} (optional metrics.json sections may be absent or malformed)."""
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> str:
    """Integers with thousands separators, floats to 3 significant digits, anything else as text."""
    from medrnn.report.numbers import sig

    return sig(value)
