"""Fuzz every medrnn reader with mutated copies of real files: a bad file may only be refused with a MedrnnError.

Small base inputs are cut from the real public data (20 s MIT-BIH records, the first rows of MoleculeNet tables,
PhysioNet 2012 stays and outcomes, a few patients of the MIMIC-III/IV demos, a few CodiEsp notes, a notes table on
demo admissions, the tasks' run configs, a tiny artifact). Each case mutates one file of one base, deterministically
from (--seed, reader, case number), and runs the reader in a persistent worker process watched by this one. Outcomes:
`accepted`, `medrnn_errors` (the wanted refusal), `foreign_exceptions` (any other exception: a bug), `crashes` (the
worker died, e.g. by a signal) and `hangs` (over --timeout s: the worker is killed and respawned).

    python benchmarks/fuzz_readers.py                                 # 10,000 cases per reader -> results/fuzz.json
    python benchmarks/fuzz_readers.py --cases 200 --readers wfdb,smiles
    python benchmarks/fuzz_readers.py --replay wfdb:1234 --keep /tmp/case   # rebuild one case, run it here, show it

Results are written after each reader (readers not run keep their earlier block). Cases are built under /dev/shm when
it is writable. Hand-written: no Python fuzzer
(atheris, hypothesis) runs whole readers over folders of real files in watched workers with per-case replay.
"""

from __future__ import annotations

import argparse
import faulthandler
import gzip
import io
import json
import multiprocessing as mp
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from machine import machine  # benchmarks/machine.py: the script's folder is on sys.path

RESULTS = Path(__file__).parent / "results" / "fuzz.json"
READERS = ("wfdb", "smiles", "physionet2012", "mimic", "codiesp", "mimic_notes", "config", "artifact")
GZ_READERS = ("smiles", "mimic", "mimic_notes")  # readers that pick a `.gz` file by its name
OUTCOMES = ("accepted", "medrnn_errors", "foreign_exceptions", "crashes", "hangs")
EXTREMES = (b"0", b"-1", b"1e-300", b"1e308", b"nan", b"inf", b"-inf", str(2**63).encode(), b"", b"9" * 400, b"9" * 5000)
BYTE_OPS = ("bitflip", "byteflip", "truncate", "insert_bytes", "delete_bytes", "duplicate_bytes")
TEXT_OPS = ("line_duplicate", "line_delete", "line_insert", "line_swap", "numeric", "long_name", "column_duplicate",
            "column_case", "non_utf8", "line_endings", "control_chars")  # fmt: skip
GZ_OPS = ("gzip", "gzip_corrupt")
FILE_OPS = ("empty", "directory", "dangling_symlink", "symlink_loop", "missing")
FORMAT_OPS = {"yaml": ("alias_bomb", "deep_nesting", "yaml_value"), "json": ("deep_nesting", "json_value")}
YAML_VALUES = (b"!!python/object/apply:os.system ['true']", b"!!binary aGVsbG8=", b"2001-12-14", b"!!set {a, b}", b".inf",
               b"-.nan", b"0x7fffffffffffffff", b"0o777", b"1_000", b"~", b"yes", b"&r [*r]", b"{a: 1}", b"[1, 2]",
               b"*undefined", b"!!timestamp 2001-12-14t21:59:43.10-05:00", b"'" + b"x" * 300 + b"'", b"!!float 1e999")  # fmt: skip
JSON_VALUES = (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"null", b"[]", b"{}", b'"x"', b"true", str(2**63).encode(),
               b"-1", b"0", b"9" * 5000, b'"\\ud800"', b'"' + b"x" * 300 + b'"')  # fmt: skip
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_.-]*")
YAML_SCALAR = re.compile(rb"^(\s*-?\s*[A-Za-z_][\w-]*:[ \t]+)(\S[^\n]*)$", re.M)
JSON_SCALAR = re.compile(rb'^(\s*"[^"\n]+":\s*)([^\n]*?)(,?)$', re.M)
MAX_GROUPS, MAX_EXAMPLES = 40, 3


# ---------------------------------------------------------------- base inputs, cut from the real data


@dataclass(frozen=True)
class Base:
    """One unmutated input: a folder copied whole per case, the files a case may mutate, what the reader is handed."""

    name: str
    folder: Path
    targets: tuple[str, ...]  # a file listed twice is picked twice as often
    entry: str  # path handed to the reader, relative to the folder ("" = the folder itself)
    what: str
    options: dict[str, Any] = field(default_factory=dict)  # fixed facts: SMILES targets, config task, file checksums...
    check_options: dict[str, Any] = field(default_factory=dict)  # reader options of the unmutated check


WFDB_SECONDS = 20
N_SMILES_ROWS, N_OUTCOME_ROWS = 50, 50


def _signed16(value: int) -> int:
    value %= 65536
    return value - 65536 if value > 32767 else value


def _csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    import csv

    with gzip.open(path, "rt", newline="") if path.name.endswith(".gz") else path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = text.getvalue().encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)


def _col(header: list[str], name: str) -> int:
    return [h.lower() for h in header].index(name)


def _bases_wfdb(out: Path) -> list[Base]:
    import numpy as np
    import wfdb

    from medrnn import paths

    bases = []
    for record, fmt in (("100", "212"), ("208", "16"), ("231", "212")):  # 208: written in format 16 for a second layout
        src, folder = paths.dataset_dir("mitdb") / record, out / f"mitdb-{record}"
        folder.mkdir(parents=True)
        n = int(WFDB_SECONDS * 360)
        rec = wfdb.rdrecord(str(src), sampto=n, physical=False)
        rec.fmt = [fmt] * rec.n_sig
        rec.init_value = [int(v) for v in rec.d_signal[0]]
        rec.checksum = [_signed16(int(np.sum(rec.d_signal[:, i], dtype=np.int64))) for i in range(rec.n_sig)]
        rec.wrsamp(write_dir=str(folder))
        ann = wfdb.rdann(str(src), "atr", sampto=n - 1)
        ann.wrann(write_fs=False, write_dir=str(folder))
        bases.append(Base(f"mitdb-{record}", folder, (f"{record}.hea", f"{record}.dat", f"{record}.atr"), record,
                          f"MIT-BIH {record}, first {WFDB_SECONDS} s, format {fmt}"))  # fmt: skip
    return bases


SMILES_TABLES = (("bbbp", "BBBP.csv", ["p_np"], "name"),
                 ("esol", "delaney-processed.csv", ["measured log solubility in mols per litre"], "Compound ID"),
                 ("lipophilicity", "Lipophilicity.csv", ["exp"], "CMPD_CHEMBLID"),
                 ("freesolv", "SAMPL.csv", ["expt"], "iupac"))  # fmt: skip


def _bases_smiles(out: Path) -> list[Base]:
    from medrnn import paths

    bases = []
    for name, file, targets, id_column in SMILES_TABLES:
        lines = (paths.dataset_dir("moleculenet") / file).read_bytes().split(b"\n")[: N_SMILES_ROWS + 1]
        data = b"\n".join(lines) + b"\n"
        for ext in (".csv", ".csv.gz") if name in ("bbbp", "lipophilicity") else (".csv",):
            folder = out / f"{name}{ext}"
            folder.mkdir(parents=True)
            (folder / f"{name}{ext}").write_bytes(gzip.compress(data, mtime=0) if ext.endswith(".gz") else data)
            opts = {"targets": targets, "id_column": id_column}
            bases.append(Base(f"{name}{ext}", folder, (f"{name}{ext}",), f"{name}{ext}", f"MoleculeNet {file}, first {N_SMILES_ROWS} rows",
                              opts, {"targets": targets, "id_column": id_column}))  # fmt: skip
    return bases


def _bases_physionet2012(out: Path) -> list[Base]:
    from medrnn import paths

    root = paths.dataset_dir("physionet2012")
    files = sorted((root / "set-a").glob("*.txt"))
    first = files[:200]
    picks = dict.fromkeys([files[0], files[1], min(first, key=lambda p: p.stat().st_size), max(first, key=lambda p: p.stat().st_size)])
    bases = []
    for src in picks:
        folder = out / f"stay-{src.stem}"
        folder.mkdir(parents=True)
        shutil.copyfile(src, folder / src.name)
        bases.append(
            Base(f"stay-{src.stem}", folder, (src.name,), src.name, f"set-a/{src.name}", {"function": "record"}, {"function": "record"})
        )
    folder = out / "outcomes-a"
    folder.mkdir(parents=True)
    lines = (root / "Outcomes-a.txt").read_bytes().split(b"\n")[: N_OUTCOME_ROWS + 1]
    (folder / "Outcomes-a.txt").write_bytes(b"\n".join(lines) + b"\n")
    opts = {"function": "outcomes"}
    return [
        *bases,
        Base("outcomes-a", folder, ("Outcomes-a.txt",), "Outcomes-a.txt", f"Outcomes-a.txt, first {N_OUTCOME_ROWS} rows", opts, opts),
    ]


def _trim_mimic(src: Path, dst: Path, files: dict[str, str], subjects: int, max_rows: int) -> list[int]:
    """Copy the tables of the first `subjects` patients (by admissions order), at most `max_rows` rows of the big ones."""
    header, rows = _csv_rows(src / files["admissions"])
    keep_subjects = list(dict.fromkeys(r[_col(header, "subject_id")] for r in rows))[:subjects]
    wanted = set(keep_subjects)
    hadm = []
    for table, name in files.items():
        header, rows = _csv_rows(src / name)
        rows = [r for r in rows if r[_col(header, "subject_id")] in wanted]
        if table == "labevents":  # abnormal-flagged rows first: those are the ones the reader turns into codes
            flag = _col(header, "flag")
            rows = [r for r in rows if r[flag].strip().lower() == "abnormal"][: max_rows // 2] + [
                r for r in rows if r[flag].strip().lower() != "abnormal"
            ]
        if table in ("prescriptions", "labevents"):
            rows = rows[:max_rows]
        if table == "admissions":
            hadm = [int(r[_col(header, "hadm_id")]) for r in rows]
        _write_csv(dst / Path(name).name if "/" not in name else dst / name, header, rows)
    return hadm


MIMIC3_TABLES = {"admissions": "ADMISSIONS.csv", "patients": "PATIENTS.csv", "diagnoses": "DIAGNOSES_ICD.csv",
                 "procedures": "PROCEDURES_ICD.csv", "prescriptions": "PRESCRIPTIONS.csv", "labevents": "LABEVENTS.csv.gz"}  # fmt: skip
MIMIC4_TABLES = {k: f"hosp/{v.lower().replace('.csv.gz', '.csv').removesuffix('.csv')}.csv.gz" for k, v in MIMIC3_TABLES.items()}


def _bases_mimic(out: Path) -> list[Base]:
    from medrnn import paths

    bases = []
    src3 = paths.dataset_dir("mimic3-demo")
    folder = out / "mimic3-demo-12"
    files3 = {k: ("older_export/" + v if k == "labevents" else v) for k, v in MIMIC3_TABLES.items()}
    _trim_mimic(src3, folder, files3, subjects=12, max_rows=200)
    for k in list(files3):
        files3[k] = MIMIC3_TABLES[k]
    if (folder / "older_export").is_dir():  # labevents written under its source path: move it to the root
        (folder / "older_export" / "LABEVENTS.csv.gz").rename(folder / "LABEVENTS.csv.gz")
        (folder / "older_export").rmdir()
    targets = tuple(MIMIC3_TABLES.values())
    bases.append(Base("mimic3-demo-12", folder, targets, "", "MIMIC-III demo, 12 patients (labevents from older_export)"))
    folder = out / "mimic4-demo-10"
    _trim_mimic(paths.dataset_dir("mimic4-demo"), folder, MIMIC4_TABLES, subjects=10, max_rows=200)
    bases.append(Base("mimic4-demo-10", folder, tuple(MIMIC4_TABLES.values()), "", "MIMIC-IV demo hosp/, 10 patients (.csv.gz)"))
    return bases


def _codiesp_root() -> Path:
    from medrnn import paths

    root = paths.dataset_dir("codiesp")
    return root / "final_dataset_v4_to_publish" if (root / "final_dataset_v4_to_publish").is_dir() else root


def _bases_codiesp(out: Path) -> list[Base]:
    src, folder = _codiesp_root(), out / "codiesp-3x3"
    targets: list[str] = []
    for split in ("train", "dev", "test"):
        docs = sorted(p.stem for p in (src / split / "text_files").glob("*.txt"))[:3]
        for lang in ("text_files", "text_files_en"):
            (folder / split / lang).mkdir(parents=True)
            for doc in docs:
                shutil.copyfile(src / split / lang / f"{doc}.txt", folder / split / lang / f"{doc}.txt")
                targets.append(f"{split}/{lang}/{doc}.txt")
        for kind in ("D", "P", "X"):
            lines = (src / split / f"{split}{kind}.tsv").read_bytes().split(b"\n")
            kept = [ln for ln in lines if ln.split(b"\t")[0].decode() in docs]
            (folder / split / f"{split}{kind}.tsv").write_bytes(b"\n".join(kept) + b"\n")
            targets += [f"{split}/{split}{kind}.tsv"] * 3  # code files weigh as much as the texts
    opts = {"splits": ["train", "dev", "test"], "language": "es", "code_types": ["D", "P"], "with_spans": True}
    return [Base("codiesp-3x3", folder, tuple(targets), "", "CodiEsp v4, 3 notes per split (es + en), their D/P/X rows", {}, opts)]


def _note_texts(n: int) -> list[str]:
    """Real clinical text for the notes tables: CodiEsp's English case reports (MIMIC notes are credentialed)."""
    files = sorted((_codiesp_root() / "train" / "text_files_en").glob("*.txt"))[:n]
    return [p.read_text(encoding="utf-8")[:1500] for p in files]


def _bases_mimic_notes(out: Path) -> list[Base]:
    from medrnn import paths

    texts = _note_texts(16)
    bases = []
    # MIMIC-III: NOTEEVENTS.csv on the demo's first 10 admissions (the demo's own NOTEEVENTS is header-only)
    src3, folder = paths.dataset_dir("mimic3-demo"), out / "mimic3-notes"
    hadm = _trim_mimic(
        src3, folder, {"admissions": "ADMISSIONS.csv", "diagnoses": "DIAGNOSES_ICD.csv", "procedures": "PROCEDURES_ICD.csv"}, 8, 200
    )
    header, adm = _csv_rows(folder / "ADMISSIONS.csv")
    (folder / "ADMISSIONS.csv").unlink()
    notes, row_id = [], 1000
    for i, r in enumerate(adm):
        subject, hadm_id, disch = r[_col(header, "subject_id")], r[_col(header, "hadm_id")], r[_col(header, "dischtime")]
        kinds = [("Discharge summary", "Report", "")] + ([("Discharge summary", "Addendum", "")] if i % 3 == 0 else [])
        kinds += [("Radiology", "CHEST (PA & LAT)", "")] if i % 2 == 0 else []
        kinds += [("Discharge summary", "Report", "1")] if i == 1 else []  # iserror = 1
        for category, description, iserror in kinds:
            row_id += 1
            notes.append(
                [str(row_id), subject, hadm_id, disch[:10], "", "", category, description, "", iserror, texts[row_id % len(texts)]]
            )
    first = adm[0]  # a note without hadm_id
    notes.append([str(row_id + 1), first[_col(header, "subject_id")], "", first[_col(header, "dischtime")][:10], "", "",
                  "Discharge summary", "Report", "", "", texts[0]])  # fmt: skip
    _write_csv(folder / "NOTEEVENTS.csv", ["row_id", "subject_id", "hadm_id", "chartdate", "charttime", "storetime", "category",
                                           "description", "cgid", "iserror", "text"], notes)  # fmt: skip
    for split, ids in (("train", hadm[:-3]), ("dev", hadm[-3:-1]), ("test", hadm[-1:])):
        (folder / "splits").mkdir(exist_ok=True)
        (folder / "splits" / f"{split}_full_hadm_ids.csv").write_text("".join(f"{i}\n" for i in ids))
    split_files = [f"splits/{s}_full_hadm_ids.csv" for s in ("train", "dev", "test")]
    targets = ("NOTEEVENTS.csv",) * 4 + ("DIAGNOSES_ICD.csv", "PROCEDURES_ICD.csv", *split_files)
    bases.append(Base("mimic3-notes", folder, targets, "", "NOTEEVENTS.csv built on 8 MIMIC-III demo admissions (CodiEsp English texts) "
                      "+ their DIAGNOSES/PROCEDURES_ICD + CAML split files", {"version": "mimic-iii", "splits": "splits"},
                      {"splits_file": "splits"}))  # fmt: skip
    # MIMIC-IV: note/discharge.csv.gz + note/radiology.csv.gz on the demo's first admissions, and a MIMIC-IV ICD split table
    folder = out / "mimic4-notes"
    files = {"admissions": "hosp/admissions.csv.gz", "diagnoses": "hosp/diagnoses_icd.csv.gz", "procedures": "hosp/procedures_icd.csv.gz"}
    hadm = _trim_mimic(paths.dataset_dir("mimic4-demo"), folder, files, 6, 200)
    header, adm = _csv_rows(folder / files["admissions"])
    (folder / files["admissions"]).unlink()
    discharge, radiology = [], []
    for i, r in enumerate(adm):
        subject, hadm_id, disch = r[_col(header, "subject_id")], r[_col(header, "hadm_id")], r[_col(header, "dischtime")]
        for seq in range(1, 3 if i % 3 == 0 else 2):
            discharge.append([f"{subject}-DS-{i + seq}", subject, hadm_id, "DS", str(seq), disch, disch, texts[(i + seq) % len(texts)]])
        if i % 2 == 0:
            radiology.append([f"{subject}-RR-{i}", subject, hadm_id, "RR", "1", disch, disch, texts[(i + 5) % len(texts)]])
            radiology.append([f"{subject}-AR-{i}", subject, hadm_id, "AR", "2", disch, "", texts[(i + 6) % len(texts)]])
    columns = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]
    _write_csv(folder / "note" / "discharge.csv.gz", columns, discharge)
    _write_csv(folder / "note" / "radiology.csv.gz", columns, radiology)
    _write_csv(folder / "splits.csv", ["_id", "split"], [[str(h), "train" if k < len(hadm) - 2 else "val" if k < len(hadm) - 1 else "test"]
                                                        for k, h in enumerate(hadm)])  # fmt: skip
    targets = ("note/discharge.csv.gz",) * 3 + ("note/radiology.csv.gz", files["diagnoses"], files["procedures"], "splits.csv")
    bases.append(Base("mimic4-notes", folder, targets, "", "MIMIC-IV-Note-style discharge/radiology tables on 6 MIMIC-IV demo "
                      "admissions (CodiEsp English texts) + their hosp/ ICD tables + a split table",
                      {"version": "mimic-iv", "splits": "splits.csv"}, {"splits_file": "splits.csv"}))  # fmt: skip
    return bases


def _bases_config(out: Path) -> list[Base]:
    import yaml

    from medrnn.tasks.base import get_task, task_names

    bases = []
    for task in task_names():
        folder = out / f"config-{task}"
        folder.mkdir(parents=True)
        config = get_task(task).config_class()
        (folder / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        bases.append(Base(f"config-{task}", folder, ("config.yaml",), "config.yaml",
                          f"default run config of task {task} (model_dump -> YAML)", {"task": task}, {"task": task}))  # fmt: skip
    return bases


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


ARTIFACT_MODELS = {"lstm": {"input_size": 4, "num_classes": 3, "hidden_size": 8, "attention": True, "attention_size": 4, "head_hidden": 8},
                   "gru": {"input_size": 3, "num_classes": 2, "hidden_size": [6, 5], "bidirectional": True, "head_hidden": 4}}  # fmt: skip


def _bases_artifact(out: Path) -> list[Base]:
    """Tiny untrained models saved with save_artifact, passing only the keyword arguments it has (it is being reworked)."""
    import inspect

    import torch

    from medrnn.artifact import save_artifact
    from medrnn.models import create_model

    bases = []
    for name, config in ARTIFACT_MODELS.items():
        torch.manual_seed(0)
        model = create_model(name, **config)
        known = {"model": model, "preprocessing": {"mean": [0.0] * config["input_size"], "scale": [1.0] * config["input_size"]},
                 "class_names": [f"class{i}" for i in range(config["num_classes"])], "training_data": ["rec1", "rec2"],
                 "extra": {"task": "ecg_beats"}}  # fmt: skip
        params = inspect.signature(save_artifact).parameters
        path = Path(save_artifact(out / f"artifact-{name}", **{k: v for k, v in known.items() if k in params}))
        root = path if path.is_dir() else path.parent
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        metas = [f for f in files if f.endswith(".json")]
        bases.append(Base(f"artifact-{name}", root, tuple(files * 2 + metas), "" if path.is_dir() else path.name,
                          f"untrained {name} {config} written by save_artifact", {"shas": {f: _sha(root / f) for f in files}}))  # fmt: skip
    return bases


def build(reader: str, out: Path) -> list[Base]:
    """The bases of one reader, written under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    return globals()[f"_bases_{reader}"](out)


def rehash(folder: Path, base: Base) -> None:
    """Put the mutated files' new checksums wherever the old ones were written (weights_sha256, a manifest), until stable:
    a consistently tampered artifact, which only the content checks can refuse."""
    shas = dict(base.options["shas"])
    for _ in range(len(shas) + 1):
        changed = {f: _sha(folder / f) for f in shas if (folder / f).is_file() and not (folder / f).is_symlink()}
        changed = {f: new for f, new in changed.items() if new != shas[f]}
        if not changed:
            return
        for f, new in changed.items():
            for other in shas:
                path = folder / other
                if other != f and other.endswith(".json") and path.is_file() and not path.is_symlink():
                    path.write_bytes(path.read_bytes().replace(shas[f].encode(), new.encode()))
            shas[f] = new


def case_options(reader: str, base: Base, target: str, structural: bool, rng: random.Random) -> dict[str, Any]:
    """The reader's keyword options for one case (varied so that more of each reader runs)."""
    if reader == "wfdb":
        return {
            "suffix": rng.choice(["", ".hea"]),
            "expected_sfreq_hz": rng.choice([None, None, 360.0]),
            "leads": rng.choice([None, None, ["MLII"]]),
        }
    if reader == "smiles":
        return {"targets": base.options["targets"] if rng.random() < 0.8 else None,
                "id_column": base.options["id_column"] if rng.random() < 0.5 else None,
                "smiles_column": "smiles" if rng.random() < 0.15 else None}  # fmt: skip
    if reader == "physionet2012":
        return {
            "function": base.options["function"],
            "as_bytes": base.options["function"] == "record" and not structural and rng.random() < 0.25,
        }
    if reader == "mimic":
        sources = [
            ["diagnoses", "procedures", "prescriptions"],
            ["diagnoses", "procedures", "prescriptions", "labevents"],
            ["diagnoses"],
            ["prescriptions", "labevents"],
        ]
        if "LABEVENTS" in target.upper():
            sources = [s for s in sources if "labevents" in s]
        return {"code_sources": rng.choice(sources)}
    if reader == "codiesp":
        split = target.split("/")[0]
        return {"splits": ["train", "dev", "test"] if rng.random() < 0.75 else [split], "language": "es" if rng.random() < 0.7 else "en",
                "code_types": rng.choice([["D"], ["D", "P"], ["P"]]), "with_spans": rng.random() < 0.8}  # fmt: skip
    if reader == "mimic_notes":
        split = "split" in target or rng.random() < 0.4
        return {"categories": rng.choice([["Discharge summary"], ["Discharge summary"], None, ["Radiology"]]),
                "splits_file": base.options["splits"] if split else None,
                "icd_version": rng.choice([None, 9, 10]) if base.options["version"] == "mimic-iv" and rng.random() < 0.3 else None,
                }  # fmt: skip
    if reader == "config":
        return {"task": base.options["task"]}
    return {"rehash": rng.random() < 0.8}


def call_reader(reader: str, entry: Path, base: Base, options: dict[str, Any]) -> None:
    """Run the reader's public function(s) on `entry` with the case's options."""
    if reader == "wfdb":
        from medrnn.io.wfdb import read_wfdb

        read_wfdb(str(entry) + options.get("suffix", ""), expected_sfreq_hz=options.get("expected_sfreq_hz"), leads=options.get("leads"))
    elif reader == "smiles":
        from medrnn.io.smiles import read_smiles_csv

        read_smiles_csv(
            entry, targets=options.get("targets"), smiles_column=options.get("smiles_column"), id_column=options.get("id_column")
        )
    elif reader == "physionet2012":
        from medrnn.io.physionet2012 import read_outcomes, read_physionet2012_record

        if options["function"] == "outcomes":
            read_outcomes(entry)
        elif options.get("as_bytes"):  # how sets B and C are read: member bytes of a tar archive
            read_physionet2012_record(entry.read_bytes(), source=f"set-b.tar.xz:{entry.name}")
        else:
            read_physionet2012_record(entry)
    elif reader == "mimic":
        from medrnn.io.mimic import read_mimic

        read_mimic(entry, code_sources=options.get("code_sources", ("diagnoses", "procedures", "prescriptions")))
    elif reader == "codiesp":
        from medrnn.io.codiesp import read_codiesp

        read_codiesp(entry, splits=options["splits"], language=options["language"], code_types=options["code_types"],
                     with_spans=options["with_spans"])  # fmt: skip
    elif reader == "mimic_notes":
        from medrnn.io.mimic_notes import read_mimic_notes

        splits = options.get("splits_file")
        read_mimic_notes(entry, categories=options.get("categories", ("Discharge summary",)),
                         splits_file=entry / splits if splits else None, icd_version=options.get("icd_version"))  # fmt: skip
    elif reader == "config":
        from medrnn.config import load_config
        from medrnn.tasks.base import get_task

        load_config(entry, get_task(options["task"]).config_class)
    else:
        from medrnn.artifact import load_artifact, read_metadata

        read_metadata(entry)
        load_artifact(entry)


# ---------------------------------------------------------------- mutations: (bytes, rng) -> (bytes, details)


def _pos(data: bytes, rng: random.Random, end: bool = True) -> int:
    return rng.randrange(len(data) + (1 if end else 0)) if data or end else 0


PRINTABLE = bytes(range(32, 127)) + b"\t\n\r"


def _byte_op(op: str, data: bytes, rng: random.Random, text: bool = False) -> tuple[bytes, dict[str, Any]]:
    """Byte-level damage; on text files mostly ASCII-preserving (3 in 4), so that more cases get past the UTF-8 check."""
    buf = bytearray(data)
    keep_ascii = text and rng.random() < 0.75
    if op == "bitflip" and buf:
        bits = [rng.randrange(len(buf)) * 8 + rng.randrange(7 if keep_ascii else 8) for _ in range(rng.randint(1, 8))]
        for b in bits:
            buf[b // 8] ^= 1 << (b % 8)
        return bytes(buf), {"bits": bits}
    if op == "byteflip" and buf:
        at = [(rng.randrange(len(buf)), rng.choice(PRINTABLE) if keep_ascii else rng.randrange(256)) for _ in range(rng.randint(1, 8))]
        for i, v in at:
            buf[i] = v
        return bytes(buf), {"bytes": at}
    if op == "truncate":
        cut = _pos(data, rng)
        return data[:cut], {"at": cut}
    if op == "insert_bytes":
        at = _pos(data, rng)
        alphabet = PRINTABLE if keep_ascii else bytes(range(256))
        blob = rng.choice([bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 64))), b"\x00", b"\xff" * 16, b"\n", b",", b"\t"])
        return data[:at] + blob + data[at:], {"at": at, "bytes": blob[:32].hex()}
    if op == "delete_bytes" and data:
        at, n = _pos(data, rng, end=False), rng.randint(1, 64)
        return data[:at] + data[at + n :], {"at": at, "n": n}
    if op == "duplicate_bytes" and data:
        a, n, b = _pos(data, rng, end=False), rng.randint(1, 256), _pos(data, rng)
        return data[:b] + data[a : a + n] + data[b:], {"from": a, "n": n, "to": b}
    return data, {"noop": "empty file"}


def _lines_op(op: str, data: bytes, rng: random.Random) -> tuple[bytes, dict[str, Any]]:
    lines = data.split(b"\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if op == "line_duplicate":
        lines.insert(i, lines[i])
    elif op == "line_delete":
        del lines[i]
    elif op == "line_insert":
        lines.insert(j, lines[i])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines), {"line": i + 1, "other": j + 1}


def _column_op(op: str, data: bytes, rng: random.Random) -> tuple[bytes, dict[str, Any]]:
    """Duplicate one column (same header name, or its case variant) on every line; naive split, no quote handling."""
    lines = data.split(b"\n")
    sep = b"\t" if b"\t" in lines[0] else b","
    header = lines[0].split(sep)
    j = rng.randrange(len(header))
    name = header[j]
    if op == "column_case":
        name = rng.choice([name.upper(), name.lower(), name.swapcase(), name.capitalize()])
    header_only = rng.random() < 0.3  # the header names a column twice but rows keep their width
    out = [lines[0] + sep + name]
    for line in lines[1:]:
        fields = line.split(sep)
        out.append(line if header_only or len(fields) <= j or not line else line + sep + fields[j])
    return b"\n".join(out), {"column": header[j][:60].decode("latin-1"), "as": name[:60].decode("latin-1"), "header_only": header_only}


def _text_op(op: str, data: bytes, rng: random.Random) -> tuple[bytes, dict[str, Any]]:
    if op.startswith("line_") and op != "line_endings":
        return _lines_op(op, data, rng)
    if op.startswith("column_"):
        return _column_op(op, data, rng)
    if op in ("numeric", "long_name"):
        matches = list((NUMBER if op == "numeric" else WORD).finditer(data))
        if not matches:
            return data, {"noop": "no token"}
        m = rng.choice(matches)
        if op == "numeric":
            new = rng.choice(EXTREMES)
        else:
            new = rng.choice([b"x" * 300, (m.group() * 300)[:300], bytes(rng.choice(b"ABCDEFabcdef0123") for _ in range(300))])
        return data[: m.start()] + new + data[m.end() :], {
            "at": m.start(),
            "old": m.group()[:40].decode("latin-1"),
            "new": new[:40].decode(),
            "new_chars": len(new),
        }
    at = _pos(data, rng)
    if op == "non_utf8":
        if rng.random() < 0.15:
            return data.decode("utf-8", "replace").encode(rng.choice(["utf-16", "latin-1", "cp1252"]), "replace"), {"reencoded": True}
        blob = rng.choice([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\x80", b"\xe9", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf"])
    elif op == "line_endings":
        kind = rng.choice(["crlf", "cr", "insert"])
        if kind != "insert":
            return data.replace(b"\n", b"\r\n" if kind == "crlf" else b"\r"), {"kind": kind}
        blob = rng.choice([b"\xe2\x80\xa8", b"\xc2\x85", b"\x0b", b"\x0c", b"\x1c", b"\x1e", b"\r", b"\xef\xbb\xbf"])
    else:  # control_chars
        blob = rng.choice([b"\x00", b"\x00" * 8, b"\x1a", b"\x7f", b"\x1b[2J"])
    return data[:at] + blob + data[at:], {"at": at, "bytes": blob.hex()}


def _format_op(op: str, data: bytes, rng: random.Random, kind: str) -> tuple[bytes, dict[str, Any]]:
    """YAML/JSON-specific values put in place of one scalar value of the file."""
    matches = list((YAML_SCALAR if kind == "yaml" else JSON_SCALAR).finditer(data))
    if not matches:
        return data, {"noop": "no scalar"}
    m = rng.choice(matches)
    if op == "alias_bomb":
        depth, width = rng.randint(6, 14), rng.choice([9, 10])
        levels = [b"&l0 [" + b", ".join([b"lol"] * width) + b"]"]
        levels += [b"&l%d [" % d + b", ".join([b"*l%d" % (d - 1)] * width) + b"]" for d in range(1, depth)]
        new = b"[" + b", ".join(levels) + b"]"
        info = {"depth": depth, "width": width}
    elif op == "deep_nesting":
        n = rng.choice([100, 1_000, 10_000, 100_000])
        new = (
            (b"[" * n + b"]" * n)
            if rng.random() < 0.7
            else (b'{"a": ' * n + b"1" + b"}" * n if kind == "json" else b"{a: " * n + b"1" + b"}" * n)
        )
        info = {"depth": n}
    else:
        new = rng.choice(YAML_VALUES if kind == "yaml" else JSON_VALUES)
        info = {"value": new[:60].decode()}
    tail = m.group(3) if kind == "json" else b""
    return data[: m.start(2)] + new + tail + data[m.end() :], {"at": m.start(), "key": m.group(1).strip()[:40].decode("latin-1"), **info}


def _gzip_op(op: str, data: bytes, rng: random.Random) -> tuple[bytes, dict[str, Any]]:
    packed = gzip.compress(data, mtime=0)
    if op == "gzip":
        return packed, {}
    how = rng.choice(["truncate", "bitflip", "crc", "trailing", "header"])
    buf = bytearray(packed)
    if how == "truncate":
        cut = rng.randrange(len(buf))
        return bytes(buf[:cut]), {"how": how, "at": cut}
    if how == "trailing":
        return packed + rng.choice([b"\x00" * 7, b"garbage", gzip.compress(b"x,y\n1,2\n")]), {"how": how}
    i = {"bitflip": rng.randrange(10, max(11, len(buf) - 8)), "crc": len(buf) - rng.randint(1, 8), "header": rng.randrange(10)}[how]
    buf[i] ^= 1 << rng.randrange(8)
    return bytes(buf), {"how": how, "at": i}


def _to_parquet(data: bytes) -> bytes:
    import polars as pl

    out = io.BytesIO()
    if data[:2] == b"\x1f\x8b":  # a .csv.gz table taken as it lies
        data = gzip.decompress(data)
    pl.read_csv(io.BytesIO(data), infer_schema=False).write_parquet(out)
    return out.getvalue()


def _kind(target: str) -> str:
    suffixes = Path(target.removesuffix(".gz")).suffix
    return {".dat": "binary", ".atr": "binary", ".safetensors": "binary", ".yaml": "yaml", ".json": "json"}.get(suffixes, "text")


def make_case(reader: str, index: int, seed: int, bases: list[Base]) -> dict[str, Any]:
    """The case `index` of `reader`: base, target file, mutation ops and reader options, all from one seeded RNG."""
    rng = random.Random(f"{seed}:{reader}:{index}")
    base = rng.choice(bases)
    target = rng.choice(base.targets)
    kind = _kind(target)
    layer = "content" if target.endswith(".gz") and rng.random() < 0.75 else "raw"
    table = reader in ("mimic", "mimic_notes") and re.search(r"\.csv(\.gz)?$", target) and "split" not in target
    r = rng.random()
    if r < 0.08:
        ops = [rng.choice(FILE_OPS)]
    elif r < 0.14 and table:
        ops = ["to_parquet", *([rng.choice(BYTE_OPS)] if rng.random() < 0.6 else [])]
    else:
        pool = BYTE_OPS + GZ_OPS + (("numeric",) if kind == "binary" else TEXT_OPS + FORMAT_OPS.get(kind, ()))
        if kind in FORMAT_OPS:  # YAML/JSON: weigh the edits that keep the syntax valid, so the schema checks run too
            pool += ("numeric", "long_name") * 3 + FORMAT_OPS[kind] * 2
        ops = [rng.choice(pool) for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3))]
    options = case_options(reader, base, target, ops[0] in FILE_OPS, rng)
    return {"reader": reader, "index": index, "seed": seed, "base": base.name, "target": target, "layer": layer, "ops": ops,
            "options": options, "mutation_seed": rng.getrandbits(32)}  # fmt: skip


def materialize(case: dict[str, Any], base: Base, folder: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Copy the base into `folder`, mutate the case's target file there; return the path to hand the reader and the ops done."""
    if folder.exists() or folder.is_symlink():
        shutil.rmtree(folder)
    shutil.copytree(base.folder, folder, symlinks=True)
    rng = random.Random(case["mutation_seed"])
    path = folder / case["target"]
    done: list[dict[str, Any]] = []
    name = path.name
    if case["ops"] and case["ops"][0] in FILE_OPS:
        op = case["ops"][0]
        path.unlink()
        if op == "empty":
            path.write_bytes(b"")
        elif op == "directory":
            path.mkdir()
        elif op == "dangling_symlink":
            path.symlink_to(f"missing-{name}")
        elif op == "symlink_loop":
            path.symlink_to(name)
        done.append({"op": op})
    else:
        data = path.read_bytes()
        regzip = case["layer"] == "content"
        plain = regzip or not case["target"].endswith(".gz")  # data holds the text itself, not a compressed or parquet stream
        if regzip:
            data = gzip.decompress(data)
        for op in case["ops"]:
            if op == "to_parquet":
                data, regzip, plain = _to_parquet(data), False, False
                name, info = re.sub(r"\.csv(\.gz)?$", ".parquet", name), {}
            elif op in GZ_OPS:
                data, info = _gzip_op(op, data, rng)
                regzip = plain = False
                if case["reader"] in GZ_READERS and not name.endswith(".gz"):
                    name += ".gz"
            elif op in BYTE_OPS:
                data, info = _byte_op(op, data, rng, text=plain and _kind(case["target"]) != "binary")
            elif op in TEXT_OPS or op == "numeric":
                data, info = _text_op(op, data, rng)
            else:
                data, info = _format_op(op, data, rng, _kind(case["target"]))
            done.append({"op": op, **info})
        if regzip:
            data = gzip.compress(data, mtime=0)
        if name != path.name:
            path.unlink()
            done[-1]["renamed"] = name
        (path.parent / name).write_bytes(data)
        if case["options"].get("rehash"):
            rehash(folder, base)
    entry = folder / base.entry if base.entry else folder
    if base.entry == case["target"]:
        entry = entry.with_name(name)
    return entry, done


# ---------------------------------------------------------------- worker


def _where(tb: list[traceback.FrameSummary]) -> tuple[str, str]:
    """(innermost medrnn frame, innermost frame) as 'path:line function'."""

    def short(f: traceback.FrameSummary) -> str:
        path = f.filename
        for marker in ("/src/medrnn/", "/site-packages/", "/lib/python"):
            if marker in path:
                path = path.split(marker, 1)[1] if marker != "/src/medrnn/" else "medrnn/" + path.split(marker, 1)[1]
                break
        return f"{path}:{f.lineno} {f.name}"

    own = [f for f in tb if "/src/medrnn/" in f.filename or "/site-packages/medrnn/" in f.filename]
    return (short(own[-1]) if own else "-"), (short(tb[-1]) if tb else "-")


def _type_name(err: BaseException) -> str:
    cls = type(err)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def run_case(case: dict[str, Any], base: Base, work: Path) -> dict[str, Any]:
    """Materialize and read one case here; the outcome, exception and timings."""
    from medrnn.errors import MedrnnError

    started = time.perf_counter()
    try:
        entry, done = materialize(case, base, work / "case")
    except Exception as err:  # noqa: BLE001 - a harness bug, counted apart from the reader's outcomes
        return {"outcome": "harness_errors", "type": type(err).__name__, "message": str(err)[:300], "ops": [], "read_s": 0.0}
    read_start = time.perf_counter()
    out: dict[str, Any] = {"outcome": "accepted", "ops": done}
    try:
        call_reader(case["reader"], entry, base, case["options"])
    except MedrnnError as err:
        out.update(outcome="medrnn_errors", type=type(err).__name__, message=str(err)[:300])
    except BaseException as err:  # noqa: BLE001 - anything else (SystemExit and RecursionError included) is a finding
        frames = traceback.extract_tb(err.__traceback__)
        medrnn_at, raised_at = _where(frames)
        out.update(outcome="foreign_exceptions", type=_type_name(err), message=str(err)[:500], where=medrnn_at, raised_at=raised_at,
                   traceback="".join(traceback.format_exception(err, limit=-6))[-2500:])  # fmt: skip
    out["message"] = out.get("message", "").replace(str(work / "case"), "<case>")
    out["read_s"], out["materialize_s"] = time.perf_counter() - read_start, read_start - started
    return out


def worker_main(conn: Any, work: str, memory_gb: float, timeout: float) -> None:
    """Persistent worker: output to a log the parent reads after a crash or hang; memory capped; cases over a pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    work_dir = Path(work)
    log = os.open(work_dir / "output.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 1)
    os.dup2(log, 2)
    faulthandler.enable()
    if memory_gb > 0:
        limit = int(memory_gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    bases: dict[str, Base] = {}
    conn.send(("ready", os.getpid()))
    while True:
        msg = conn.recv()
        if msg is None:
            return
        sys.stderr.flush()
        os.ftruncate(1, 0)
        os.lseek(1, 0, os.SEEK_SET)
        if msg[0] == "warm":  # import the reader and read every base unmutated: slow imports stay out of case timings
            bases = {b.name: b for b in msg[2]}
            checks = {}
            for b in msg[2]:
                case = {"reader": msg[1], "target": b.targets[0], "ops": [], "layer": "raw", "mutation_seed": 0, "options": b.check_options}
                r = run_case(case, b, work_dir)
                checks[b.name] = (
                    "accepted" if r["outcome"] == "accepted" else f"{r['outcome']}: {r.get('type')}: {r.get('message', '')[:200]}"
                )
            conn.send(("warm", checks))
            continue
        case = msg[1]
        faulthandler.dump_traceback_later(timeout * 0.9)  # where a hang is stuck, for the parent to read in the log
        result = run_case(case, bases[case["base"]], work_dir)
        faulthandler.cancel_dump_traceback_later()
        conn.send(("case", result))


@dataclass
class Worker:
    proc: Any
    conn: Any
    folder: Path
    case: dict[str, Any] | None = None
    deadline: float = 0.0
    started: float = 0.0


@dataclass
class Tally:
    """Outcome counts, grouped findings and timings of one reader."""

    counts: Counter[str] = field(default_factory=Counter)
    groups: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    by_op: dict[str, Counter[str]] = field(default_factory=dict)
    read_ms: list[float] = field(default_factory=list)

    def add(self, case: dict[str, Any], r: dict[str, Any]) -> None:
        outcome = r["outcome"]
        self.counts[outcome] += 1
        for op in dict.fromkeys(case["ops"]):
            self.by_op.setdefault(op, Counter())[outcome] += 1
        if "read_s" in r:
            self.read_ms.append(1000 * r["read_s"])
        if outcome == "medrnn_errors":
            self.errors[f"{r['type']}: {_pattern(r['message'])[:120]}"] += 1
        if outcome not in ("foreign_exceptions", "crashes", "hangs", "harness_errors"):
            return
        key = (outcome, r.get("type", ""), r.get("where", "-") + " | " + r.get("raised_at", "-"))
        if key not in self.groups and len(self.groups) >= MAX_GROUPS:
            key = (outcome, "other", "groups over the cap")
        group = self.groups.setdefault(key, {"outcome": outcome, "type": key[1], "where": r.get("where"), "raised_at": r.get("raised_at"),
                                             "count": 0, "patterns": Counter(), "examples": []})  # fmt: skip
        group["count"] += 1
        group["patterns"][_pattern(r.get("message", ""))[:160]] += 1
        if len(group["examples"]) < MAX_EXAMPLES:
            example = {k: case[k] for k in ("reader", "index", "seed", "base", "target", "layer", "options")}
            example.update({k: r[k] for k in ("message", "traceback", "signal", "exit_code", "seconds", "log_tail") if k in r})
            example["mutation"] = r.get("ops") or case["ops"]
            example["replay"] = f"python benchmarks/fuzz_readers.py --replay {case['reader']}:{case['index']} --seed {case['seed']}"
            group["examples"].append(example)

    def block(self) -> dict[str, Any]:
        ms = sorted(self.read_ms) or [0.0]
        q = lambda p: round(ms[min(len(ms) - 1, int(p * len(ms)))], 2)  # noqa: E731
        groups = sorted(self.groups.values(), key=lambda g: -g["count"])
        for g in groups:
            g["patterns"] = dict(g["patterns"].most_common(5))
        timing = {"mean": round(sum(ms) / len(ms), 2), "p50": q(0.5), "p99": q(0.99), "max": round(ms[-1], 1)}
        return {"findings": groups, "read_ms": timing,
                "harness_errors": self.counts["harness_errors"], "medrnn_error_patterns": dict(self.errors.most_common(15)),
                "by_op": {op: dict(c) for op, c in sorted(self.by_op.items())}}  # fmt: skip


def _pattern(message: str) -> str:
    """A message with numbers and quoted text blanked, so one bug reads as one pattern."""
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message.split("\n")[0])
    return re.sub(r"\d+(\.\d+)?", "N", message)


class Pool:
    """`n` persistent workers; each case has `timeout` seconds; a dead or hung worker is replaced and re-warmed."""

    def __init__(self, n: int, work: Path, memory_gb: float, timeout: float) -> None:
        self.ctx, self.work, self.memory_gb, self.timeout = mp.get_context("spawn"), work, memory_gb, timeout
        self.workers = [self._spawn(i) for i in range(n)]
        self.warm_args: tuple[str, list[Base]] | None = None
        self.respawns = 0

    def _spawn(self, i: int) -> Worker:
        folder = self.work / f"worker{i}"
        folder.mkdir(parents=True, exist_ok=True)
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=worker_main, args=(child, str(folder), self.memory_gb, self.timeout), daemon=True)
        proc.start()
        child.close()
        if not parent.poll(300):
            raise RuntimeError(f"worker {i} did not start within 300 s (see {folder / 'output.log'})")
        parent.recv()
        w = Worker(proc, parent, folder)
        if getattr(self, "warm_args", None):
            self._warm(w)
        return w

    def _warm(self, w: Worker) -> dict[str, str]:
        w.conn.send(("warm", *self.warm_args))
        if not w.conn.poll(600):
            raise RuntimeError(f"worker did not warm up within 600 s (see {w.folder / 'output.log'})")
        return w.conn.recv()[1]

    def warm(self, reader: str, bases: list[Base]) -> dict[str, str]:
        self.warm_args = (reader, bases)
        return [self._warm(w) for w in self.workers][0]

    def _replace(self, w: Worker, kill: bool) -> dict[str, Any]:
        """Kill (on a hang) and reap a worker; what its log says; a fresh worker in its place."""
        if kill and w.proc.is_alive():
            os.kill(w.proc.pid, signal.SIGKILL)
        w.proc.join(10)
        code = w.proc.exitcode
        log = (w.folder / "output.log").read_bytes().decode("utf-8", "replace").split("\nExtension modules:")[0][-3000:]
        info: dict[str, Any] = {"exit_code": code, "log_tail": log}
        if code is not None and code < 0:
            info["signal"] = signal.Signals(-code).name
        i = self.workers.index(w)
        w.conn.close()
        self.workers[i] = self._spawn(i)
        self.respawns += 1
        return info

    def run(self, cases: list[dict[str, Any]], on_result: Any) -> None:
        queue = list(reversed(cases))
        while True:
            for w in self.workers:
                if w.case is None and queue:
                    w.case, w.started = queue.pop(), time.monotonic()
                    w.deadline = w.started + self.timeout
                    w.conn.send(("case", w.case))
            busy = [w for w in self.workers if w.case is not None]
            if not busy:
                return
            wait([x for w in busy for x in (w.conn, w.proc.sentinel)], timeout=max(0.0, min(w.deadline for w in busy) - time.monotonic()))
            for w in busy:
                case, result = w.case, None
                try:
                    if w.conn.poll():
                        result = w.conn.recv()[1]
                except (EOFError, OSError):
                    pass
                if result is None and not w.proc.is_alive():
                    result = {"outcome": "crashes", "type": "worker died", **self._replace(w, kill=False)}
                elif result is None and time.monotonic() > w.deadline:
                    seconds = time.monotonic() - w.started
                    result = {
                        "outcome": "hangs",
                        "type": f"over {self.timeout:g} s",
                        "seconds": round(seconds, 1),
                        **self._replace(w, kill=True),
                    }
                if result is None:
                    continue
                w.case = None
                if result["outcome"] == "crashes":
                    result["message"] = result.get("signal") or f"exit code {result.get('exit_code')}"
                elif result["outcome"] == "hangs":
                    result["message"] = f"no result after {result['seconds']:.1f} s; killed"
                if result["outcome"] in ("crashes", "hangs"):
                    result["ops"] = _details(case)
                on_result(case, result)

    def close(self) -> None:
        for w in self.workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in self.workers:
            w.proc.join(5)
            if w.proc.is_alive():
                os.kill(w.proc.pid, signal.SIGKILL)


_BASES: dict[str, Base] = {}


def _details(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The ops of a case whose worker died, rebuilt here (materialization is deterministic)."""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return materialize(case, _BASES[case["base"]], Path(tmp) / "case")[1]
    except Exception as err:  # noqa: BLE001 - the case itself is what is recorded; the details are a convenience
        return [{"ops": case["ops"], "details_unavailable": str(err)[:200]}]


# ---------------------------------------------------------------- driver


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("medrnn", "wfdb", "numpy", "pandas", "polars", "rdkit", "pyyaml", "pydantic", "torch", "safetensors"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    tmp.replace(path)


def replay(spec: str, seed: int, keep: str | None) -> int:
    """Rebuild case READER:INDEX, run it in this process and print what happened (and the traceback)."""
    reader, index = spec.split(":")
    with tempfile.TemporaryDirectory(prefix="medrnn-fuzz-") as tmp:
        root = Path(tmp)
        bases = build(reader, root / "bases")
        case = make_case(reader, int(index), seed, bases)
        base = next(b for b in bases if b.name == case["base"])
        folder = Path(keep) if keep else root / "case"
        entry, done = materialize(case, base, folder)
        print(json.dumps({**case, "entry": str(entry), "mutation": done}, indent=1, default=str))
        from medrnn.errors import MedrnnError

        try:
            call_reader(reader, entry, base, case["options"])
            print("accepted")
        except MedrnnError as err:
            print(f"medrnn error: {type(err).__name__}: {err}")
        except Exception:  # noqa: BLE001 - show the finding
            traceback.print_exc()
        if keep:
            print(f"case kept in {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="cases per reader")
    parser.add_argument("--readers", default=",".join(READERS), help=f"comma-separated, of {','.join(READERS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-gb", type=float, default=6.0, help="address-space cap per worker (0: none)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--replay", metavar="READER:INDEX", help="rebuild and run one case here, with its traceback")
    parser.add_argument("--keep", help="with --replay: folder to write the mutated case to")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.seed, args.keep)
    readers = [r.strip() for r in args.readers.split(",") if r.strip()]
    unknown = [r for r in readers if r not in READERS]
    if unknown:
        parser.error(f"unknown reader(s) {unknown}; valid: {', '.join(READERS)}")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # inherited by the workers: 2 workers on 2 cores, no oversubscription
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    command = "python benchmarks/fuzz_readers.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out.update({"benchmark": "fuzz_readers", "command": command.strip(),
                "seed": args.seed, "cases_per_reader": args.cases, "timeout_s": args.timeout, "workers": args.workers,
                "memory_limit_gb": args.memory_gb, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": machine(), "versions": versions()})  # fmt: skip
    for key in ("summary", "readers", "skipped"):
        out.setdefault(key, {})
    shm = Path("/dev/shm")  # tmpfs: copying a base per case is ~10x faster there than on disk
    work = Path(tempfile.mkdtemp(prefix="medrnn-fuzz-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    pool = None
    try:
        pool = Pool(args.workers, work / "workers", args.memory_gb, args.timeout)
        for reader in readers:
            started = time.perf_counter()
            try:
                bases = build(reader, work / "bases" / reader)
            except Exception as err:  # noqa: BLE001 - a reader whose bases cannot be built is recorded as skipped
                out["skipped"][reader] = f"bases could not be built: {type(err).__name__}: {err}"
                out["summary"].pop(reader, None)
                write_json(args.out, out)
                continue
            out["skipped"].pop(reader, None)
            _BASES.update({b.name: b for b in bases})
            checks = pool.warm(reader, bases)
            build_s = time.perf_counter() - started
            cases = [make_case(reader, i, args.seed, bases) for i in range(args.cases)]
            tally, bar = Tally(), __import__("tqdm").tqdm(total=len(cases), desc=reader, unit="case", dynamic_ncols=True)

            def on_result(case: dict[str, Any], r: dict[str, Any], tally: Tally = tally, bar: Any = bar) -> None:
                tally.add(case, r)
                bar.update()
                if bar.n % 50 == 0 or r["outcome"] in ("crashes", "hangs"):
                    bar.set_postfix(err=tally.counts["medrnn_errors"], foreign=tally.counts["foreign_exceptions"],
                                    crash=tally.counts["crashes"], hang=tally.counts["hangs"], ok=tally.counts["accepted"])  # fmt: skip

            fuzz_start = time.perf_counter()
            pool.run(cases, on_result)
            bar.close()
            seconds = time.perf_counter() - fuzz_start
            out["summary"][reader] = {
                "cases": len(cases),
                **{k: tally.counts[k] for k in OUTCOMES[1:]},
                "accepted": tally.counts["accepted"],
            }
            out["readers"][reader] = {"seed": args.seed, "cases": len(cases), "timeout_s": args.timeout, "date": out["date"],
                                      "seconds": round(seconds, 1), "setup_seconds": round(build_s, 1),
                                      "ms_per_case_wall": round(1000 * seconds / max(1, len(cases)), 2),
                                      "bases": [{"name": b.name, "what": b.what, "targets": sorted(set(b.targets)),
                                                 "unmutated": checks.get(b.name)} for b in bases], **tally.block()}  # fmt: skip
            out["respawns"] = pool.respawns
            write_json(args.out, out)
            s = out["summary"][reader]
            print(f"{reader}: {s} in {seconds:.0f} s", flush=True)
    finally:
        if pool is not None:
            pool.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
