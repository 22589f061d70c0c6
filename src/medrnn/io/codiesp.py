"""CodiEsp (CLEF eHealth 2020) clinical cases -> NoteRecord, with ICD-10 codes and evidence spans; every oddity reported.

Layout (the Zenodo zip, gold standard v4): `final_dataset_v4_to_publish/<split>/` holds `text_files/<articleID>.txt`
(Spanish), `text_files_en/<articleID>.txt` (English machine translation, one sentence per line) and three
header-less TSV files: `<split>D.tsv` and `<split>P.tsv` (`articleID<TAB>code`, diagnoses in ICD-10-CM, procedures in
ICD-10-PCS) and `<split>X.tsv` (`articleID, DIAGNOSTICO|PROCEDIMIENTO, code, evidence text, offsets`).

Codes are normalised by `transforms.icd.normalise_icd10`: whitespace stripped, upper case, the dot kept where the
file has it (`r52` -> `R52`, `i82.90` -> `I82.90`, `bw03zzz` -> `BW03ZZZ`). A document's codes are its D codes, then
its P codes (in `code_types` order), each in file order, a repeated (type, code) kept once and the repeat reported.

Offsets in X.tsv are `"start end"` or, for a discontinuous mention, `"s1 e1;s2 e2"`: every piece becomes one span
(code, start, end) into the Spanish text, read byte-exact (no newline translation). Empty pieces (start == end) are
counted and left out. The spans refer to the Spanish `text_files/`; with language="en" none are attached (the report
says so). Row numbers in the report are 1-based line numbers of the file (there is no header).

A text file that is empty or cannot be read (not UTF-8, a folder, a dangling or looping link) becomes no record: it is
listed with the reason in `report.excluded_documents` and its code rows are counted, and the read goes on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medrnn import paths
from medrnn.errors import ConfigError, DataNotFoundError, InvalidRecordError
from medrnn.records import NoteRecord
from medrnn.transforms.icd import normalise_icd10

SPLITS: tuple[str, ...] = ("train", "dev", "test")
LANGUAGES: dict[str, str] = {"es": "text_files", "en": "text_files_en"}
CODE_TYPES: tuple[str, ...] = ("D", "P")
X_LABELS: dict[str, str] = {"DIAGNOSTICO": "D", "PROCEDIMIENTO": "P"}
RELEASE_FOLDER = "final_dataset_v4_to_publish"
FETCH_HINT = "run `medrnn data fetch codiesp`, or set MEDRNN_DATA to the folder that contains codiesp/"


@dataclass(frozen=True)
class BadRow:
    """One TSV row not used as it stands: file, 1-based line, the line and why."""

    file: str
    row: int
    line: str
    reason: str


@dataclass(frozen=True)
class OrphanCode:
    """A code row whose document has no text file in its split (kept here, since no record can carry it)."""

    split: str
    code_type: str
    note_id: str
    code: str
    file: str
    row: int


@dataclass
class CodiespReport:
    """What a read did: documents per split, codes per type, and every row or document that is not as expected."""

    root: str = ""
    language: str = ""
    code_types: tuple[str, ...] = ()
    n_documents: dict[str, int] = field(default_factory=dict)  # split -> documents read
    n_code_rows: dict[str, int] = field(default_factory=dict)  # "train/D" -> well-formed rows in trainD.tsv
    n_codes: dict[str, int] = field(default_factory=dict)  # "D" -> (document, code) pairs kept, all splits
    n_distinct_codes: dict[str, int] = field(default_factory=dict)  # "train/D" and "all/D" -> distinct codes
    documents_without_codes: dict[str, list[str]] = field(default_factory=dict)  # split -> note ids (kept, codes=())
    codes_without_document: list[OrphanCode] = field(default_factory=list)
    unknown_splits: list[str] = field(default_factory=list)  # split folders other than train/dev/test (found or asked for)
    duplicate_code_rows: list[BadRow] = field(default_factory=list)  # repeated (document, type, code): kept once
    malformed_rows: list[BadRow] = field(default_factory=list)
    n_spans: int = 0  # span pieces attached to records
    n_discontinuous_mentions: int = 0  # X rows with more than one piece
    n_empty_span_pieces: int = 0  # "a a" pieces, left out
    span_text_mismatches: list[BadRow] = field(default_factory=list)  # X evidence text != the text at its offsets (kept)
    # text files not turned into records: path -> why (empty or blank text, not UTF-8, unreadable: a folder, a dangling link)
    excluded_documents: dict[str, str] = field(default_factory=dict)
    n_code_rows_of_excluded_documents: int = 0  # code rows of those documents, not used
    spans_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["code_types"] = list(self.code_types)
        return out

    def summary(self) -> str:
        """One paragraph for logs and the CLI."""
        docs = ", ".join(f"{s} {n}" for s, n in self.n_documents.items())
        no_codes = sum(len(v) for v in self.documents_without_codes.values())
        note = f"; {self.spans_note}" if self.spans_note else ""
        return (f"{self.root} ({self.language}): documents {docs}; codes {self.n_codes}; {no_codes} documents without codes, "
                f"{len(self.codes_without_document)} codes without document, {len(self.duplicate_code_rows)} duplicate and "
                f"{len(self.malformed_rows)} malformed rows; {len(self.excluded_documents)} documents excluded (empty or "
                f"unreadable); {self.n_spans} spans{note}")  # fmt: skip


def resolve_root(root: str | Path | None = None) -> Path:
    """The folder holding the split folders: `root` itself or `root/final_dataset_v4_to_publish` (default: the data root's codiesp/)."""
    root = Path(root) if root is not None else paths.dataset_dir("codiesp")
    for folder in (root / RELEASE_FOLDER, root):
        if any((folder / s / "text_files").is_dir() for s in SPLITS):
            return folder
    raise DataNotFoundError(f"{root}: CodiEsp not found (expected {root / RELEASE_FOLDER / 'train' / 'text_files'} or "
                            f"{root / 'train' / 'text_files'}); {FETCH_HINT}")  # fmt: skip


def _read_text(path: Path) -> str:
    """A file as UTF-8 text, exactly (no newline translation: X.tsv offsets count every character)."""
    try:
        data = path.read_bytes()
    except OSError as err:  # a folder, a dangling or looping link, no permission
        raise InvalidRecordError(f"{path}: cannot read the file ({type(err).__name__}: {err.strerror or err})") from err
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidRecordError(f"{path}: not UTF-8 text ({err})") from err


def _read_documents(text_dir: Path, report: CodiespReport) -> tuple[dict[str, str], set[str]]:
    """{note id: text} of the readable, non-empty documents, and the ids of the others (excluded, with the reason in `report`).

    An empty document is no evidence for its codes: training on it would teach codes from nothing.
    """
    texts, excluded = {}, set()
    for path in sorted(text_dir.glob("*.txt")):
        try:
            text = _read_text(path)
        except InvalidRecordError as err:
            report.excluded_documents[str(path)] = str(err)
            excluded.add(path.stem)
            continue
        if not text.strip():
            report.excluded_documents[str(path)] = f"{path}: empty text (0 non-blank characters)"
            excluded.add(path.stem)
        else:
            texts[path.stem] = text
    return texts, excluded


def _rows(path: Path, n_fields: int, report: CodiespReport) -> list[tuple[int, list[str]]]:
    """(1-based line, fields) of a header-less TSV; a line with the wrong number of fields is reported as malformed."""
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        fields = line.split("\t")
        if not line.strip():
            report.malformed_rows.append(BadRow(str(path), number, line, "empty line"))
        elif len(fields) != n_fields:
            report.malformed_rows.append(BadRow(str(path), number, line, f"{len(fields)} tab-separated fields, expected {n_fields}"))
        elif not fields[0].strip():
            report.malformed_rows.append(BadRow(str(path), number, line, "empty articleID"))
        else:
            rows.append((number, [f.strip() for f in fields]))
    return rows


def _code(raw: str, path: Path, number: int, line: str, report: CodiespReport) -> str | None:
    """The normalised code, or None with the row reported as malformed."""
    try:
        return normalise_icd10(raw)
    except InvalidRecordError as err:
        report.malformed_rows.append(BadRow(str(path), number, line, str(err)))
        return None


def _parse_offsets(raw: str) -> list[tuple[int, int]]:
    """'a b' or 'a b;c d' -> [(a, b), (c, d)]; raises ValueError on anything else."""
    pieces = []
    for piece in raw.split(";"):
        start, end = (int(v) for v in piece.split())  # ValueError on a wrong count or a non-integer
        if start < 0 or end < start:
            raise ValueError(f"piece {piece!r}: need 0 <= start <= end")
        pieces.append((start, end))
    return pieces


def _read_split(folder: Path, split: str, language: str, code_types: Sequence[str], with_spans: bool, known: bool,
                report: CodiespReport) -> list[NoteRecord]:  # fmt: skip
    """Records of one split folder; codes files are required for train/dev/test, optional for other folders."""
    text_dir = folder / LANGUAGES[language]
    if not text_dir.is_dir():
        raise DataNotFoundError(f"{text_dir}: CodiEsp {split} texts ({language}) not found; {FETCH_HINT}")
    texts, excluded = _read_documents(text_dir, report)
    spanish = texts if language == "es" else {}
    report.n_documents[split] = len(texts)
    codes: dict[str, list[tuple[str, str]]] = {doc: [] for doc in texts}
    seen: set[tuple[str, str, str]] = set()
    for code_type in code_types:
        path = folder / f"{split}{code_type}.tsv"
        if not path.is_file():
            if known:
                raise DataNotFoundError(f"{path}: CodiEsp {split} {code_type} codes not found; {FETCH_HINT}")
            continue
        rows = _rows(path, 2, report)
        report.n_code_rows[f"{split}/{code_type}"] = len(rows)
        distinct = set()
        for number, (doc, raw) in rows:
            code = _code(raw, path, number, "\t".join((doc, raw)), report)
            if code is None:
                continue
            distinct.add(code)
            if doc not in codes and doc not in excluded:
                report.codes_without_document.append(OrphanCode(split, code_type, doc, code, str(path), number))
            elif (doc, code_type, code) in seen:
                report.duplicate_code_rows.append(BadRow(str(path), number, f"{doc}\t{raw}", f"{code_type} code {code} repeated"))
            else:
                seen.add((doc, code_type, code))
                if doc in excluded:
                    report.n_code_rows_of_excluded_documents += 1
                else:
                    codes[doc].append((code, code_type))
        report.n_distinct_codes[f"{split}/{code_type}"] = len(distinct)

    spans: dict[str, list[tuple[str, int, int]]] = {doc: [] for doc in texts}
    x_path = folder / f"{split}X.tsv"
    if with_spans and x_path.is_file():
        if language == "en":  # exclusions of the Spanish files are the X rows' business only: not reported twice
            spanish, excluded = _read_documents(folder / LANGUAGES["es"], CodiespReport())
        _read_spans(excluded, x_path, spanish, code_types, seen, spans if language == "es" else None, report)
    elif with_spans and known:
        raise DataNotFoundError(f"{x_path}: CodiEsp {split} evidence spans not found (pass with_spans=False to read without); {FETCH_HINT}")

    report.documents_without_codes[split] = [doc for doc in texts if not codes[doc]]
    return [NoteRecord(note_id=doc, text=text, language=language, codes=tuple(c for c, _ in codes[doc]),
                       code_types=tuple(t for _, t in codes[doc]), spans=tuple(spans[doc]), split=split, patient_id=doc,
                       source=str(text_dir / f"{doc}.txt")) for doc, text in texts.items()]  # fmt: skip


def _read_spans(excluded: set[str], path: Path, spanish: dict[str, str], code_types: Sequence[str], coded: set[tuple[str, str, str]],
                spans: dict[str, list[tuple[str, int, int]]] | None, report: CodiespReport) -> None:  # fmt: skip
    """Evidence spans of X.tsv into `spans` (None: validate and count only, for English records)."""
    for number, (doc, label, raw, evidence, offsets) in _rows(path, 5, report):
        line = "\t".join((doc, label, raw, evidence, offsets))
        bad = lambda reason: report.malformed_rows.append(BadRow(str(path), number, line, reason))  # noqa: E731, B023
        code_type = X_LABELS.get(label.upper())
        if code_type is None:
            bad(f"label {label!r}, expected one of {list(X_LABELS)}")
            continue
        if code_type not in code_types:
            continue
        code = _code(raw, path, number, line, report)
        if code is None:
            continue
        if doc not in spanish:
            bad(
                "the Spanish text file of this articleID is empty or unreadable"
                if doc in excluded
                else "no Spanish text file for this articleID"
            )
            continue
        try:
            pieces = _parse_offsets(offsets)
        except ValueError as err:
            bad(f"offsets {offsets!r}: expected 'start end[;start end...]' ({err})")
            continue
        text = spanish[doc]
        if any(e > len(text) for _, e in pieces):
            bad(f"offsets {offsets!r} beyond the text ({len(text)} characters)")
            continue
        if (doc, code_type, code) not in coded:
            bad(f"{code_type} code {code} is not among the document's {code_type} codes")
            continue
        found = " ".join(text[s:e] for s, e in pieces)
        if found != evidence:
            report.span_text_mismatches.append(BadRow(str(path), number, line, f"text at offsets is {found!r}"))
        report.n_discontinuous_mentions += len(pieces) > 1
        kept = [(s, e) for s, e in pieces if e > s]
        report.n_empty_span_pieces += len(pieces) - len(kept)
        if spans is not None:
            spans[doc].extend((code, s, e) for s, e in kept)
            report.n_spans += len(kept)


def read_codiesp(
    root: str | Path | None = None,
    splits: Sequence[str] = SPLITS,
    language: str = "es",
    code_types: Sequence[str] = ("D",),
    with_spans: bool = True,
) -> tuple[list[NoteRecord], CodiespReport]:
    """Read CodiEsp documents with their codes (and evidence spans) for the given splits, in `language` ("es" or "en").

    Documents without codes are kept (codes=()) and listed in the report; code rows whose document is missing,
    repeated code rows and malformed rows are listed there too (file, line, reason). A split folder other than
    train/dev/test is read when asked for (its TSV files optional) and named in `report.unknown_splits`.
    """
    if language not in LANGUAGES:
        raise ConfigError(f"language {language!r}: expected one of {list(LANGUAGES)}")
    bad_types = [t for t in code_types if t not in CODE_TYPES]
    if bad_types or not code_types or len(set(code_types)) != len(code_types):
        raise ConfigError(f"code_types {list(code_types)}: give each of {list(CODE_TYPES)} at most once (at least one)")
    if isinstance(splits, str):
        splits = (splits,)
    folder = resolve_root(root)
    report = CodiespReport(root=str(folder), language=language, code_types=tuple(code_types))
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in SPLITS)
    report.unknown_splits = sorted(set(found) | {s for s in splits if s not in SPLITS})
    records = []
    for split in splits:
        if not (folder / split).is_dir():
            raise DataNotFoundError(f"{folder / split}: CodiEsp split {split!r} not found (the release has {list(SPLITS)}); {FETCH_HINT}")
        records += _read_split(folder / split, split, language, code_types, with_spans, split in SPLITS, report)
    report.n_codes = {t: sum(r.code_types.count(t) for r in records) for t in code_types}
    for t in code_types:
        report.n_distinct_codes[f"all/{t}"] = len({c for r in records for c, ct in zip(r.codes, r.code_types) if ct == t})
    if with_spans and language == "en":
        report.spans_note = ("evidence offsets refer to the Spanish text_files/, not to the English translation: X.tsv was "
                             "checked against the Spanish texts but no spans are attached to the English records")  # fmt: skip
    return records, report
