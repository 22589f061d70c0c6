"""DICOM series -> VolumeRecord in Hounsfield units (pydicom). No torch here.

Files are grouped by SeriesInstanceUID and ordered by the projection of ImagePositionPatient on the slice normal
(row x column direction of ImageOrientationPatient), never by InstanceNumber or file name. The reader measures, and
reports in `VolumeRecord.geometry`, what a model cannot see in the pixels: gantry tilt (the angle between the step
from one slice to the next and the normal; also the GantryDetectorTilt tag) and uneven spacing between slices.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.errors import ConfigError, InvalidRecordError, MedrnnError
from medrnn.records import VolumeRecord

REQUIRED = ("SeriesInstanceUID", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows", "Columns")
MAX_FILES = 4096
SPACING_TOLERANCE_MM = 0.05  # steps differing by more than this (or 1 %) are "uneven spacing"
TILT_TOLERANCE_DEG = 0.1
# window presets (centre, width) in HU: the usual radiology settings
WINDOWS: dict[str, tuple[float, float]] = {"lung": (-600.0, 1500.0), "mediastinum": (50.0, 350.0), "brain": (40.0, 80.0)}
# compressed transfer syntaxes -> the packages pydicom decodes them with
DECODERS: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg pylibjpeg-libjpeg (or pillow)",  # JPEG baseline
    "1.2.840.10008.1.2.4.51": "pylibjpeg pylibjpeg-libjpeg (or pillow)",  # JPEG extended
    "1.2.840.10008.1.2.4.57": "pylibjpeg pylibjpeg-libjpeg",  # JPEG lossless
    "1.2.840.10008.1.2.4.70": "pylibjpeg pylibjpeg-libjpeg",  # JPEG lossless SV1
    "1.2.840.10008.1.2.4.80": "pyjpegls (or pylibjpeg pylibjpeg-libjpeg)",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.81": "pyjpegls (or pylibjpeg pylibjpeg-libjpeg)",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg pylibjpeg-openjpeg",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg pylibjpeg-openjpeg",  # JPEG 2000
    "1.2.840.10008.1.2.5": "pylibjpeg pylibjpeg-rle",  # RLE lossless
}


def apply_window(hu: np.ndarray, preset: str | tuple[float, float]) -> np.ndarray:
    """Hounsfield units -> float32 in [0, 1] through a window (a preset name or (centre, width))."""
    if isinstance(preset, str):
        if preset not in WINDOWS:
            raise ConfigError(f"window {preset!r}; presets: {', '.join(WINDOWS)} (or give (centre, width) in HU)")
        preset = WINDOWS[preset]
    centre, width = float(preset[0]), float(preset[1])
    if not width > 0:
        raise ConfigError(f"window width {width}; it must be positive HU")
    return np.clip((np.asarray(hu, dtype=np.float32) - (centre - width / 2)) / width, 0.0, 1.0).astype(np.float32)


def _pydicom() -> Any:
    try:
        import pydicom
    except ImportError as err:
        raise ConfigError("reading DICOM needs pydicom: pip install 'medrnn[imaging]' (or pip install pydicom)") from err
    return pydicom


def dicom_files(path: Path) -> list[Path]:
    """The regular files under a folder (recursively), or the one file given."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InvalidRecordError(f"{path}: not found; expected a DICOM series folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if len(files) > MAX_FILES:
        raise InvalidRecordError(f"{path}: {len(files)} files; at most {MAX_FILES} are read as one series")
    return files


def read_headers(files: list[Path]) -> tuple[list[tuple[Path, Any]], dict[str, str]]:
    """(file, dataset without pixels) of every DICOM file, and {file: why it is not DICOM} for the others."""
    pydicom = _pydicom()
    headers, skipped = [], {}
    for f in files:
        try:
            headers.append((f, pydicom.dcmread(f, stop_before_pixels=True)))
        except pydicom.errors.InvalidDicomError:
            skipped[f.name] = "not a DICOM file (no DICM preamble)"
        except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, OverflowError) as err:
            raise InvalidRecordError(f"{f}: unreadable DICOM header ({type(err).__name__}: {err})") from err
    return headers, skipped


def choose_series(headers: list[tuple[Path, Any]], folder: Path, series_uid: str | None) -> list[tuple[Path, Any]]:
    """The files of one series: the only one, or `series_uid`; several series without a choice is an error listing them."""
    groups: dict[str, list[tuple[Path, Any]]] = {}
    for f, ds in headers:
        if "SeriesInstanceUID" not in ds:
            raise InvalidRecordError(f"{f}: missing tag SeriesInstanceUID (0020,000E); cannot tell which series the file belongs to")
        groups.setdefault(str(ds.SeriesInstanceUID), []).append((f, ds))
    if series_uid is not None:
        if series_uid not in groups:
            raise InvalidRecordError(f"{folder}: no series {series_uid!r}; series found: {', '.join(groups)}")
        return groups[series_uid]
    if len(groups) > 1:
        listed = "; ".join(f"{uid} ({len(g)} files, e.g. {g[0][0].name})" for uid, g in groups.items())
        raise InvalidRecordError(f"{folder}: mixed series: {len(groups)} SeriesInstanceUIDs ({listed}); one series per folder "
                                 "expected, or choose one with series_uid")  # fmt: skip
    return next(iter(groups.values()))


def _vector(ds: Any, f: Path, tag: str, n: int) -> np.ndarray:
    if tag not in ds or ds.data_element(tag).value in (None, ""):
        raise InvalidRecordError(f"{f}: missing tag {tag}; expected {n} numbers (needed to place the slice in space)")
    try:
        v = np.array([float(x) for x in ds.data_element(tag).value], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidRecordError(f"{f}: {tag} is {ds.data_element(tag).value!r}; expected {n} numbers") from err
    if v.shape != (n,) or not np.isfinite(v).all():
        raise InvalidRecordError(f"{f}: {tag} holds {v.size} values {v.tolist()}; expected {n} finite numbers")
    return v


def slice_geometry(series: list[tuple[Path, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order of the files along the normal, positions on it in mm, the normal, pixel spacing (row, col))."""
    for f, ds in series:
        missing = [t for t in REQUIRED if t not in ds]
        if missing:
            raise InvalidRecordError(f"{f}: missing tag{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                                     f"a slice of a series needs {', '.join(REQUIRED)}")  # fmt: skip
    f0, ds0 = series[0]
    orientation = _vector(ds0, f0, "ImageOrientationPatient", 6)
    for f, ds in series[1:]:
        if not np.allclose(_vector(ds, f, "ImageOrientationPatient", 6), orientation, atol=1e-4):
            raise InvalidRecordError(f"{f}: ImageOrientationPatient differs from {f0.name}'s; one orientation per series expected")
    normal = np.cross(orientation[:3], orientation[3:])
    if not 0.99 < np.linalg.norm(normal) < 1.01:
        raise InvalidRecordError(f"{f0}: ImageOrientationPatient {orientation.tolist()} is not two orthogonal unit vectors")
    positions = np.array([_vector(ds, f, "ImagePositionPatient", 3) @ normal for f, ds in series])
    order = np.argsort(positions, kind="stable")
    sorted_pos = positions[order]
    same = np.flatnonzero(np.diff(sorted_pos) < 1e-3)
    if same.size:
        a, b = series[order[same[0]]][0].name, series[order[same[0] + 1]][0].name
        raise InvalidRecordError(f"{f0.parent}: {a} and {b} lie at the same position {sorted_pos[same[0]]:.3f} mm along the "
                                 "slice normal (two acquisitions or echoes in one series?)")  # fmt: skip
    spacing = _vector(ds0, f0, "PixelSpacing", 2)
    if (spacing <= 0).any():
        raise InvalidRecordError(f"{f0}: PixelSpacing {spacing.tolist()}; expected positive millimetres")
    return order, sorted_pos, normal, spacing


def measure_geometry(series: list[tuple[Path, Any]], order: np.ndarray, positions: np.ndarray, normal: np.ndarray) -> dict[str, Any]:
    """Gantry tilt (tag and measured) and the spacing between slices: what a model reading slices should know."""
    ipp = np.array([_vector(series[i][1], series[i][0], "ImagePositionPatient", 3) for i in order])
    steps = np.diff(positions)
    out: dict[str, Any] = {"normal": [round(float(v), 6) for v in normal]}
    tag = series[0][1].get("GantryDetectorTilt")
    out["gantry_tilt_tag_deg"] = float(tag) if tag not in (None, "") else None
    if len(series) > 1:
        moves = np.diff(ipp, axis=0)
        cosines = np.clip(np.abs(moves @ normal) / np.linalg.norm(moves, axis=1), 0.0, 1.0)
        out["gantry_tilt_deg"] = round(float(np.degrees(np.arccos(cosines)).max()), 3)
        unique = np.unique(np.round(steps, 2))
        out["spacing_mm"] = {"min": round(float(steps.min()), 4), "max": round(float(steps.max()), 4),
                             "median": round(float(np.median(steps)), 4), "distinct": unique.tolist()[:20]}  # fmt: skip
        spread = steps.max() - steps.min()
        out["uneven_spacing"] = bool(spread > max(SPACING_TOLERANCE_MM, 0.01 * float(np.median(steps))))
    else:
        out["gantry_tilt_deg"], out["uneven_spacing"] = 0.0, False
    out["tilted"] = bool(out["gantry_tilt_deg"] > TILT_TOLERANCE_DEG or abs(out["gantry_tilt_tag_deg"] or 0.0) > TILT_TOLERANCE_DEG)
    return out


def decoder_available(ts: Any) -> bool:
    """Whether pydicom has a working decoder for transfer syntax `ts` (pydicom >= 3 asks its plugins; older: try)."""
    try:
        from pydicom.pixels import get_decoder
    except ImportError:
        return True  # pydicom 2: decoding itself tells
    try:
        return bool(get_decoder(ts).is_available)
    except (NotImplementedError, ValueError, KeyError):
        return False


def decode_pixels(f: Path) -> np.ndarray:
    """The stored pixels of one file; a compressed transfer syntax without its decoder names the package to install."""
    pydicom = _pydicom()
    try:
        ds = pydicom.dcmread(f)
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise InvalidRecordError(f"{f}: unreadable DICOM file ({type(err).__name__}: {err})") from err
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise InvalidRecordError(f"{f}: NumberOfFrames {ds.NumberOfFrames}: multi-frame (enhanced) DICOM is not read; "
                                 "convert it to single-frame slices (e.g. dcm2niix to NIfTI)")  # fmt: skip
    if "PixelData" not in ds:
        raise InvalidRecordError(f"{f}: missing tag PixelData (7FE0,0010); the file holds no image")
    if ts is not None and getattr(ts, "is_compressed", False) and not decoder_available(ts):
        package = DECODERS.get(str(ts), "pylibjpeg with the plugin for this syntax, or python-gdcm")
        raise InvalidRecordError(f"{f}: transfer syntax {ts.name} ({ts}) is compressed and no installed decoder reads it; "
                                 f"install one: pip install {package}")  # fmt: skip
    try:
        return np.asarray(ds.pixel_array)
    except (RuntimeError, NotImplementedError, ValueError, AttributeError, TypeError, ImportError) as err:
        if ts is not None and getattr(ts, "is_compressed", False):
            package = DECODERS.get(str(ts), "pylibjpeg with the plugin for this syntax, or python-gdcm")
            raise InvalidRecordError(f"{f}: transfer syntax {ts.name} ({ts}) is compressed and no installed decoder reads it; "
                                     f"install one: pip install {package}") from err  # fmt: skip
        raise InvalidRecordError(f"{f}: cannot decode PixelData ({type(err).__name__}: {err})") from err


def to_hounsfield(pixels: np.ndarray, ds: Any, f: Path) -> np.ndarray:
    """Stored values -> HU (or the modality's units) with RescaleSlope/Intercept (absent: 1 and 0, as the standard says)."""
    try:
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    except (TypeError, ValueError) as err:
        raise InvalidRecordError(f"{f}: RescaleSlope/RescaleIntercept are not numbers ({err})") from err
    if not (np.isfinite(slope) and np.isfinite(intercept)):
        raise InvalidRecordError(f"{f}: RescaleSlope {slope} / RescaleIntercept {intercept} are not finite")
    return (pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def read_dicom_series(path: str | os.PathLike[str], series_uid: str | None = None) -> VolumeRecord:
    """Read one DICOM series (a folder, searched recursively) into a VolumeRecord of HU slices along the slice normal.

    `geometry` reports gantry tilt (tag and measured), the spacing between slices and whether it is uneven, and the
    files that were not DICOM (listed, never silently dropped). `spacing_mm[0]` is the median step along the normal.

    Raises
    ------
    InvalidRecordError
        Naming the file and tag: no DICOM files, mixed series (without `series_uid`), a missing or malformed tag
        (SeriesInstanceUID, ImagePositionPatient, ImageOrientationPatient, PixelSpacing, Rows, Columns, PixelData),
        orientations that differ, two slices at one position, slices of different sizes, a compressed transfer syntax
        without its decoder (the package to install is named), multi-frame files. No other exception type leaves.
    """
    try:
        folder = Path(path).expanduser()
        headers, skipped = read_headers(dicom_files(folder))
        if not headers:
            raise InvalidRecordError(f"{folder}: no DICOM files (files seen: {len(skipped)}); expected .dcm slices of one series")
        series = choose_series(headers, folder, series_uid)
        order, positions, normal, spacing = slice_geometry(series)
        geometry = measure_geometry(series, order, positions, normal)
        slices = []
        for i in order:
            f, ds = series[i]
            pixels = decode_pixels(f)
            if pixels.shape != (int(ds.Rows), int(ds.Columns)):
                raise InvalidRecordError(f"{f}: pixels {pixels.shape}, expected Rows x Columns = {int(ds.Rows)} x {int(ds.Columns)}")
            if slices and pixels.shape != slices[0].shape:
                raise InvalidRecordError(f"{f}: slice of {pixels.shape} pixels in a series of {slices[0].shape}")
            slices.append(to_hounsfield(pixels, ds, f))
        volume = np.stack(slices)
        if not np.isfinite(volume).all():
            raise InvalidRecordError(f"{folder}: non-finite values after rescaling")
        ds0 = series[order[0]][1]
        step = float(np.median(np.diff(positions))) if len(positions) > 1 else float(ds0.get("SliceThickness", 1.0) or 1.0)
        geometry |= {"files_skipped": skipped, "instance_numbers": [int(series[i][1].get("InstanceNumber", -1) or -1) for i in order],
                     "files": [series[i][0].name for i in order]}  # fmt: skip
        patient = str(ds0.get("PatientID", "") or folder.name)
        uid = str(ds0.SeriesInstanceUID)
        return VolumeRecord(volume, (step, float(spacing[0]), float(spacing[1])), str(ds0.get("Modality", "") or ""),
                            folder.name if folder.is_dir() else folder.stem, patient, uid,
                            slice_positions_mm=positions.astype(np.float64), geometry=geometry, source=os.fspath(folder))  # fmt: skip
    except MedrnnError:
        raise
    except Exception as err:  # noqa: BLE001  last resort: a reader never lets a foreign exception out
        raise InvalidRecordError(f"{path}: unexpected {type(err).__name__} while reading the DICOM series ({err})") from err


__all__ = ["DECODERS", "WINDOWS", "apply_window", "read_dicom_series"]
