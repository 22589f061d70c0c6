"""ICD code spelling: one written form per code, so that codes from different files compare equal.

The written form is the one the code books print: upper case, and a dot where ICD-10-CM and ICD-9-CM put it
(`R52`, `I82.90`, `250.00`, `E880.9`, procedures `96.04`); ICD-10-PCS codes have no dot (`0DTJ4ZZ`). MIMIC stores
codes without dots (`25000`, `I8290`), CodiEsp in lower case with the dot (`i82.90`); both end up alike here.
"""

from __future__ import annotations

import re

from medrnn.errors import ConfigError, InvalidRecordError

CODE_KINDS: tuple[str, ...] = ("D", "P")  # diagnosis, procedure (as NoteRecord.code_types)
_ICD_CHARS = re.compile(r"^[A-Z0-9.]+$")


def _check_kind(kind: str) -> str:
    if kind not in CODE_KINDS:
        raise ConfigError(f"code kind {kind!r}: expected one of {list(CODE_KINDS)} ('D' diagnosis, 'P' procedure)")
    return kind


def normalise_icd10(code: str) -> str:
    """Strip whitespace and upper-case; the dot is kept where the source wrote it (`i82.90` -> `I82.90`, `r52` -> `R52`).

    Raises InvalidRecordError for an empty code or one with characters other than letters, digits and the dot.
    """
    text = str(code).strip().upper()
    if not text or not _ICD_CHARS.match(text) or text.startswith(".") or text.endswith(".") or text.count(".") > 1:
        raise InvalidRecordError(f"ICD code {code!r}: expected letters and digits with at most one inner dot, e.g. 'I82.90'")
    return text


def icd10_with_dot(code: str, kind: str) -> str:
    """ICD-10 code as printed: CM diagnoses (kind 'D') get a dot after 3 characters when longer; PCS procedures ('P') have none."""
    text = normalise_icd10(code).replace(".", "")
    if _check_kind(kind) == "P":
        return text
    return f"{text[:3]}.{text[3:]}" if len(text) > 3 else text


def icd9_with_dot(code: str, kind: str) -> str:
    """ICD-9-CM code with its dot, as CAML's `reformat` writes it (Mullenbach et al. 2018).

    Diagnoses (kind 'D'): after 3 characters (`25000` -> `250.00`), E-codes after 4 (`E8809` -> `E880.9`), V-codes
    after 3 (`V707` -> `V70.7`); no dot when nothing follows it. Procedures ('P'): after 2 (`9604` -> `96.04`). Unlike
    CAML, a procedure of 2 characters gets no trailing dot (ICD-9 procedure codes have 3 or 4, so no real code differs).
    """
    text = normalise_icd10(code).replace(".", "")
    if _check_kind(kind) == "P":
        cut = 2
    else:
        cut = 4 if text.startswith("E") else 3
    return f"{text[:cut]}.{text[cut:]}" if len(text) > cut else text


def icd_with_dot(code: str, kind: str, version: int) -> str:
    """Dispatch on the ICD version (9 or 10), as MIMIC-IV's `icd_version` column gives it."""
    if version == 9:
        return icd9_with_dot(code, kind)
    if version == 10:
        return icd10_with_dot(code, kind)
    raise InvalidRecordError(f"ICD version {version!r}: expected 9 or 10")
