"""Figures of explanations, chosen by the task's axes: a signal strip with the attribution as a heat band, an
hour x variable heatmap with the observed values, bars of the visit codes that moved the prediction, and a text with
its tokens highlighted. A task with a better picture (molecules: atoms drawn by RDKit) overrides `explain_figures`."""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from medrnn.explain.inputs import Explanation  # noqa: E402

CMAP = "RdBu_r"  # red: pushed the explained output up; blue: pushed it down


def default_figures(item: Any) -> list[tuple[str, Figure]]:
    """One figure per explained sample of an input, by the explanation's axes."""
    out = []
    for e in item.explanations:
        draw = {("time", "lead"): signal_strip, ("hour", "variable"): stay_heatmap, ("visit", "code"): code_bars,
                ("token",): token_text, ("beat", "part"): stay_heatmap}.get(tuple(e.axes), signal_strip)  # fmt: skip
        out.append((f"{safe(e.item_id)}__{safe(e.sample_id)}", draw(e)))
    return out


def safe(name: str) -> str:
    """A file-name-safe form of an id."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))[:80] or "item"


def norm_of(a: np.ndarray) -> TwoSlopeNorm:
    """A colour scale centred on 0, symmetric around the largest |attribution|."""
    top = float(np.nanmax(np.abs(a))) if np.size(a) else 1.0
    top = top if top > 0 else 1.0
    return TwoSlopeNorm(vcenter=0.0, vmin=-top, vmax=top)


def title_of(e: Explanation, k: int) -> str:
    """'method: target (p=0.93)'."""
    p = e.prediction.get(e.targets[k])
    return f"{e.method}: {e.targets[k]}" + (f" (output {p:.3g})" if p is not None else "")


def signal_strip(e: Explanation) -> Figure:
    """Each lead's trace over time with the attribution of the explained output as a heat band behind it."""
    values = np.asarray(e.values if e.values is not None else np.zeros(e.attributions.shape[1:]), dtype=np.float64)
    values = values.reshape(values.shape[0], -1)
    att = e.attributions[0].reshape(e.attributions.shape[1], -1)
    leads = e.axis_labels.get("lead") or [f"lead {i}" for i in range(values.shape[1])]
    hz = float(e.context.get("sfreq_hz", 1.0))
    t = np.arange(values.shape[0]) / hz
    fig, axes = plt.subplots(values.shape[1], 1, figsize=(10, 1.8 * values.shape[1] + 0.6), squeeze=False, sharex=True)
    band = att.sum(axis=1)
    norm = norm_of(band)
    for j, ax in enumerate(axes[:, 0]):
        lo, hi = float(np.min(values[:, j])), float(np.max(values[:, j]))
        pad = 0.1 * (hi - lo or 1.0)
        extent = (t[0], t[-1] if len(t) > 1 else 1.0, lo - pad, hi + pad)
        ax.imshow(band[None, :], aspect="auto", cmap=CMAP, norm=norm, alpha=0.55, extent=extent)
        ax.plot(t, values[:, j], color="black", linewidth=0.7)
        ax.set_ylabel(leads[j] if j < len(leads) else f"lead {j}")
        for mark_t, label in e.context.get("marks", []):
            ax.annotate(str(label), (mark_t, hi + pad), ha="center", va="top", fontsize=8, color="#333")
    axes[-1, 0].set_xlabel("seconds")
    axes[0, 0].set_title(f"{e.sample_id} - {title_of(e, 0)}", fontsize=10)
    fig.tight_layout()
    return fig


def stay_heatmap(e: Explanation) -> Figure:
    """Step x feature attribution (hour x variable, beat x part); observed cells ringed where values are given."""
    att = e.attributions[0]  # (hours, variables)
    names = e.axis_labels.get(e.axes[1]) or [str(i) for i in range(att.shape[1])]
    keep = np.argsort(-np.abs(att).sum(axis=0))[:15]  # the variables that mattered most
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(keep) + 1.5))
    ax.imshow(att[:, keep].T, aspect="auto", cmap=CMAP, norm=norm_of(att[:, keep]), interpolation="nearest")
    if e.values is not None:
        obs = np.asarray(e.values, dtype=np.float64)[:, keep]
        hours, rows = np.nonzero(~np.isnan(obs))
        ax.scatter(hours, rows, s=12, facecolors="none", edgecolors="black", linewidths=0.5)
    ax.set_yticks(range(len(keep)), [names[k] for k in keep], fontsize=8)
    steps = e.axis_labels.get(e.axes[0])
    if steps and len(steps) == att.shape[0]:
        ax.set_xticks(range(len(steps)), steps, fontsize=8)
    ax.set_xlabel(e.axes[0])
    ax.set_title(f"{e.sample_id} - {title_of(e, 0)}" + (" (ringed: observed)" if e.values is not None else ""), fontsize=10)
    fig.tight_layout()
    return fig


def code_bars(e: Explanation) -> Figure:
    """The visit codes that moved the prediction most, as signed bars labelled 'visit v: code'."""
    att = e.attributions[0]
    present = e.context.get("present")
    cells = np.argwhere(np.asarray(present, dtype=bool)) if present is not None else np.argwhere(att != 0)
    scored = sorted(((float(att[v, c]), int(v), int(c)) for v, c in cells), key=lambda r: -abs(r[0]))[:15]
    codes = e.axis_labels.get("code") or []
    labels = [f"visit {v + 1}: {codes[c] if c < len(codes) else c}" for _, v, c in scored]
    fig, ax = plt.subplots(figsize=(8, 0.35 * max(len(scored), 1) + 1.2))
    ax.barh(range(len(scored)), [s for s, _, _ in scored], color=["#c0392b" if s > 0 else "#2e86c1" for s, _, _ in scored])
    ax.set_yticks(range(len(scored)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_title(f"{e.sample_id} - {title_of(e, 0)}", fontsize=10)
    fig.tight_layout()
    return fig


def token_text(e: Explanation, width: int = 110, max_tokens: int = 400) -> Figure:
    """The text of the sample, each token on a background coloured by its attribution, one panel per explained output."""
    tokens = list(e.axis_labels.get("token") or [str(i) for i in range(e.attributions.shape[1])])[:max_tokens]
    n_lines = max(1, len(textwrap.wrap(" ".join(tokens), width)))
    fig, axes = plt.subplots(len(e.targets), 1, figsize=(11, (0.22 * n_lines + 0.6) * len(e.targets)), squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        att = e.attributions[k][: len(tokens)]
        norm, cmap = norm_of(att), plt.get_cmap(CMAP)
        ax.set_axis_off()
        ax.set_xlim(0, width)
        ax.set_ylim(n_lines + 0.5, -0.5)
        x, line = 0, 0
        for tok, a in zip(tokens, att):
            if x + len(tok) > width and x > 0:
                x, line = 0, line + 1
            ax.text(x, line, tok, fontsize=7, family="monospace", va="center",
                    bbox={"facecolor": cmap(norm(a)), "edgecolor": "none", "pad": 0.6})  # fmt: skip
            x += len(tok) + 1
        ax.set_title(f"{e.sample_id} - {title_of(e, k)}", fontsize=9, loc="left")
    fig.tight_layout()
    return fig


__all__ = ["CMAP", "code_bars", "default_figures", "signal_strip", "stay_heatmap", "token_text"]
