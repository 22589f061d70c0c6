"""Slice stacks: a folder of PNG/TIFF images, one per slice, in the natural order of the slice numbers in their names
(`slice-9.png` before `slice-10.png`), as the LIDC nodule crops come. No torch here."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.records import VolumeRecord

SLICE_SUFFIXES = (".png", ".tif", ".tiff")
MAX_SLICES = 4096  # a CT series has at most a few thousand slices; more files is not a slice stack
MAX_PIXELS = 4096 * 4096
_NUMBER = re.compile(r"(\d+)")


def slice_number(path: Path) -> int:
    """The last integer in a file's stem (`slice-10.png` -> 10); a name without one is an error naming it."""
    numbers = _NUMBER.findall(path.stem)
    if not numbers:
        raise InvalidRecordError(f"{path}: file name has no slice number; expected names like slice-0.png, slice-1.png, ...")
    return int(numbers[-1])


def slice_files(folder: Path) -> list[Path]:
    """The PNG/TIFF files of `folder` in slice order; duplicate numbers and an empty folder are errors naming it."""
    try:
        files = [p for p in folder.iterdir() if p.suffix.lower() in SLICE_SUFFIXES and not p.name.startswith(".")]
    except OSError as err:
        raise InvalidRecordError(f"{folder}: cannot list the slice folder ({err.strerror or err})") from err
    if not files:
        raise InvalidRecordError(f"{folder}: no slice images; expected {', '.join(SLICE_SUFFIXES)} files named by slice number")
    if len(files) > MAX_SLICES:
        raise InvalidRecordError(f"{folder}: {len(files)} slice files; at most {MAX_SLICES} are read as one volume")
    numbered = sorted((slice_number(p), p.name, p) for p in files)
    seen: dict[int, str] = {}
    for n, name, _ in numbered:
        if n in seen:
            raise InvalidRecordError(f"{folder}: slice number {n} appears twice ({seen[n]}, {name}); one file per slice expected")
        seen[n] = name
    return [p for _, _, p in numbered]


def read_image(path: Path) -> np.ndarray:
    """One grey-level image as float32 (height, width) in its stored levels (8- or 16-bit, or float TIFF)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InvalidRecordError(f"{path}: image of {image.width}x{image.height} pixels; at most {MAX_PIXELS} per slice")
            if getattr(image, "n_frames", 1) > 1:
                raise InvalidRecordError(f"{path}: {image.n_frames} frames in one file; a slice stack has one image per file")
            if image.mode not in ("L", "I", "I;16", "I;16B", "I;16L", "F", "1"):
                raise InvalidRecordError(f"{path}: image mode {image.mode}; expected a grey-level image (8/16-bit or float), "
                                         "not colour (convert it to grey first)")  # fmt: skip
            pixels = np.asarray(image, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise InvalidRecordError(f"{path}: not a readable PNG/TIFF image ({err})") from err
    if not np.isfinite(pixels).all():
        raise InvalidRecordError(f"{path}: pixel values are not all finite")
    return pixels


def read_stack(folder: Path, role: str = "slices") -> tuple[list[Path], np.ndarray]:
    """The slice files of `folder` and their pixels (n_slices, height, width); slices of different sizes are an error."""
    files = slice_files(folder)
    images = [read_image(p) for p in files]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        first = images[0].shape
        odd = next(p for p, im in zip(files, images) if im.shape != first)
        raise InvalidRecordError(f"{odd}: {role} of {odd.name} is {images[files.index(odd)].shape}, {files[0].name} is {first}; "
                                 "every slice of a stack must have one size")  # fmt: skip
    return files, np.stack(images).astype(np.float32, copy=False)


def read_slice_stack(path: str | os.PathLike[str], mask: str | os.PathLike[str] | None = None, volume_id: str | None = None,
                     patient_id: str | None = None, spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
                     modality: str = "") -> VolumeRecord:  # fmt: skip
    """Read a folder of slice images (or a folder holding `images/` and optionally `mask/`) into a VolumeRecord.

    Parameters
    ----------
    path : the folder of slices, or a nodule folder with `images/` (and `mask/`, read as the outline) inside.
    mask : a folder of outline slices with the same numbers (default: `mask/` beside `images/` when present).
    spacing_mm : (between slices, rows, columns); image files carry none, so the caller gives it (LIDC: nodules.csv).

    Raises
    ------
    InvalidRecordError
        Naming the folder or file: no slices, a name without a slice number, a number twice, colour or multi-frame
        images, slices of different sizes, a mask whose slice numbers or size differ. No other exception type leaves.
    """
    try:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise InvalidRecordError(f"{folder}: not a folder; a slice stack is a folder of PNG/TIFF slices")
        images = folder / "images"
        if images.is_dir():
            mask = mask if mask is not None else (folder / "mask" if (folder / "mask").is_dir() else None)
        else:
            images = folder
        files, slices = read_stack(images)
        outline = None
        if mask is not None:
            mask_files, outline_f = read_stack(Path(mask), role="mask")
            if [slice_number(p) for p in mask_files] != [slice_number(p) for p in files]:
                raise InvalidRecordError(f"{mask}: mask slice numbers {[slice_number(p) for p in mask_files][:8]} differ from the "
                                         f"image slice numbers {[slice_number(p) for p in files][:8]}")  # fmt: skip
            if outline_f.shape != slices.shape:
                raise InvalidRecordError(f"{mask}: mask shape {outline_f.shape} differs from the slices' {slices.shape}")
            if outline_f.min() < 0 or outline_f.max() > 255:
                raise InvalidRecordError(f"{mask}: mask values outside 0..255")
            outline = outline_f.astype(np.uint8)
        if len(spacing_mm) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing_mm):
            raise InvalidRecordError(f"{folder}: spacing_mm {spacing_mm!r}; expected three positive millimetre values")
        name = volume_id or (folder.name if folder.name not in ("images", "") else folder.parent.name)
        positions = np.array([slice_number(p) for p in files], dtype=np.float64) * float(spacing_mm[0])
        return VolumeRecord(slices, tuple(float(s) for s in spacing_mm), modality, name, patient_id or name, mask=outline,  # type: ignore[arg-type]
                            slice_positions_mm=positions, geometry={"slice_numbers": [slice_number(p) for p in files]},
                            source=os.fspath(folder))  # fmt: skip
    except MedrnnError:
        raise
    except Exception as err:  # noqa: BLE001  last resort: a reader never lets a foreign exception out
        raise InvalidRecordError(f"{path}: unexpected {type(err).__name__} while reading the slice stack ({err})") from err


__all__ = ["SLICE_SUFFIXES", "read_slice_stack", "slice_files", "slice_number"]
