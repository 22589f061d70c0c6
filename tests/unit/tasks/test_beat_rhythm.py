"""The rhythm model over neighbouring beats: context windows stay inside their record and line up with their beat,
the model's output for a beat does not depend on the batch around it, and decision weights are tuned on validation only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn.data.batch import make_batch
from medrnn.errors import ConfigError
from medrnn.models import create_model
from medrnn.tasks.base import get_task
from medrnn.tasks.ecg_beats.beats import BeatSet
from medrnn.tasks.ecg_beats.config import BeatDataConfig
from medrnn.tasks.ecg_beats.context import neighbour_index
from medrnn.tasks.ecg_beats.decision import decide, tune_weights
from medrnn.tasks.ecg_beats.pipeline import BeatPipeline


def _beats(records: list[tuple[str, int]], window: int = 8) -> BeatSet:
    """Synthetic beats: the window of beat j is constant j (so a neighbour is recognisable), RR = j too."""
    record = np.concatenate([np.full(n, r) for r, n in records])
    n = len(record)
    x = np.repeat(np.arange(n, dtype=np.float32)[:, None, None], window, axis=1)
    rr = np.repeat(np.arange(n, dtype=np.float32)[:, None], 9, axis=1)
    return BeatSet(x, rr, np.zeros(n, np.int64), np.arange(n) * 300, record, 180.0)


def test_neighbours_never_cross_a_record_and_edges_are_flagged() -> None:
    record = np.array(["a"] * 3 + ["b"] * 5)
    index, valid = neighbour_index(record, 2)
    assert index.shape == (8, 5)
    assert (index[:, 2] == np.arange(8)).all()  # the centre is the beat itself
    assert valid[0].tolist() == [False, False, True, True, True]  # first beat of a: nothing before it
    assert valid[2].tolist() == [True, True, True, False, False]  # last beat of a: b's beats are not its neighbours
    assert valid[3].tolist() == [False, False, True, True, True]  # first beat of b: a's beats are not either
    assert (record[index][valid] == np.repeat(record, 5).reshape(8, 5)[valid]).all()


def test_context_windows_line_up_with_their_beats_across_subsets() -> None:
    beats = _beats([("a", 4), ("b", 6)]).with_context(2, 1)
    ctx = beats.context
    for i in range(len(beats)):
        for s, j in enumerate(range(i - 2, i + 3)):
            if ctx.valid[i, s]:
                assert ctx.x[i, s, 0, 0] == j and ctx.rr[i, s, 0] == j
            else:
                assert ctx.x[i, s].max() == 0 and ctx.rr[i, s].max() == 0
    # a subset (a random share of training beats) keeps each beat's own neighbourhood, read before subsetting
    picked = np.array([7, 1, 4])
    sub = beats.subset(picked)
    assert (sub.context.x[:, 2, 0, 0] == picked).all()
    assert np.array_equal(sub.context.x, ctx.x[picked])
    # computed from a concat of records one by one, or from all at once: the same windows
    parts = BeatSet.concat([_beats([("a", 4)]).with_context(2, 1), _beats([("b", 6)]).with_context(2, 1)])
    assert np.array_equal(parts.context.valid, ctx.valid)


def test_pipeline_inputs_and_model_read_the_centre_beat() -> None:
    beats = _beats([("a", 5), ("b", 7)], window=8)
    config = BeatDataConfig(context_beats=3, context_decimate=2)
    pipeline = BeatPipeline.fit(beats, config)
    x = pipeline.inputs(beats)  # built lazily from the record ids when the beats carry no neighbourhood
    assert x.shape == (12, 7, 4 + 9 + 1)
    assert (x[:, :, -1] == beats.with_context(3, 2).context.valid).all()
    sizes = pipeline.model_sizes(beats)
    assert sizes == {"input_size": 14, "num_static": 9, "beat_window": 4, "beat_channels": 1}
    model = create_model("beat_rhythm", num_classes=5, hidden_size=8, **sizes).eval()
    static = torch.as_tensor(pipeline.static(beats), dtype=torch.float32)
    full = model(make_batch(torch.as_tensor(x), static=static)).logits
    # one beat alone, or the batch in another order: each beat's output is its own
    order = torch.randperm(12)
    again = model(make_batch(torch.as_tensor(x)[order], static=static[order])).logits
    assert torch.allclose(again, full[order], atol=1e-5)
    single = model(make_batch(torch.as_tensor(x[4:5]), static=static[4:5])).logits
    assert torch.allclose(single, full[4:5], atol=1e-5)
    # changing a beat outside a record's window changes nothing; changing a neighbour in it does
    moved = x.copy()
    moved[6, 3, :4] += 5.0  # beat 6 (b's second) as seen in its own window: centre
    out = model(make_batch(torch.as_tensor(moved), static=static)).logits
    assert not torch.allclose(out[6], full[6])
    assert torch.allclose(out[:6], full[:6]) and torch.allclose(out[7:], full[7:])


def test_the_rhythm_model_is_explained_per_neighbouring_beat_and_part() -> None:
    from medrnn.explain.methods import attribute
    from medrnn.tasks.ecg_beats.explain import explain_inputs

    beats = _beats([("a", 5), ("b", 7)], window=8)
    pipeline = BeatPipeline.fit(beats, BeatDataConfig(context_beats=3, context_decimate=2))
    model = create_model("beat_rhythm", num_classes=5, hidden_size=8, **pipeline.model_sizes(beats)).eval()
    (first, inner) = explain_inputs(pipeline, beats, [5, 8])  # b's first beat, and one with neighbours on both sides
    assert first.axes == ("beat", "part") and first.shape == (7, 2) and first.axis_labels["beat"][3] == "+0"
    assert first.present[:3].sum() == 0 and first.present[3:].all()  # nothing before a record's first beat
    assert inner.present.all() and tuple(inner.batch.x.shape) == (1, 7, 14)
    att = attribute(model, inner, target=0, method="ig")
    assert att.shape == (7, 2) and np.isfinite(att).all() and np.abs(att).sum() > 0
    assert np.abs(attribute(model, first, target=0, method="ig")[:3]).max() == 0  # empty steps get no credit


def test_decision_weights_lift_a_class_the_argmax_misses() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    y[:5] = 3
    probs = rng.dirichlet(np.ones(5), 600) * 0.2
    probs[np.arange(600), 0] += 0.5  # N always wins the plain argmax
    probs[np.arange(600), y] += 0.25  # but the true class stands out of the others
    names = ["N", "S", "V", "F", "Q"]
    weights, tuned, plain = tune_weights(y, probs, names)
    assert tuned > plain and weights[0] == 1.0 and weights[4] == 1.0  # Q never occurs: its weight stays 1
    assert (decide(probs, weights) != decide(probs, None)).any()


@pytest.fixture(scope="module")
def quick_runs(mitdb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict, Path]]:
    """Two quick rhythm runs that differ only in the test records' labels (scrambled in the second)."""
    from medrnn.train.run import run_task

    task = get_task("mitdb")
    config = task.quick_config().model_copy(deep=True)
    config = config.model_validate({**config.model_dump(), "decision": "tuned", "model": {"name": "beat_rhythm", "hidden_size": 8},
                                    "data": {**config.data.model_dump(), "context_beats": 2},
                                    "train": {**config.train.model_dump(), "augment": False}})  # fmt: skip
    load = task.load
    out = []
    root = tmp_path_factory.mktemp("rhythm")
    for scramble in (False, True):

        def loaded(cfg, progress=False, scramble=scramble):
            data = load(cfg, progress)
            if scramble:
                beats, n = data.samples.beats, data.samples.n_train
                beats.y[n:] = np.random.default_rng(1).permutation(beats.y[n:])
            return data

        task.load = loaded
        try:
            result = run_task(task, config, root / f"run{int(scramble)}", progress=False)
        finally:
            task.load = load
        out.append((result.metrics, root / f"run{int(scramble)}"))
    return out


def test_decision_weights_come_from_validation_records_only(quick_runs: list[tuple[dict, Path]]) -> None:
    (clean, _), (scrambled, _) = quick_runs
    tuned = clean["tuned_on_validation"]["decision_weights"]
    assert clean["tuned_on_validation"]["decision_tuned_on"] == "validation records"
    assert tuned == scrambled["tuned_on_validation"]["decision_weights"]  # test labels scrambled: the same weights
    assert clean["test"]["overall"]["jkappa"] != scrambled["test"]["overall"]["jkappa"]  # while the test score did see the change


def test_an_ensemble_retunes_the_weights_for_its_mean_or_reads_plain_argmax(quick_runs: list[tuple[dict, Path]], tmp_path: Path) -> None:
    from medrnn.ensemble import EnsemblePredictor, build_ensemble
    from medrnn.predict import Predictor

    folders = [folder for _, folder in quick_runs]
    member = Predictor.from_artifact(folders[0])
    assert member.pipeline.decision_weights == list(quick_runs[0][0]["tuned_on_validation"]["decision_weights"].values())
    meta = build_ensemble(folders, tmp_path / "tuned")
    assert meta["tuning"]["on"] == "validation" and len(meta["decision_weights"]) == 5
    assert EnsemblePredictor.from_path(tmp_path / "tuned").pipeline.decision_weights == meta["decision_weights"]
    plain = build_ensemble(folders, tmp_path / "plain", tune=False)
    assert plain["decision_weights"] is None and EnsemblePredictor.from_path(tmp_path / "plain").pipeline.decision_weights is None
    assert member.pipeline.decision_weights is not None  # the members keep their own


def test_evaluate_reproduces_a_runs_test_figure_and_scores_an_ensemble(quick_runs: list[tuple[dict, Path]], tmp_path: Path) -> None:
    from medrnn.ensemble import build_ensemble
    from medrnn.evaluation import evaluate_on_test

    (metrics, folder), (_, other) = quick_runs
    report, summary = evaluate_on_test(folder)
    assert summary["headline"] == "jkappa" and summary["members"] == 1
    assert report.overall["jkappa"] == pytest.approx(metrics["test"]["overall"]["jkappa"], abs=1e-9)
    assert summary["decision_weights"] == list(metrics["tuned_on_validation"]["decision_weights"].values())
    build_ensemble([folder, other], tmp_path / "ens", tune=False)
    _, ens = evaluate_on_test(tmp_path / "ens")
    assert ens["members"] == 2 and ens["decision_weights"] is None and 0 <= ens["value"] <= 1


def test_rhythm_model_and_context_must_go_together() -> None:
    from medrnn.tasks.ecg_beats.config import BeatRunConfig

    task = get_task("mitdb")
    bad = BeatRunConfig.model_validate({"model": {"name": "beat_rhythm"}})
    with pytest.raises(ConfigError, match="context_beats"):
        task.build_model(_Data(), None, BeatPipeline.fit(_beats([("a", 4)]), bad.data), bad)
    bad = BeatRunConfig.model_validate({"model": {"name": "beat_rhythm"}, "data": {"context_beats": 2}})
    with pytest.raises(ConfigError, match="train.augment=false"):  # before any data is read: fit_task asks first
        task.batch_augment(bad)
    assert task.batch_augment(bad.model_copy(update={"train": bad.train.model_copy(update={"augment": False})})) is None


class _Data:
    class samples:  # noqa: N801  (the TaskData shape build_model reads)
        beats = _beats([("a", 4)])
