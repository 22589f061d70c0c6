"""ICD-10 code descriptions (code -> title) from the public code books, for ranking codes that no training note carries.

Two catalogues, one per note language:
- `cie10-es`: the Spanish CIE-10 titles shipped by the `cie` package (MIT; 14k categories and subcategories, mostly
  WHO ICD-10 depth, 4 characters), read from the CSV inside its wheel. Its own `CIECodes` class writes a JSON cache into
  site-packages on first use, so the CSV is read here directly instead.
- `icd10cm-en`: the CDC's ICD-10-CM tables (public domain) through `simple-icd-10-cm` (MIT; 98k codes, every depth).

Codes come out in medrnn's written form (`transforms.icd.icd10_with_dot`: `W231` -> `W23.1`); chapter and block ranges
(`A00-B99`) are not codes and are left out. No torch here.
"""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
from importlib import resources

from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.transforms.icd import icd10_with_dot

CATALOGUES: dict[str, str] = {"cie10-es": "es", "icd10cm-en": "en"}  # catalogue -> language of its titles
_PACKAGES = {"cie10-es": "cie", "icd10cm-en": "simple-icd-10-cm"}


def catalogue_language(name: str) -> str:
    """The language of a catalogue's titles ('es' or 'en'); a clear error for an unknown name."""
    if name not in CATALOGUES:
        raise ConfigError(f"code descriptions {name!r}: expected one of {list(CATALOGUES)}")
    return CATALOGUES[name]


def catalogue_for(language: str) -> str:
    """The catalogue whose titles are in `language` ('es' -> cie10-es, 'en' -> icd10cm-en)."""
    for name, lang in CATALOGUES.items():
        if lang == language:
            return name
    raise ConfigError(f"code descriptions: no catalogue in language {language!r}; catalogues: {CATALOGUES}")


def read_code_descriptions(name: str) -> dict[str, str]:
    """Every code of catalogue `name` with its title, in the catalogue's order."""
    catalogue_language(name)
    try:
        return _read_cie10_es() if name == "cie10-es" else _read_icd10cm_en()
    except ModuleNotFoundError as err:
        raise ConfigError(f"code descriptions {name!r} need the {_PACKAGES[name]!r} package: pip install "
                          f"{_PACKAGES[name]} (or medrnn[text])") from err  # fmt: skip


def _read_cie10_es() -> dict[str, str]:
    source = resources.files("cie") / "data" / "cie-10.zip"
    with source.open("rb") as raw, zipfile.ZipFile(raw) as archive:
        rows = list(csv.DictReader(io.TextIOWrapper(archive.open("cie-10.csv"), encoding="utf-8")))
    out: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        code, title = (row.get("code") or "").strip(), (row.get("description") or "").strip()
        if not code or "-" in code:  # chapter or block range
            continue
        if not title:
            raise InvalidRecordError(f"cie/data/cie-10.zip:cie-10.csv line {line}: code {code!r} has no description")
        out[icd10_with_dot(code, "D")] = title
    return out


def _read_icd10cm_en() -> dict[str, str]:
    with warnings.catch_warnings():  # simple-icd-10-cm 1.5 reads its tables through importlib's deprecated read_text
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm

    return {icd10_with_dot(c, "D"): cm.get_description(c) for c in cm.get_all_codes(with_dots=False)
            if "-" not in c and len(c) >= 3 and not c.isdigit()}  # fmt: skip
