"""Volume readers on the shared real files (the tilted, unevenly spaced GE head CT; nibabel's LAS T1 and 4-D EPI; LIDC
nodule crops) and on broken copies written here: each error names the file and the field."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medrnn import paths
from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.io.dicom import WINDOWS, apply_window, read_dicom_series
from medrnn.io.lidc import read_lidc_nodule, read_lidc_table
from medrnn.io.nifti import read_nifti
from medrnn.io.slices import read_slice_stack
from medrnn.io.volumes import read_volume

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")


def _shared(name: str, probe: str) -> Path:
    folder = paths.dataset_dir(name)
    if not (folder / probe).exists():
        pytest.skip(f"{name} not under the data root ({folder}); see shared/data/{name}/SOURCE.md")
    return folder


@pytest.fixture(scope="module")
def ge_dir() -> Path:
    return _shared("dicom-ct", "GE/01.dcm") / "GE"


@pytest.fixture(scope="module")
def nifti_dir() -> Path:
    return _shared("nifti", "anatomical.nii")


@pytest.fixture(scope="module")
def lidc_dir() -> Path:
    return _shared("lidc-nodules", "nodules.csv")


@pytest.fixture(scope="module")
def ge_series(ge_dir: Path):  # noqa: ANN201
    return read_dicom_series(ge_dir)


def _copy(ge_dir: Path, tmp: Path, names: list[str]) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copyfile(ge_dir / n, tmp / n)
    return tmp


# ---- slice stacks ---------------------------------------------------------------------------------------------------
def _write_stack(folder: Path, numbers: list[int], size: int = 8, name: str = "slice-{}.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in numbers:
        Image.fromarray(np.full((size, size), n, dtype=np.uint8)).save(folder / name.format(n))
    return folder


def test_slice_stack_is_in_natural_order(tmp_path: Path) -> None:
    folder = _write_stack(tmp_path / "s", list(range(12)))  # slice-10 sorts before slice-2 as text
    record = read_slice_stack(folder, spacing_mm=(2.5, 0.7, 0.7))
    assert record.slices[:, 0, 0].tolist() == list(range(12))
    assert record.slices.dtype == np.float32 and record.spacing_mm == (2.5, 0.7, 0.7)
    np.testing.assert_allclose(record.slice_positions_mm, np.arange(12) * 2.5)


def test_slice_stack_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRecordError, match="slice number 3 appears twice"):
        read_slice_stack(_write_stack(_write_stack(tmp_path / "dup", [3]), [3], name="img_{}.png"))
    with pytest.raises(InvalidRecordError, match="notes.png: file name has no slice number"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(_write_stack(tmp_path / "nonum", [0]) / "notes.png")
        read_slice_stack(tmp_path / "nonum")
    folder = _write_stack(tmp_path / "sizes", [0, 1])
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(folder / "slice-2.png")
    with pytest.raises(InvalidRecordError, match=r"slice-2.png.*every slice of a stack must have one size"):
        read_slice_stack(folder)
    colour = tmp_path / "rgb"
    colour.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(colour / "slice-0.png")
    with pytest.raises(InvalidRecordError, match="slice-0.png: image mode RGB"):
        read_slice_stack(colour)
    with pytest.raises(InvalidRecordError, match="no slice images"):
        read_slice_stack(_write_stack(tmp_path / "empty", []))


def test_lidc_nodule_has_its_slices_outline_and_spacing(lidc_dir: Path) -> None:
    rows = {r.nodule_id: r for r in read_lidc_table(lidc_dir)}
    assert len(rows) == 2097 and {r.label for r in rows.values()} == {"benign", "indeterminate", "malignant"}
    row = rows["LIDC-IDRI-0001/nodule-0"]
    record = read_lidc_nodule(lidc_dir, row)
    assert record.shape == (row.n_slices, 64, 64) and record.modality == "CT"
    assert record.mask is not None and record.mask.shape == record.shape and 0 <= record.mask.min() and record.mask.max() <= 4
    assert record.spacing_mm == (2.5, 0.703125, 0.703125) and record.patient_id == "LIDC-IDRI-0001"
    assert 0 <= record.slices.min() and record.slices.max() <= 255


# ---- DICOM ----------------------------------------------------------------------------------------------------------
def test_tilted_uneven_series_is_ordered_measured_and_in_hu(ge_series) -> None:  # noqa: ANN001
    v = ge_series
    assert v.shape == (28, 512, 512) and v.modality == "CT" and v.slices.dtype == np.float32
    assert v.geometry["instance_numbers"] == list(range(1, 29))  # position order agrees with InstanceNumber here
    assert np.all(np.diff(v.slice_positions_mm) > 0)
    assert v.geometry["gantry_tilt_tag_deg"] == pytest.approx(18.5) and v.geometry["gantry_tilt_deg"] == pytest.approx(18.5, abs=0.05)
    assert v.geometry["tilted"] and v.geometry["uneven_spacing"]
    assert {4.0, 7.0} <= set(v.geometry["spacing_mm"]["distinct"])  # SliceThickness 4 mm, then 7 mm
    assert v.spacing_mm[1:] == pytest.approx((0.4882812, 0.4882812))
    assert v.slices.min() == -1500 and v.slices.max() == 2121  # slope 1, intercept 0: stored values are HU
    brain = apply_window(v.slices[14], "brain")
    assert 0.0 <= brain.min() and brain.max() <= 1.0 and 0.05 < float((brain > 0).mean()) < 0.95


def test_order_follows_position_not_file_names(ge_dir: Path, tmp_path: Path) -> None:
    names = [f"{k:02d}.dcm" for k in (1, 2, 3, 15, 16)]
    for k, n in enumerate(names):  # reversed names: z-99.dcm is the first slice
        shutil.copyfile(ge_dir / n, tmp_path / f"z-{99 - k}.dcm")
    (tmp_path / "README.txt").write_text("not dicom")
    v = read_dicom_series(tmp_path)
    assert v.geometry["instance_numbers"] == [1, 2, 3, 15, 16]
    assert v.geometry["files_skipped"] == {"README.txt": "not a DICOM file (no DICM preamble)"}
    assert v.geometry["uneven_spacing"]


def test_dicom_errors_name_file_and_tag(ge_dir: Path, tmp_path: Path) -> None:
    folder = _copy(ge_dir, tmp_path / "missing", ["01.dcm", "02.dcm"])
    ds = pydicom.dcmread(folder / "02.dcm")
    del ds.ImagePositionPatient
    ds.save_as(folder / "02.dcm")
    with pytest.raises(InvalidRecordError, match=r"02.dcm: missing tag ImagePositionPatient"):
        read_dicom_series(folder)

    folder = _copy(ge_dir, tmp_path / "mixed", ["01.dcm", "02.dcm", "03.dcm"])
    ds = pydicom.dcmread(folder / "03.dcm")
    ds.SeriesInstanceUID = "1.2.3.4"
    ds.save_as(folder / "03.dcm")
    with pytest.raises(InvalidRecordError, match=r"mixed series: 2 SeriesInstanceUIDs .*1\.2\.3\.4 \(1 files, e.g. 03.dcm\)"):
        read_dicom_series(folder)
    assert len(read_dicom_series(folder, series_uid="1.2.3.4")) == 1

    folder = _copy(ge_dir, tmp_path / "jpegls", ["01.dcm"])
    ds = pydicom.dcmread(folder / "01.dcm")
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGLSLossless
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8\xff\xf7" + bytes(64)])
    ds["PixelData"].VR = "OB"
    ds.save_as(folder / "01.dcm", enforce_file_format=True)
    with pytest.raises(InvalidRecordError, match=r"01.dcm: transfer syntax JPEG-LS Lossless.*compressed.*pip install pyjpegls"):
        read_dicom_series(folder)

    with pytest.raises(InvalidRecordError, match="no DICOM files"):
        read_dicom_series(_write_stack(tmp_path / "pngs", [0]))
    with pytest.raises(ConfigError, match="presets: lung, mediastinum, brain"):
        apply_window(np.zeros(3), "bone")
    assert apply_window(np.array([-1350.0, -600.0, 150.0]), "lung").tolist() == [0.0, 0.5, 1.0]
    assert set(WINDOWS) == {"lung", "mediastinum", "brain"}


# ---- NIfTI ----------------------------------------------------------------------------------------------------------
def test_nifti_is_reoriented_to_ras(nifti_dir: Path) -> None:
    raw = nib.load(nifti_dir / "anatomical.nii")
    assert nib.aff2axcodes(raw.affine) == ("L", "A", "S")
    v = read_nifti(nifti_dir / "anatomical.nii", modality="MR")
    data = np.asarray(raw.get_fdata(), dtype=np.float32)[::-1]  # L -> R: the first axis flips
    assert v.shape == (25, 41, 33) and v.spacing_mm == (2.0, 2.0, 2.0)
    np.testing.assert_array_equal(v.slices, np.transpose(data, (2, 1, 0)))
    assert v.geometry["orientation_in_file"] == "LAS" and np.all(np.diff(v.slice_positions_mm) == 2.0)


def test_nifti_orientation_round_trip(tmp_path: Path) -> None:
    """A volume stored in an odd orientation (axes z, y, x flipped) reads back as the RAS volume it came from."""
    ras = np.random.default_rng(0).normal(size=(6, 5, 4)).astype(np.float32)  # (x, y, z), zooms 1.5, 2, 3
    stored = np.transpose(ras, (2, 1, 0))[:, ::-1]  # file axes: (z, y flipped, x)
    affine = np.zeros((4, 4))
    affine[2, 0], affine[1, 1], affine[0, 2], affine[3, 3] = 3.0, -2.0, 1.5, 1.0
    affine[1, 3] = 2.0 * (ras.shape[1] - 1)  # the flipped y axis starts at the far end
    nib.save(nib.Nifti1Image(stored, affine), tmp_path / "odd.nii.gz")
    v = read_nifti(tmp_path / "odd.nii.gz")
    assert v.volume_id == "odd" and v.spacing_mm == (3.0, 2.0, 1.5)
    np.testing.assert_allclose(v.slices, np.transpose(ras, (2, 1, 0)), atol=1e-6)


def test_4d_nifti_needs_a_volume_and_bad_files_are_named(nifti_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidRecordError, match=r"example4d.nii.gz: 4-D image \(128, 96, 24, 2\) with 2 volumes"):
        read_nifti(nifti_dir / "example4d.nii.gz")
    v = read_nifti(nifti_dir / "example4d.nii.gz", volume=1)
    assert v.shape == (24, 96, 128) and v.spacing_mm == pytest.approx((2.2, 2.0, 2.0), abs=1e-5)
    with pytest.raises(InvalidRecordError, match="volume 2 out of range"):
        read_nifti(nifti_dir / "example4d.nii.gz", volume=2)
    (tmp_path / "junk.nii").write_bytes(b"not a nifti header" * 30)
    with pytest.raises(InvalidRecordError, match="junk.nii: not a readable NIfTI file"):
        read_nifti(tmp_path / "junk.nii")
    with pytest.raises(InvalidRecordError, match="missing.nii: NIfTI file not found"):
        read_nifti(tmp_path / "missing.nii")


# ---- any volume input -----------------------------------------------------------------------------------------------
def test_read_volume_dispatches_and_unzips_safely(lidc_dir: Path, ge_dir: Path, nifti_dir: Path, tmp_path: Path) -> None:
    nodule = lidc_dir / "LIDC-IDRI-0003" / "nodule-0"
    archive = tmp_path / "nodule.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(nodule.rglob("*.png")):
            z.write(p, f"nodule-0/{p.relative_to(nodule)}")
    from_zip = read_volume(archive)
    direct = read_volume(nodule)
    np.testing.assert_array_equal(from_zip.slices, direct.slices)
    np.testing.assert_array_equal(from_zip.mask, direct.mask)
    assert read_volume(nifti_dir / "anatomical.nii").shape == (25, 41, 33)
    dicom_zip = tmp_path / "ct.zip"
    with zipfile.ZipFile(dicom_zip, "w") as z:
        for n in ("01.dcm", "02.dcm"):
            z.write(ge_dir / n, f"series/{n}")
    assert read_volume(dicom_zip).shape == (2, 512, 512)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escape.png", b"x")
    with pytest.raises(InvalidRecordError, match=r"evil.zip: entry '../escape.png': absolute or '..' paths are refused"):
        read_volume(evil)
    with pytest.raises(InvalidRecordError, match="not a volume input"):
        read_volume(Path(__file__))


# ---- MedMNIST 3-D ---------------------------------------------------------------------------------------------------
def test_medmnist3d_official_splits_and_bad_files(tmp_path: Path) -> None:
    from medrnn.io.medmnist import read_medmnist3d

    path = _shared("medmnist3d", "adrenalmnist3d.npz") / "adrenalmnist3d.npz"
    sizes = {s: read_medmnist3d(path, s) for s in ("train", "val", "test")}
    assert {s: len(v[0]) for s, v in sizes.items()} == {"train": 1188, "val": 98, "test": 298}
    images, labels = sizes["test"]
    assert images.shape[1:] == (28, 28, 28) and set(np.unique(images)) == {0, 255} and int(labels.sum()) == 69
    with pytest.raises(InvalidRecordError, match="split 'dev'; the official splits are train, val, test"):
        read_medmnist3d(path, "dev")
    np.savez(tmp_path / "short.npz", train_images=np.zeros((3, 4, 4, 4), np.uint8), train_labels=np.zeros((2, 1), np.uint8))
    with pytest.raises(InvalidRecordError, match=r"short.npz: train_labels has shape \(2, 1\); expected \(3, 1\)"):
        read_medmnist3d(tmp_path / "short.npz", "train")
    with pytest.raises(InvalidRecordError, match="short.npz: missing key test_images"):
        read_medmnist3d(tmp_path / "short.npz", "test")
