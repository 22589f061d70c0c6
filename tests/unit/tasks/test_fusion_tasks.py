"""Fusion models in their worlds: ICU series + descriptors (PhysioNet 2012) and coded visits + lab items (MIMIC-IV demo).
A stay or patient lacking one modality at predict time gets a finite prediction, and the output says which modalities
were read; a fusion that cannot have two modalities is refused naming the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medrnn.errors import ConfigError
from medrnn.predict import Predictor
from medrnn.tasks.base import get_task
from medrnn.train.run import fit_task, run_task

SOURCES = ["diagnoses", "procedures", "prescriptions", "labevents"]


@pytest.fixture(scope="module")
def icu_fusion(set_a: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    task = get_task("icu")
    config = task.quick_config().model_copy(deep=True)
    config.model.name, config.model.fusion = "fusion", "gated"
    run_dir = tmp_path_factory.mktemp("icu-fusion")
    run_task(task, config, run_dir, progress=False)
    return run_dir


def _stay_files(set_a: Path, folder: Path) -> list[Path]:
    """One real stay three ways: whole, descriptors only, series only (its 00:00 descriptor rows removed)."""
    lines = (set_a / "132539.txt").read_text().splitlines()
    names = ("Age", "Gender", "Height", "ICUType", "Weight")
    descriptor_rows = [r for r in lines[2:] if r.split(",")[1] in names and r.startswith("00:00")]
    files = {"whole.txt": lines, "descriptors_only.txt": lines[:2] + descriptor_rows,
             "series_only.txt": [r for r in lines if r not in descriptor_rows]}  # fmt: skip
    for name, rows in files.items():
        (folder / name).write_text("\n".join(rows) + "\n")
    return [folder / name for name in files]


def test_icu_fusion_predicts_stays_lacking_a_modality_and_says_so(icu_fusion: Path, set_a: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_artifact(icu_fusion / "model")
    result = predictor.predict([str(p) for p in _stay_files(set_a, tmp_path)])
    assert result.n_failed == 0 and not result.failures
    rows = {Path(r["item_id"]).name: r for r in result.rows()}
    used = [rows[n]["modalities"] for n in ("whole.txt", "descriptors_only.txt", "series_only.txt")]
    assert used == ["series+static", "static", "series"]
    risks = [rows[n]["p_In-hospital_death"] for n in rows]
    assert all(np.isfinite(risks)) and len(set(risks)) == 3  # each reads what it has


def test_icu_models_without_fusion_still_refuse_a_descriptors_only_stay(set_a: Path, tmp_path: Path) -> None:
    task = get_task("icu")
    run_dir = tmp_path / "run"
    run_task(task, task.quick_config(), run_dir, progress=False)
    result = Predictor.from_artifact(run_dir / "model").predict([str(_stay_files(set_a, tmp_path)[1])])
    assert result.n_failed == 1 and "descriptors only" in next(iter(result.failures.values()))["message"]


def test_icu_drop_modality_empties_the_series_or_the_descriptors(set_a: Path) -> None:
    task = get_task("icu")
    config = task.quick_config()
    data = task.load(config)
    stays = task.subset(data, np.arange(5))
    no_series, no_static = task.drop_modality(stays, "series"), task.drop_modality(stays, "static")
    assert all(len(s) == 0 for s in no_series.stays) and all(np.isnan(list(s.static.values())).all() for s in no_static.stays)
    assert np.array_equal(no_static.y, stays.y)
    with pytest.raises(ConfigError, match="series, static"):
        task.drop_modality(stays, "notes")


def test_ehr_fusion_splits_codes_from_labs_and_scores_patients_lacking_labs(mimic4: Path, tmp_path: Path) -> None:
    task = get_task("ehr")
    config = task.quick_config().model_copy(deep=True)
    config.data.code_sources = SOURCES
    config.model.name, config.model.fusion = "fusion", "late"
    f = fit_task(task, config, tmp_path / "run", data=None)
    groups = f.pipeline.modality_groups()
    assert {0, 1} == set(groups) and all(c.startswith("LAB:") == bool(g) for c, g in zip(f.pipeline.vocab.codes_, groups))
    test = task.subset(f.data, f.split.test)
    for modality in ("labs", "codes"):
        scores = task.predict(f.model, f.pipeline, task.drop_modality(test, modality)).values
        assert scores.shape == (len(test), 1) and np.isfinite(scores).all()
        assert not np.allclose(scores, f.test_scores.values)
    no_labs = task.drop_modality(test, "labs")
    assert not any(c.startswith("LAB:") for s in no_labs.samples for v in s.visits for c in v)


def test_ehr_fusion_without_lab_items_is_refused_naming_the_fix(mimic4: Path, tmp_path: Path) -> None:
    task = get_task("ehr")
    config = task.quick_config().model_copy(deep=True)
    config.model.name = "fusion"
    with pytest.raises(ConfigError, match="no lab item: put labevents"):
        fit_task(task, config, tmp_path / "run")
