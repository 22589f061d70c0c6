"""`medrnn predict --figures` on the LIDC world: a strip per input (the slices read, each with its attention weight as a
bar, the consensus outline where the input has one), written as OUT.figures/ITEM__slice_attention.png, on a real
nodule and on the DICOM head series; a figure that fails is noted and the rows stand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medrnn import paths
from medrnn.cli.main import main
from medrnn.predict import Predictor
from medrnn.tasks.base import get_task
from medrnn.train.run import run_task

pytest.importorskip("pydicom")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (paths.dataset_dir("lidc-nodules") / "nodules.csv").exists():
        pytest.skip("lidc-nodules not under the data root")
    task = get_task("lidc")
    cfg = task.quick_config()
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"max_patients": 20}),
                                 "train": cfg.train.model_copy(update={"explain": 0})})  # fmt: skip
    out = tmp_path_factory.mktemp("strip") / "run"
    run_task(task, cfg, out, progress=False)
    return out


def test_strip_shows_the_slices_read_their_attention_and_the_outline(run_dir: Path) -> None:
    nodule = paths.dataset_dir("lidc-nodules") / "LIDC-IDRI-0001" / "nodule-0"  # 9 slices, outlined by 4 radiologists
    predictor = Predictor.from_artifact(run_dir)
    item = predictor.read(str(nodule), {})
    scores = predictor.score(item)
    [(name, fig)] = predictor.task.predict_figures(item, scores, predictor.pipeline)
    assert name == "slice_attention"
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 9 and [ax.get_title() for ax in images][:2] == ["slice 0", "slice 1"]
    assert sum(bool(ax.collections) for ax in images) >= 7  # the consensus outline on the outlined slices
    bars = [ax.patches[0].get_width() for ax in fig.axes if not ax.images and ax.patches]
    assert np.allclose(bars, scores.extras["attention"][0]) and "slice attention" in fig._suptitle.get_text()


def test_predict_figures_flag_writes_one_strip_per_input(run_dir: Path, tmp_path: Path) -> None:
    nodule = paths.dataset_dir("lidc-nodules") / "LIDC-IDRI-0001" / "nodule-0"
    dicom = paths.dataset_dir("dicom-ct") / "GE"
    inputs = [str(p) for p in (nodule, dicom) if p.exists()]
    out = tmp_path / "pred.csv"
    (tmp_path / "pred.figures").mkdir()
    (tmp_path / "pred.figures" / "stale__slice_attention.png").write_bytes(b"old")
    assert main(["predict", "--artifact", str(run_dir), *inputs, "--figures", "--out", str(out)]) == 0
    pngs = sorted((tmp_path / "pred.figures").glob("*.png"))
    assert len(pngs) == len(inputs) and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)  # the stale one is gone
    assert any("GE__slice_attention" in p.name for p in pngs) == dicom.exists()
    assert main(["predict", "--artifact", str(run_dir), inputs[0], "--out", str(tmp_path / "plain.csv")]) == 0
    assert not (tmp_path / "plain.figures").exists()  # without --figures nothing is drawn


def test_a_figure_that_fails_is_noted_and_the_rows_stand(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = Predictor.from_artifact(run_dir)

    def broken(*args: object) -> list:
        raise ValueError("no canvas")

    monkeypatch.setattr(predictor.task, "predict_figures", broken)
    nodule = str(paths.dataset_dir("lidc-nodules") / "LIDC-IDRI-0001" / "nodule-0")
    result = predictor.predict([nodule], figures=True)
    assert result.rows() and not result.failures and result.items[0].figures == {}
    assert result.notes[nodule]["figures"] == "not drawn: ValueError: no canvas"


def test_report_shows_test_nodules_with_outlines_beside_the_attention(run_dir: Path) -> None:
    import json

    from medrnn.report.html import write_report

    examples = json.loads((run_dir / "metrics.json").read_text())["examples"]
    assert 1 <= len(examples) <= 4 and all((run_dir / e["file"]).read_bytes()[:4] == b"\x89PNG" for e in examples)
    assert all(e["slice_attention"] and e["label"] in ("benign", "malignant") for e in examples)
    page = write_report(run_dir).read_text()
    assert any(title in page for title in ("Test nodules: the radiologists&#39; outlines", "Test nodules: the radiologists' outlines"))
    assert page.count("data:image/png;base64") >= len(examples) and examples[0]["nodule"] in page
