"""The LIDC nodule world on real nodules: labels from the explicit scheme, the split by patient, an overfit test of the
slice model on a few nodules, and predict on every volume input kind (nodule folder, DICOM series, NIfTI, zip)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn import paths
from medrnn.data.batch import collate
from medrnn.errors import InvalidRecordError
from medrnn.models import build_model
from medrnn.predict import Predictor
from medrnn.tasks.base import check_split, get_task
from medrnn.tasks.lidc_nodules.config import LidcRunConfig
from medrnn.tasks.lidc_nodules.predict import SliceStacks
from medrnn.train.run import run_task

pytest.importorskip("pydicom")
pytest.importorskip("nibabel")


@pytest.fixture(scope="module")
def lidc_dir() -> Path:
    folder = paths.dataset_dir("lidc-nodules")
    if not (folder / "nodules.csv").exists():
        pytest.skip(f"lidc-nodules not under the data root ({folder}); see shared/data/lidc-nodules/SOURCE.md")
    return folder


def _config(**data: object) -> LidcRunConfig:
    cfg = get_task("lidc").quick_config().model_dump()
    cfg["data"].update(data)
    return LidcRunConfig.model_validate(cfg)


def test_labels_and_patient_split(lidc_dir: Path) -> None:
    task = get_task("lidc_nodules")
    binary = task.load(_config(max_patients=30))
    three = task.load(_config(max_patients=30, labels="three_class"))
    assert set(np.unique(binary.samples.y)) == {0.0, 1.0} and binary.info["left_out_by_label"]["indeterminate"] > 0
    assert len(three) == len(binary) + binary.info["left_out_by_label"]["indeterminate"]
    assert set(np.unique(three.samples.y)) == {0.0, 1.0, 2.0}
    split = task.split(binary, _config(max_patients=30))
    check_split(binary.units, split)  # every nodule of a patient on one side
    patients = [set(binary.units[part]) for part in split]
    assert sum(len(p) for p in patients) == len(set(binary.units))
    pipeline = task.fit_pipeline(three, task.split(three, _config(labels="three_class")), _config(labels="three_class"))
    assert pipeline.output_kind == "multiclass" and pipeline.label_names == ["benign", "indeterminate", "malignant"]


def test_slice_model_overfits_a_few_real_nodules(lidc_dir: Path) -> None:
    torch.manual_seed(0)
    task = get_task("lidc")
    cfg = _config(max_patients=12, crop_px=16, max_slices=8)
    data = task.load(cfg)
    index = np.concatenate([np.flatnonzero(data.samples.y == k)[:4] for k in (0, 1)])
    split = type(task.split(data, cfg))(index, index, index)
    pipeline = task.fit_pipeline(data, split, cfg)
    model = build_model("slice_rnn", cfg.model.model_copy(update={"cnn_channels": 8, "hidden_size": 16, "head_hidden": 0, "dropout": 0.0}),
                        input_size=pipeline.input_size, in_channels=1, num_classes=1)  # fmt: skip
    chosen = task.subset(data, index)
    batch = collate([SliceStacks(pipeline.features(chosen), chosen.y, False, 16)[i] for i in range(len(index))])
    assert len(set(batch.lengths.tolist())) > 1  # nodules of different slice counts, padded in one batch
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch).logits, batch.y)
        loss.backward()
        optimiser.step()
    with torch.no_grad():  # memorised in training mode (batch statistics): the batch the loss saw
        probs = torch.sigmoid(model(batch).logits)[:, 0].numpy()
    assert loss.item() < 0.05 and ((probs > 0.5) == (chosen.y == 1)).all()


def test_training_stacks_are_augmented_reproducibly(lidc_dir: Path) -> None:
    pytest.importorskip("monai")
    task = get_task("lidc")
    cfg = _config(max_patients=12)
    data = task.load(cfg)
    split = task.split(data, cfg)
    pipeline = task.fit_pipeline(data, split, cfg)
    first = [task.loaders(data, split, pipeline, cfg)[0].dataset[i][0] for i in range(6)]
    again = [task.loaders(data, split, pipeline, cfg)[0].dataset[i][0] for i in range(6)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # the run seed fixes every draw
    plain = pipeline.features(task.subset(data, split.train))[:6]
    assert any(a.shape != p.shape or not np.allclose(a.numpy(), p) for a, p in zip(first, plain))
    off = cfg.model_copy(update={"train": cfg.train.model_copy(update={"flip": False, "rotate_deg": 0.0, "intensity_scale": 0.0,
                                                                       "intensity_shift": 0.0, "slice_dropout": 0.0})})  # fmt: skip
    unchanged = [task.loaders(data, split, pipeline, off)[0].dataset[i][0].numpy() for i in range(6)]
    assert all(np.array_equal(a, p) for a, p in zip(unchanged, plain))


def test_predict_reads_every_volume_kind(lidc_dir: Path, tmp_path: Path) -> None:
    task = get_task("lidc")
    run_task(task, task.quick_config(), tmp_path / "run", progress=False)
    predictor = Predictor.from_artifact(tmp_path / "run")
    nodule = lidc_dir / "LIDC-IDRI-0003" / "nodule-0"
    archive = tmp_path / "nodule.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(nodule.rglob("*.png")):
            z.write(p, f"nodule-0/{p.relative_to(nodule)}")
    dicom = paths.dataset_dir("dicom-ct") / "GE"
    nifti = paths.dataset_dir("nifti")
    inputs = [nodule, archive, dicom, nifti / "anatomical.nii", nifti / "example4d.nii.gz"]
    result = predictor.predict([i for i in inputs if i.exists()])
    rows = {r["item_id"]: r for r in result.rows()}
    assert rows[str(nodule)]["p_malignant"] == pytest.approx(rows[str(archive)]["p_malignant"])
    assert rows[str(nodule)]["n_slices"] == 8 and len(rows[str(nodule)]["slice_attention"].split()) == 8
    if dicom.exists():
        assert 0.0 <= rows[str(dicom)]["p_malignant"] <= 1.0 and rows[str(dicom)]["n_slices"] == 28
        notes = result.notes[str(dicom)]
        assert notes["geometry"]["gantry_tilt_deg"] == pytest.approx(18.5, abs=0.05) and "central 32x32" in notes["cropped"]
        assert "lung window" in notes["intensity"]
    if (nifti / "example4d.nii.gz").exists():  # 4-D without --volume: a failure naming the file, the others go on
        assert "2 volumes" in result.failures[str(nifti / "example4d.nii.gz")]["message"]
        assert "p_malignant" in predictor.predict([nifti / "example4d.nii.gz"], volume=0).rows()[0]
    with pytest.raises(InvalidRecordError, match="slices of 8x8 pixels; the model reads 32x32 crops"):
        from PIL import Image

        small = tmp_path / "small"
        small.mkdir()
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(small / "slice-0.png")
        task.read_input(str(small), predictor.pipeline, {})
