"""ICU part of the report: a synthetic metrics.json with the real structure renders to escaped sections (split with deaths,
data quality of the read). ROC/PR curves, metric tables and calibration are the generic writer's, tested there."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from medrnn.io.physionet2012 import OutOfRangeValue, Physionet2012Report
from medrnn.tasks.base import Section, get_task

EVIL = "<script>alert('x')</script>"


def _metrics(n: int = 120, drop_empty: bool = True) -> dict[str, Any]:
    """metrics.json of an ICU run as `run_task` writes it (only the parts the ICU sections read)."""
    read = Physionet2012Report(root="/data/physionet2012", n_records={"a": 4000, "b": 3998}, n_rows=1_500_000, n_observations=1_400_000)
    read.no_time_series = ["140501", "140936"]
    read.n_out_of_range = Counter({"pH": 3, "Temp": 2, "Gender (descriptor)": 1})
    read.n_missing_marker = Counter({"Weight (descriptor)": 7, "Height (descriptor)": 4})
    read.out_of_range = [OutOfRangeValue("132539", 125.0, "pH", 73.0), OutOfRangeValue("140100", 30.0, "Temp", -17.8)]
    read.unknown_parameters = Counter({EVIL: 2})
    read.missing_outcomes = ["150000"]
    read.failures = {"set-b/999999.txt": f"line 3: field Time is '01:xx' {EVIL}"}
    return {
        "task": "icu_mortality",
        "model": "gru_d",
        "split": {"unit": "stay", "seed": 7, "counts": {"train": 8 * n, "val": n, "test": n}},
        "data": {"read": read.to_dict(), "sets": ["a", "b"], "stays_read": 7998, "stays_used": 7996,
                 "excluded_no_time_series": {"count": 2, "record_ids": ["140501", "140936"], "drop_empty": drop_empty},
                 "observations_after_window": 5, "window_hours": 48.0,
                 "split": {"protocol": "split", "seed": 7, "sizes": [0.8, 0.1, 0.1], "stratified_by": "In-hospital_death",
                           "deaths": {"train": 140, "val": 18, "test": 17}}},
    }  # fmt: skip


def _html(sections: list[Section]) -> str:
    return "\n".join(f"<h2>{s.title}</h2>{s.html}" for s in sections)


def test_icu_sections_show_split_deaths_and_data_quality_escaped(tmp_path: Path) -> None:
    sections = get_task("icu").report_sections(tmp_path, _metrics())
    assert [s.title for s in sections] == ["Stays and deaths per part", "Data quality (PhysioNet 2012 read)"]
    assert all(not s.figures for s in sections)
    html = _html(sections)
    # split: stays, deaths and rate per part, with the protocol
    assert "<tr><td>train</td><td>960</td><td>140</td><td>14.6%</td></tr>" in html
    assert "sets A, B: stratified holdout 80/10/10, seed 7" in html
    # data quality: per-set counts, stays without series, the per-variable table and the listed values
    assert "stays read, set A" in html and "4,000" in html and "140501" in html and "140936" in html
    assert "<tr><th>stays excluded: no time series</th><td>2</td></tr>" in html
    assert "observations after the first 48 h" in html
    assert "<tr><td>pH</td><td>6.5 – 8</td><td>3</td><td>0</td><td>0</td></tr>" in html
    assert "<tr><td>Weight (descriptor)</td><td>20 – 350</td><td>0</td><td>7</td><td>0</td></tr>" in html
    assert "<tr><td>Height (descriptor)</td><td>100 – 250</td><td>0</td><td>4</td><td>0</td></tr>" in html
    assert "<tr><td>Gender (descriptor)</td><td>0, 1</td><td>1</td><td>0</td><td>0</td></tr>" in html
    assert "<tr><td>132539</td><td>2:05</td><td>pH</td><td>73</td></tr>" in html
    assert "set-b/999999.txt" in html and "stays without an outcome row (1)" in html
    assert "Excluded from training and evaluation (data.drop_empty: true)" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_kept_empty_stays_are_said_so(tmp_path: Path) -> None:
    html = _html(get_task("icu_mortality").report_sections(tmp_path, _metrics(drop_empty=False)))
    assert "Kept as all-missing series (data.drop_empty: false)" in html


def test_cv_protocol_names_the_fold(tmp_path: Path) -> None:
    metrics = _metrics()
    metrics["data"]["split"] = {"protocol": "cv", "folds": 5, "fold": 2, "seed": 0, "deaths": {"train": 1, "val": 0, "test": 1}}
    html = _html(get_task("icu").report_sections(tmp_path, metrics))
    assert "stratified 5-fold cross-validation, fold 2 as test" in html


def test_a_metrics_file_without_icu_entries_gives_no_sections(tmp_path: Path) -> None:
    assert get_task("icu").report_sections(tmp_path, {"task": "icu_mortality", "test": {}}) == []
    # malformed optional entries are skipped, never a crash
    assert get_task("icu").report_sections(tmp_path, {"split": [1, 2], "data": {"read": "oops"}}) == []


def test_headline_names_the_stay_split_and_sets_the_published_figures_beside(tmp_path: Path) -> None:
    from medrnn.report.headline import Headline

    metrics = _metrics()
    metrics["test"] = {"overall": {"roc_auc": 0.8, "prc_auc": 0.4}, "headline": "roc_auc"}
    box = get_task("icu").report_sections(tmp_path, metrics)[0]
    assert isinstance(box, Headline)
    assert box.protocol.startswith("stay split: stratified holdout 80/10/10 by In-hospital_death, seed 7")
    assert box.data == "PhysioNet/CinC Challenge 2012, sets A, B: 7,996 stays used of 7,998 read, first 48 h"
    methods = {r.method: r for r in box.references}
    assert methods["GRU-D (set A, 5-fold CV)"].values == {"AUROC": 0.8424} and "Che et al." in methods["GRU-D (set A, 5-fold CV)"].citation
    assert box.comparable.startswith("Protocols differ")
    metrics["data"]["left_out_by_max_stays"] = 3697
    assert get_task("icu").report_sections(tmp_path, metrics)[0].comparable.startswith("Not comparable: this run left 3,697 stays out")
