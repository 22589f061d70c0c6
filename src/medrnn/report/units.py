"""Per-unit tables: the test set broken down by the unit the bootstrap resamples (records, patients, stays, documents,
molecules), from predictions.npz (`units`, `y_true`, `y_score`). A CI over 22 records is only read well beside what
each record holds; one record with most of a class moves every figure."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

from medrnn.report.numbers import DASH, percent, sig
from medrnn.tasks.base import Section

OPEN_ROWS = 25  # up to this many units the table is open; more are folded in <details>
MAX_ROWS = 300  # more units than this: the worst MAX_ROWS are listed (predictions.npz holds them all)
TOP_K = 5


def unit_section(data: dict[str, np.ndarray], kind: str, names: Sequence[str], unit: str, display: dict[str, str],
                 focus: Sequence[str] = ()) -> Section | None:  # fmt: skip
    """The per-unit table of a run's test predictions, by output kind; None when predictions.npz has no units."""
    if "units" not in data:
        return None
    units = np.asarray(data["units"]).astype(str)
    y, s = np.asarray(data["y_true"]), np.asarray(data["y_score"], dtype=np.float64)
    if units.shape[0] != s.shape[0] or units.size == 0:
        return None
    order, inverse = np.unique(units, return_inverse=True)
    groups = [np.flatnonzero(inverse == k) for k in range(order.size)]
    word = unit[:-1] if unit.endswith("s") else unit
    everything = [np.arange(units.size)]
    if kind == "multiclass":
        head, rows, error, what = _multiclass(y, s, groups + everything, names, display, focus, word)
    elif kind == "regression":
        head, rows, error, what = _regression(y, s, groups + everything, word)
    elif kind == "multilabel":
        threshold = float(data["threshold"]) if "threshold" in data else None
        head, rows, error, what = _multilabel(y, s, groups + everything, threshold, word)
    else:
        head, rows, error, what = _binary(y, s, groups + everything, names, word)
    total, rows, error = rows[-1], rows[:-1], error[:-1]
    shown = np.arange(order.size)
    note = f"{order.size} test {unit}; {what}."
    if order.size > MAX_ROWS:
        shown = np.argsort(-np.nan_to_num(error, nan=-np.inf), kind="stable")[:MAX_ROWS]
        note += f" The {MAX_ROWS} with the largest error are listed, largest first; predictions.npz holds all {order.size}."
    body = "".join(f"<tr><td>{html.escape(str(order[k]))}</td>" + "".join(f"<td>{html.escape(c)}</td>" for c in rows[k]) + "</tr>"
                   for k in shown)  # fmt: skip
    body += '<tr class="total"><td>all (pooled)</td>' + "".join(f"<td>{html.escape(c)}</td>" for c in total) + "</tr>"
    table = f'<table class="units">{head}{body}</table>'
    if order.size > OPEN_ROWS:
        table = f"<details><summary>show the table of {min(order.size, MAX_ROWS)} {unit}</summary>{table}</details>"
    title = f"Per {word} (the bootstrap unit)"
    return Section(title, f'<p class="note">{html.escape(note)}</p>{table}')


def _header(columns: Sequence[str], unit: str) -> str:
    return "<tr>" + f"<th>{html.escape(unit)}</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>"


def _multiclass(y: np.ndarray, s: np.ndarray, groups: list[np.ndarray], names: Sequence[str], display: dict[str, str],
                focus: Sequence[str], word: str) -> tuple[str, list[list[str]], np.ndarray, str]:  # fmt: skip
    y = y.astype(np.int64).ravel()
    pred = s.argmax(axis=1)
    classes = [names.index(c) for c in focus if c in names] or list(range(len(names)))
    others = [k for k in range(len(names)) if k not in classes]
    totals = {k: int((y == k).sum()) for k in classes}
    top = f"<tr><th rowspan=2>{html.escape(word)}</th><th rowspan=2>samples</th><th rowspan=2>accuracy</th>"
    top += "".join(f"<th colspan=3>{html.escape(display.get(names[k], names[k]))}</th>" for k in classes)
    if others:
        top += f"<th rowspan=2>reference {html.escape(' / '.join(names[k] for k in others))}</th>"
    sub = "<tr>" + "<th>n (share)</th><th>Se</th><th>+P</th>" * len(classes) + "</tr>"
    rows, error = [], []
    for g in groups:
        yt, yp = y[g], pred[g]
        row = [sig(int(g.size)), sig(float((yt == yp).mean()))]
        for k in classes:
            n, called, hit = int((yt == k).sum()), int((yp == k).sum()), int(((yt == k) & (yp == k)).sum())
            share = f" ({percent(n / totals[k], 2)})" if totals[k] and n and g.size < y.size else ""
            row += [f"{n:,}{share}", sig(hit / n) if n else DASH, sig(hit / called) if called else DASH]
        if others:
            row.append(" / ".join(f"{int((yt == k).sum()):,}" for k in others))
        rows.append(row)
        error.append(float((yt != yp).sum()))
    what = (
        "accuracy over all classes; per class: reference samples (share of the class in the test set), Se = TP / "
        "reference, +P = TP / predicted, — where undefined (no reference sample, or never predicted)"
    )
    return top + "</tr>" + sub, rows, np.array(error), what


def _binary(
    y: np.ndarray, s: np.ndarray, groups: list[np.ndarray], names: Sequence[str], word: str
) -> tuple[str, list[list[str]], np.ndarray, str]:
    y = y.reshape(s.shape).astype(np.float64)
    outcome = names[0] if len(names) == 1 else "outputs pooled"
    if len(names) == 1 and all(g.size == 1 for g in groups[:-1]):  # one sample per unit (ICU stays): its outcome and risk
        rows = [[sig(int(y[g[0], 0])) if not np.isnan(y[g[0], 0]) else DASH, sig(float(s[g[0], 0])),
                 sig(float((s[g[0], 0] - y[g[0], 0]) ** 2)) if not np.isnan(y[g[0], 0]) else DASH] for g in groups[:-1]]  # fmt: skip
        keep = ~np.isnan(y[:, 0])
        rows.append([f"{int(y[keep, 0].sum()):,} of {int(keep.sum()):,}", sig(float(s[keep, 0].mean())) if keep.any() else DASH,
                     sig(float(np.mean((s[keep, 0] - y[keep, 0]) ** 2))) if keep.any() else DASH])  # fmt: skip
        error = np.array([np.nan if np.isnan(y[g[0], 0]) else float((s[g[0], 0] - y[g[0], 0]) ** 2) for g in groups])
        head = _header([f"outcome ({outcome})", "predicted probability", "squared error (Brier term)"], word)
        return head, rows, error, "the outcome, the predicted probability and its squared error; pooled: the Brier score"
    rows, error = [], []
    for g in groups:
        yt, st = y[g], s[g]
        keep = ~np.isnan(yt)
        if not keep.any():
            rows.append([sig(int(g.size)), DASH, DASH, DASH, DASH])
            error.append(np.nan)
            continue
        brier = float(np.mean((st[keep] - yt[keep]) ** 2))
        rows.append([sig(int(g.size)), f"{int(yt[keep].sum()):,}", sig(float(st[keep].mean())), sig(float(st[keep].max())), sig(brier)])
        error.append(brier)
    head = _header(["samples", f"positives ({outcome})", "mean predicted probability", "max predicted probability", "Brier"], word)
    return head, rows, np.array(error), "Brier = mean squared difference between predicted probability and outcome"


def _multilabel(
    y: np.ndarray, s: np.ndarray, groups: list[np.ndarray], threshold: float | None, word: str
) -> tuple[str, list[list[str]], np.ndarray, str]:
    from sklearn.metrics import average_precision_score

    y = y.reshape(s.shape).astype(np.float64)
    rows, error = [], []
    for g in groups:
        aps, gold, hits_k, called, correct = [], 0, 0, 0, 0
        for i in g:
            keep = ~np.isnan(y[i])
            yt, st = y[i][keep], s[i][keep]
            gold += int(yt.sum())
            if yt.sum() > 0:
                aps.append(float(average_precision_score(yt, st)))
            top = np.argsort(-st, kind="stable")[:TOP_K]
            hits_k += int(yt[top].sum())
            if threshold is not None:
                called += int((st >= threshold).sum())
                correct += int(((st >= threshold) & (yt > 0)).sum())
        ap = float(np.mean(aps)) if aps else np.nan
        row = [sig(int(g.size)), f"{gold:,}", sig(ap) if aps else DASH, sig(hits_k / (TOP_K * g.size))]
        if threshold is not None:
            row += [f"{called:,}", f"{correct:,}"]
        rows.append(row)
        error.append(1 - ap if aps else np.nan)
    columns = ["samples", "gold labels", "AP (mean over samples)", f"P@{TOP_K}"]
    what = "AP: average precision of each sample's ranking of the labels (MAP averages it over samples with a gold label)"
    if threshold is not None:
        columns += [f"predicted at {sig(threshold, 2)}", "correct"]
    return _header(columns, word), rows, np.array(error), what


def _regression(y: np.ndarray, s: np.ndarray, groups: list[np.ndarray], word: str) -> tuple[str, list[list[str]], np.ndarray, str]:
    y = y.reshape(s.shape).astype(np.float64)
    rows, error = [], []
    for g in groups:
        yt, st = y[g], s[g]
        keep = ~np.isnan(yt)
        if not keep.any():
            rows.append([sig(int(g.size)), DASH, DASH, DASH])
            error.append(np.nan)
            continue
        mae = float(np.mean(np.abs(st[keep] - yt[keep])))
        rows.append([sig(int(g.size)), sig(float(yt[keep].mean())), sig(float(st[keep].mean())), sig(mae)])
        error.append(mae)
    head = _header(["samples", "mean measured", "mean predicted", "MAE"], word)
    return head, rows, np.array(error), "values in the target's units, over the labelled entries"


__all__ = ["unit_section"]
