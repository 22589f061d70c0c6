"""Score a trained artifact or an ensemble on the test part of its recorded data and split, with the task's metrics and
bootstrap CIs: how an ensemble's test figure (which no training run prints) is reproduced from the command line.

    medrnn evaluate runs/mitdb-ensemble --out ensemble-test.json

The data and split are rebuilt from the (first member's) recorded config. Every member must have been trained on units
outside that test part (its own recorded training units are checked), else the figure would not be a test figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medrnn.errors import ConfigError
from medrnn.tasks.base import InputItem


def evaluate_on_test(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(the task's test MetricReport, a JSON-ready summary) of the artifact, run or ensemble at `path`."""
    from medrnn.artifact import trained_on
    from medrnn.predict import Predictor
    from medrnn.selection import run_config

    predictor = Predictor.from_artifact(path)
    task = predictor.task
    config = run_config(predictor)
    data = task.load(config)
    split = task.split(data, config)
    test_units = set(data.units[split.test].tolist())
    members = getattr(predictor, "members", [predictor])
    for member in members:
        member_split = task.split(data, run_config(member))
        train_units = sorted(set(data.units[member_split.train].tolist()))
        if not trained_on(member.metadata, train_units) or test_units & set(train_units):
            where = getattr(member, "path", path)
            raise ConfigError(f"{where}: its recorded training units are not the training part of this data and split, or "
                              "overlap its test part; every member must be trained on this data with test held out")  # fmt: skip
    samples = task.subset(data, split.test)
    scores = predictor.score(InputItem("test", samples))
    report = task.evaluate(task.targets(data, split.test, predictor.pipeline), scores, data.units[split.test], predictor.pipeline,
                           config, samples)  # fmt: skip
    summary = {"path": str(path), "task": task.name, "members": len(members), "test_samples": int(len(split.test)),
               "test_units": len(test_units), "headline": report.headline, "value": report.headline_value,
               "decision_weights": predictor.pipeline.decision_weights, "threshold": predictor.pipeline.threshold,
               "test": report.to_dict()}  # fmt: skip
    return report, summary


__all__ = ["evaluate_on_test"]
