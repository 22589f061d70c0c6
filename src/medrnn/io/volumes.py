"""One entry for every volume input a user may give: a NIfTI file, a DICOM series folder, a folder of PNG/TIFF slices
(or a nodule folder with images/ and mask/), or a .zip of any of these folders. No torch here."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from medrnn.errors import InvalidRecordError
from medrnn.io.dicom import read_dicom_series
from medrnn.io.nifti import read_nifti
from medrnn.io.slices import SLICE_SUFFIXES, read_slice_stack
from medrnn.records import VolumeRecord

MAX_ZIP_ENTRIES = 4096
MAX_ZIP_BYTES = 2 << 30  # 2 GiB unpacked: a CT series is a few hundred MB at most


def volume_kind(path: Path) -> str:
    """'nifti', 'zip', 'slices' or 'dicom', from the name or the folder's files."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith(".zip"):
        return "zip"
    if path.is_dir():
        if (path / "images").is_dir() or any(p.suffix.lower() in SLICE_SUFFIXES for p in path.iterdir()):
            return "slices"
        return "dicom"
    if name.endswith(".dcm"):
        return "dicom"
    raise InvalidRecordError(f"{path}: not a volume input; expected a .nii/.nii.gz file, a DICOM series folder, a folder of "
                             f"{'/'.join(SLICE_SUFFIXES)} slices, or a .zip of such a folder")  # fmt: skip


def extract_zip(path: Path, into: Path) -> Path:
    """Unpack a zip under `into`, bounded (entries, bytes, no absolute or '..' names); returns the folder to read."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            if not infos or len(infos) > MAX_ZIP_ENTRIES:
                raise InvalidRecordError(f"{path}: {len(infos)} files in the zip; expected 1..{MAX_ZIP_ENTRIES}")
            if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
                raise InvalidRecordError(f"{path}: the zip unpacks to more than {MAX_ZIP_BYTES} bytes")
            for info in infos:
                parts = PurePosixPath(info.filename.replace("\\", "/"))
                if parts.is_absolute() or ".." in parts.parts or ":" in info.filename:
                    raise InvalidRecordError(f"{path}: entry {info.filename[:80]!r}: absolute or '..' paths are refused")
                target = into.joinpath(*parts.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, target.open("wb") as dst:
                    data = src.read(info.file_size + 1)
                    if len(data) > info.file_size:
                        raise InvalidRecordError(f"{path}: entry {parts.name!r} unpacks past its declared size")
                    dst.write(data)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as err:
        raise InvalidRecordError(f"{path}: not a readable zip archive ({type(err).__name__}: {err})") from err
    entries = [p for p in into.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


def read_volume(path: str | os.PathLike[str], volume: int | None = None, series_uid: str | None = None) -> VolumeRecord:
    """Read any volume input (see the module docstring) with the reader its kind needs; errors name the file and field."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InvalidRecordError(f"{p}: not found; expected a NIfTI file, a DICOM or slice folder, or a .zip of one")
    kind = volume_kind(p)
    if kind == "nifti":
        return read_nifti(p, volume=volume)
    if kind == "slices":
        return read_slice_stack(p)
    if kind == "dicom":
        return read_dicom_series(p, series_uid=series_uid)
    with tempfile.TemporaryDirectory(prefix="medrnn-volume-") as tmp:
        folder = extract_zip(p, Path(tmp))
        inner = volume_kind(folder)
        record = read_slice_stack(folder) if inner == "slices" else read_dicom_series(folder, series_uid=series_uid)
        return VolumeRecord(record.slices, record.spacing_mm, record.modality, p.stem, record.patient_id, record.series_uid,
                            record.mask, record.slice_positions_mm, record.geometry, os.fspath(p))  # fmt: skip


__all__ = ["extract_zip", "read_volume", "volume_kind"]
