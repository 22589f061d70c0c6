"""MetricReport: the one shape of every task's test scores (multiclass, binary, multilabel, regression), with
bootstrap CIs over the task's split unit; JSON round trip and a plain-text table for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from medrnn.errors import ConfigError
from medrnn.metrics.bootstrap import jsonable

OUTPUT_KINDS = ("multiclass", "binary", "multilabel", "regression")
COUNT_KEYS = ("support", "n", "n_pos")  # per-label entries that are counts, not scores (no CI, printed as integers)
MAX_TABLE_ROWS = 30  # per-label rows printed by table(); metrics.json holds them all
MAX_CONFUSION_CLASSES = 12
_ROW_WORD = {"multiclass": "class", "binary": "output", "multilabel": "label", "regression": "output"}


def format_estimate(
    value: float | None, interval: Sequence[float] | None = None, digits: int = 3, dash: str = "–"
) -> str:
    """Format a point estimate and its CI as '0.912 [0.850–0.950]'; 'n/a' when undefined."""
    if value is None:
        return "n/a"
    text = f"{value:.{digits}f}"
    if interval is not None:
        text += f" [{interval[0]:.{digits}f}{dash}{interval[1]:.{digits}f}]"
    return text


@dataclass
class MetricReport:
    """Point estimates and percentile-bootstrap CIs of one test set, the same fields for every output kind.

    per_label maps a class/output/code to {metric: value}; overall holds the summary metrics, and `headline` names
    the one a task is ranked by. ci keys are "<label>.<metric>" and "overall.<metric>" ([lo, hi], None where the
    resamples left it undefined). `unit` says what the bootstrap resampled ("records", "patients", "scaffolds", ...):
    all samples of a unit are drawn together. extras holds what only some kinds have (confusion matrix, skipped
    outputs, code-frequency buckets, threshold, ks, notes).
    """

    output_kind: str
    label_names: list[str]
    per_label: dict[str, dict[str, float | int | None]]
    overall: dict[str, float | None]
    ci: dict[str, list[float] | None]
    headline: str
    n_samples: int
    n_units: int
    unit: str
    n_boot: int
    ci_level: float
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.output_kind not in OUTPUT_KINDS:
            raise ConfigError(f"output_kind {self.output_kind!r} is not one of {list(OUTPUT_KINDS)}")
        if self.headline not in self.overall:
            raise ConfigError(f"headline {self.headline!r} is not a key of overall {list(self.overall)}")

    @property
    def headline_value(self) -> float:
        """The headline metric's value; NaN when it is undefined (e.g. no output could be scored)."""
        value = self.overall.get(self.headline)
        return float("nan") if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (Python floats and ints, None for undefined values)."""
        return jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricReport:
        """Rebuild a report from `to_dict()` output (e.g. the 'test' entry of a run's metrics.json)."""
        if not isinstance(data, dict):
            raise ConfigError(f"metric report must be a dict, got {type(data).__name__}")
        names = [f.name for f in fields(cls)]
        missing = [k for k in names if k not in data]
        if missing:
            raise ConfigError(
                f"metric report is missing keys {missing}; expected the output of MetricReport.to_dict() with keys {names} "
                "(metrics.json of medrnn runs before the unified MetricReport: train the run again)"
            )
        return cls(**{k: data[k] for k in names})

    def table(self, max_rows: int = MAX_TABLE_ROWS) -> str:
        """Plain-text per-label and overall tables with CIs, for printing in a terminal (long label lists are cut)."""
        lines = self._per_label_lines(max_rows)
        width = max([12, *(len(k) + 2 for k in self.overall)])
        for key, value in self.overall.items():
            mark = "   (headline)" if key == self.headline else ""
            lines.append(f"{key:<{width}}{format_estimate(value, self.ci.get(f'overall.{key}'), dash='-')}{mark}")
        lines += _extras_lines(self.extras, self.label_names)
        if self.n_boot > 0:
            lines.append(
                f"{round(100 * self.ci_level)}% CIs: percentile bootstrap over {self.n_units} {self.unit} "
                f"({self.n_samples} samples; all samples of a unit drawn together), {self.n_boot} resamples"
            )
        return "\n".join(lines)

    def _per_label_lines(self, max_rows: int) -> list[str]:
        if not self.per_label:
            return []
        columns: list[str] = []
        for row in self.per_label.values():
            columns += [c for c in row if c not in columns]
        counts = [c for c in columns if c in COUNT_KEYS]
        scores = [c for c in columns if c not in COUNT_KEYS]
        word = _ROW_WORD[self.output_kind]
        name_w = min(max([len(word), *(len(n) for n in self.per_label)]) + 2, 32)
        cell_w = 22 if self.ci else 8
        head = f"{word:<{name_w}}" + "".join(f"{c:>8}" for c in counts) + "  " + "".join(f"{c:<{cell_w}}" for c in scores)
        lines = [head.rstrip(), "-" * len(head.rstrip())]
        for name in list(self.per_label)[:max_rows]:
            row = self.per_label[name]
            shown = name if len(name) < name_w - 1 else name[: name_w - 3] + "…"
            cells = "".join(f"{_count(row.get(c)):>8}" for c in counts) + "  "
            cells += "".join(f"{format_estimate(row.get(c), self.ci.get(f'{name}.{c}'), dash='-'):<{cell_w}}" for c in scores)
            lines.append(f"{shown:<{name_w}}{cells}".rstrip())
        if len(self.per_label) > max_rows:
            lines.append(f"... and {len(self.per_label) - max_rows} more {word}s (all in metrics.json)")
        return [*lines, ""]


def _extras_lines(extras: dict[str, Any], names: list[str]) -> list[str]:
    """Text of the extras: confusion matrix (small), frequency buckets, skipped outputs, then notes or else scalars."""
    lines: list[str] = []
    confusion = extras.get("confusion")
    if confusion and len(names) <= MAX_CONFUSION_CLASSES:
        w = max([7, *(len(n) + 2 for n in names), *(len(str(v)) + 2 for row in confusion for v in row)])
        lines += ["", "confusion (rows true, columns predicted)", " " * w + "".join(f"{n:>{w}}" for n in names)]
        lines += [f"{n:<{w}}" + "".join(f"{v:>{w}}" for v in row) for n, row in zip(names, confusion)]
    buckets = extras.get("buckets")
    if buckets:
        lines += ["", f"{'train count':<13}{'labels':>8}{'in test':>9}  {'micro_f1':<10}{'macro_f1':<10}", "-" * 50]
        for name, row in buckets.items():
            cells = "".join(f"{format_estimate(row.get(m)):<10}" for m in ("micro_f1", "macro_f1"))
            lines.append(f"{name:<13}{row['n_labels']:>8}{row['n_labels_in_test']:>9}  {cells}".rstrip())
    skipped = extras.get("skipped") or {}
    scalars = {k: v for k, v in extras.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    if skipped or extras.get("notes") or scalars:
        lines.append("")
    lines += [f"skipped {name}: {reason}" for name, reason in skipped.items()]
    lines += [str(note) for note in extras.get("notes") or []]
    if scalars and not extras.get("notes"):  # notes, where an evaluator writes them, already say what the scalars are
        lines.append(", ".join(f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}" for key, value in scalars.items()))
    return lines


def _count(value: Any) -> str:
    """An integer cell for the text table ('-' when absent)."""
    return "-" if value is None else f"{int(value)}"


__all__ = ["OUTPUT_KINDS", "MetricReport", "format_estimate"]
