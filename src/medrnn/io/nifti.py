"""NIfTI volumes -> VolumeRecord (nibabel), reoriented to canonical RAS. No torch here.

After reorientation the array axes are (x: left -> Right, y: posterior -> Anterior, z: inferior -> Superior); the
record holds axial slices ordered inferior to superior, each (y, x): `slices[k] = data[:, :, k].T`. Spacing comes from
the header's zooms. A 4-D file (fMRI, several echoes) is refused unless a volume index is given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.errors import ConfigError, InvalidRecordError, MedrnnError
from medrnn.io.files import regular_file
from medrnn.records import VolumeRecord

MAX_VOXELS = 1024 * 1024 * 1024  # 4 GB of float32: a larger volume is not what a slice model reads


def _nibabel() -> Any:
    try:
        import nibabel
    except ImportError as err:
        raise ConfigError("reading NIfTI needs nibabel: pip install 'medrnn[imaging]' (or pip install nibabel)") from err
    return nibabel


def nifti_stem(path: Path) -> str:
    """`scan.nii.gz` -> `scan`."""
    name = path.name
    for suffix in (".nii.gz", ".nii", ".gz"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def read_nifti(path: str | os.PathLike[str], volume: int | None = None, modality: str = "", patient_id: str | None = None) -> VolumeRecord:
    """Read a 3-D NIfTI file (or volume `volume` of a 4-D one) as axial slices in canonical RAS orientation.

    Raises
    ------
    InvalidRecordError
        Naming the file and field: not a NIfTI file, a 4-D file without `volume` (the number of volumes is named), a
        volume index out of range, more than 4 dimensions, zero or non-finite zooms, non-finite voxels, a truncated
        file. No other exception type leaves this function.
    """
    try:
        p = Path(path).expanduser()
        regular_file(p, "NIfTI file")
        nib = _nibabel()
        try:
            img = nib.load(p)
        except (nib.filebasedimages.ImageFileError, OSError, EOFError, ValueError) as err:
            raise InvalidRecordError(f"{p}: not a readable NIfTI file ({type(err).__name__}: {err})") from err
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise InvalidRecordError(f"{p}: a {type(img).__name__}, not a NIfTI-1/2 image")
        shape = tuple(int(s) for s in img.shape)
        if len(shape) > 4 or len(shape) < 3:
            raise InvalidRecordError(f"{p}: dim = {shape}; expected a 3-D volume (or 4-D with a volume index)")
        if int(np.prod(shape[:3])) > MAX_VOXELS:
            raise InvalidRecordError(f"{p}: {shape} voxels; at most {MAX_VOXELS} per volume")
        if len(shape) == 4:
            if volume is None:
                raise InvalidRecordError(f"{p}: 4-D image {shape} with {shape[3]} volumes; choose one with volume=0..{shape[3] - 1} "
                                         "(--volume)")  # fmt: skip
            if not 0 <= volume < shape[3]:
                raise InvalidRecordError(f"{p}: volume {volume} out of range; the file holds volumes 0..{shape[3] - 1}")
            img = img.slicer[..., volume]
        elif volume not in (None, 0):
            raise InvalidRecordError(f"{p}: 3-D image {shape}; volume {volume} does not exist (only 0)")
        original = "".join(nib.aff2axcodes(img.affine))
        canonical = nib.as_closest_canonical(img)
        try:
            data = np.asarray(canonical.get_fdata(dtype=np.float32))
        except (OSError, EOFError, ValueError, TypeError) as err:
            raise InvalidRecordError(f"{p}: cannot read the voxel data ({type(err).__name__}: {err}; truncated file?)") from err
        if not np.isfinite(data).all():
            raise InvalidRecordError(f"{p}: {int((~np.isfinite(data)).sum())} voxels are NaN or infinite")
        zooms = [float(z) for z in canonical.header.get_zooms()[:3]]
        if not all(np.isfinite(z) and z > 0 for z in zooms):
            raise InvalidRecordError(f"{p}: pixdim (voxel sizes) {zooms}; expected positive millimetres")
        slices = np.ascontiguousarray(np.transpose(data, (2, 1, 0)), dtype=np.float32)  # (z, y, x)
        positions = (canonical.affine @ np.c_[np.zeros((shape[2], 2)), np.arange(shape[2]), np.ones(shape[2])].T)[2]
        stem = nifti_stem(p)
        geometry = {"orientation_in_file": original, "orientation": "RAS", "affine": np.round(canonical.affine, 6).tolist(),
                    "shape_in_file": list(shape), "volume": volume}  # fmt: skip
        return VolumeRecord(slices, (zooms[2], zooms[1], zooms[0]), modality, stem, patient_id or stem,
                            slice_positions_mm=np.asarray(positions, dtype=np.float64), geometry=geometry, source=os.fspath(p))  # fmt: skip
    except MedrnnError:
        raise
    except Exception as err:  # noqa: BLE001  last resort: a reader never lets a foreign exception out
        raise InvalidRecordError(f"{path}: unexpected {type(err).__name__} while reading the NIfTI file ({err})") from err


__all__ = ["nifti_stem", "read_nifti"]
