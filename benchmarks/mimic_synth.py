"""MIMIC-IV-shaped hosp tables at any scale, resampled from the MIMIC-IV demo (100 patients), for reader benchmarks.

    python benchmarks/mimic_synth.py --out DIR --patients 300000 [--seed 0] [--compress-level 6] [--threads 2]

Writes DIR/hosp/{patients,admissions,diagnoses_icd,procedures_icd,prescriptions,labevents}.csv.gz with the demo's
columns in the demo's order and formats (datetimes "YYYY-MM-DD HH:MM:SS", dates "YYYY-MM-DD", empty cells for
nulls; every non-id, non-time cell is copied verbatim from a demo row), plus DIR/synth.json (arguments, row counts,
seconds). How a synthetic patient is made:
  * each patient copies a demo patient drawn at random (gender, age, year group, dod); a fraction ACTIVE_FRACTION
    of them also gets that demo patient's admissions (so admissions per patient follow the demo), with all times
    shifted by one random whole number of days per patient (anchor_year moves with it);
  * each admission keeps its demo admission's row counts (diagnoses, procedures, prescriptions, labs) and ICD
    version, and draws those rows uniformly from the demo rows of that table (and version): codes, NDCs, itemids,
    flags and values follow the demo's empirical frequencies; a diagnosis drawn twice for one admission is kept
    once (real admissions list a code once); child times keep their relative position within the admission;
  * labs without hadm_id (26% of demo labs) are drawn per patient, timed relative to the first admission.
The demo is ICU-selected (2.75 admissions, 45 diagnoses and 1,077 lab rows per patient), so only
ACTIVE_FRACTION = 0.37 of patients get hospital rows. 300,000 patients then give (15 x the rows of a 20,000-patient
run) ~304k admissions, ~4.8M diagnosis, ~0.8M procedure, ~20M prescription and ~122M lab rows, ~4.1 GB of .csv.gz
(real MIMIC-IV 2.2: 299,712 patients, 431k admissions, 4.76M diagnoses, 118M labs).
Patients are generated in chunks of --chunk-patients (memory stays bounded), the rng of a chunk is seeded by
(seed, first patient), so the output (byte for byte) depends only on --seed, --patients and --chunk-patients. Each
file is one gzip stream whose 16 MB blocks are deflated in parallel by --threads threads (the pigz method). Cost per
20,000 patients: 55 CPU-seconds at gzip level 6 (the default, as the real files), 22 at level 1 (files ~30% larger);
peak memory ~2.4 GB with the default 5,000-patient chunks.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import zlib
from collections import deque
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from tqdm import tqdm

from medrnn import paths

TABLES = ("patients", "admissions", "diagnoses_icd", "procedures_icd", "prescriptions", "labevents")
ACTIVE_FRACTION = 0.37  # share of patients with hospital rows; 0.37 x demo rates = ~120M labs, ~5M diagnoses at 300k
SUBJECT_BASE, HADM_BASE, HADM_SPAN, HADM_STEP = 10_000_000, 20_000_000, 10_000_000, 3_659_983  # step coprime to span
SHIFT_DAYS = 3650  # per-patient date shift, uniform in +-10 years
DATETIME = "%Y-%m-%d %H:%M:%S"
ADM_TIMES = ("admittime", "dischtime", "deathtime", "edregtime", "edouttime")
BLOCK = 16 << 20


@dataclass(frozen=True)
class Demo:
    """The demo tables as strings plus the per-patient/per-admission counts and row pools the generator draws from."""

    columns: dict[str, list[str]]
    patients: pl.DataFrame  # dod parsed to Date
    admissions: pl.DataFrame  # sorted by patient; time columns parsed
    adm_start: np.ndarray  # (n_patients,) first row of each patient in `admissions`
    adm_count: np.ndarray  # (n_patients,)
    admit_s: np.ndarray  # (n_admissions,) admittime, epoch seconds
    los_s: np.ndarray  # (n_admissions,) length of stay in seconds, at least one hour
    first_admit_s: np.ndarray  # (n_patients,)
    per_adm: dict[str, np.ndarray]  # n_dx, n_px, n_rx, n_lab, dx_version, px_version per admission
    lab_null_count: np.ndarray  # (n_patients,) labs without hadm_id
    pools: dict[str, pl.DataFrame]  # dx9, dx10, px9, px10, rx, lab, lab_null


def load_demo(root: Path) -> Demo:
    """Read the demo hosp tables (all columns as strings, as written) and index them for resampling."""
    raw = {t: pl.read_csv(root / "hosp" / f"{t}.csv.gz", infer_schema=False) for t in TABLES}
    columns = {t: df.columns for t, df in raw.items()}
    pat = raw["patients"].with_columns(pl.col("dod").str.to_date("%Y-%m-%d"))
    order = {s: i for i, s in enumerate(pat["subject_id"])}
    adm = (
        raw["admissions"]
        .with_columns(
            *[pl.col(c).str.to_datetime(DATETIME) for c in ADM_TIMES],
            _pat=pl.col("subject_id").replace_strict(order, return_dtype=pl.Int64),
        )
        .sort("_pat", "admittime")
    )
    adm_count = np.bincount(adm["_pat"].to_numpy(), minlength=pat.height)
    adm_start = np.concatenate([[0], np.cumsum(adm_count)[:-1]])
    admit_s = adm["admittime"].dt.epoch("s").to_numpy()
    los_s = np.maximum(adm["dischtime"].dt.epoch("s").to_numpy() - admit_s, 3600)
    first_admit_s = admit_s[adm_start]
    adm_info = pl.DataFrame({"hadm_id": adm["hadm_id"], "_t0": admit_s, "_los": los_s})

    def frac(df: pl.DataFrame, col: str) -> pl.DataFrame:
        t = pl.col(col).str.to_datetime("%Y-%m-%d" if col == "chartdate" else DATETIME).dt.epoch("s")
        return df.join(adm_info, on="hadm_id", how="left").with_columns(_frac=(t - pl.col("_t0")) / pl.col("_los"))

    def per_adm(df: pl.DataFrame, value: pl.Expr) -> np.ndarray:
        out = df.group_by("hadm_id").agg(value.alias("v"))
        ref = pl.DataFrame({"hadm_id": adm["hadm_id"]}).join(out, on="hadm_id", how="left")
        return ref["v"].fill_null(0).to_numpy()

    dx, px, rx = raw["diagnoses_icd"], frac(raw["procedures_icd"], "chartdate"), raw["prescriptions"]
    rx = frac(rx, "starttime").with_columns(
        _dur=pl.col("stoptime").str.to_datetime(DATETIME) - pl.col("starttime").str.to_datetime(DATETIME),
        _poe=pl.col("poe_id").str.split("-").list.last(),
    )
    lab = raw["labevents"].with_columns(
        _delay=pl.col("storetime").str.to_datetime(DATETIME) - pl.col("charttime").str.to_datetime(DATETIME),
        _spec=pl.col("specimen_id").cast(pl.Int64),
    )
    lab_adm, lab_null = frac(lab.filter(pl.col("hadm_id").is_not_null()), "charttime"), lab.filter(pl.col("hadm_id").is_null())
    first = pl.DataFrame({"subject_id": pat["subject_id"], "_first": first_admit_s})
    lab_null = lab_null.join(first, on="subject_id", how="left").with_columns(
        _off=pl.col("charttime").str.to_datetime(DATETIME).dt.epoch("s") - pl.col("_first")
    )
    version = pl.col("icd_version").first().cast(pl.Int64)
    info = {
        "n_dx": per_adm(dx, pl.len()), "n_px": per_adm(px, pl.len()), "n_rx": per_adm(rx, pl.len()),
        "n_lab": per_adm(lab_adm, pl.len()), "dx_version": per_adm(dx, version), "px_version": per_adm(px, version),
    }  # fmt: skip
    null_by_pat = lab_null.group_by("subject_id").len()
    lab_null_count = pat.select("subject_id").join(null_by_pat, on="subject_id", how="left")["len"].fill_null(0).to_numpy()
    keep_px = ["icd_code", "icd_version", "_frac"]
    pools = {
        "dx9": dx.filter(pl.col("icd_version") == "9").select("icd_code", "icd_version"),
        "dx10": dx.filter(pl.col("icd_version") == "10").select("icd_code", "icd_version"),
        "px9": px.filter(pl.col("icd_version") == "9").select(keep_px),
        "px10": px.filter(pl.col("icd_version") == "10").select(keep_px),
        "rx": rx.drop("subject_id", "hadm_id", "pharmacy_id", "poe_id", "starttime", "stoptime", "_t0", "_los"),
        "lab": lab_adm.drop("labevent_id", "subject_id", "hadm_id", "specimen_id", "charttime", "storetime", "_t0", "_los"),
        "lab_null": lab_null.drop("labevent_id", "subject_id", "hadm_id", "specimen_id", "charttime", "storetime", "_first"),
    }
    return Demo(columns, pat, adm, adm_start, adm_count, admit_s, los_s, first_admit_s, info, lab_null_count, pools)


def ragged_arange(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def epoch(seconds: pl.Expr) -> pl.Expr:
    """Epoch seconds -> Datetime, floored to the minute as MIMIC times are."""
    return pl.from_epoch(seconds // 60 * 60, time_unit="s")


def draw(rng: np.random.Generator, pool: pl.DataFrame, owners: np.ndarray, counts: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
    """`counts[i]` rows drawn uniformly (with replacement) from `pool` for each owner; returns rows and owner per row."""
    rep = np.repeat(owners, counts)
    return pool[rng.integers(0, pool.height, rep.size)], rep


def make_chunk(demo: Demo, lo: int, hi: int, seed: int, next_adm: int, next_lab: int) -> dict[str, pl.DataFrame]:
    """Tables for patients lo..hi-1; `next_adm`/`next_lab` number admissions and lab rows across chunks."""
    rng = np.random.default_rng([seed, lo])
    n = hi - lo
    subject = SUBJECT_BASE + np.arange(lo, hi)
    tmpl = rng.integers(0, demo.patients.height, n)
    active = np.flatnonzero(rng.random(n) < ACTIVE_FRACTION)
    shift = rng.integers(-SHIFT_DAYS, SHIFT_DAYS + 1, n) * 86_400
    shift_dur = pl.Series(shift * 1_000_000).cast(pl.Duration("us"))
    patients = demo.patients[tmpl].with_columns(
        subject_id=pl.Series(subject),
        anchor_year=pl.col("anchor_year").cast(pl.Int64) + pl.Series(np.round(shift / 86_400 / 365.25).astype(np.int64)),
        dod=(pl.col("dod").cast(pl.Datetime("us")) + shift_dur).dt.date(),
    )
    counts = demo.adm_count[tmpl[active]]
    owner = np.repeat(active, counts)  # local patient index per new admission
    src = np.repeat(demo.adm_start[tmpl[active]], counts) + ragged_arange(counts)
    hadm = HADM_BASE + (next_adm + np.arange(src.size)) * HADM_STEP % HADM_SPAN
    adm_shift = pl.Series(shift[owner] * 1_000_000).cast(pl.Duration("us"))
    admissions = demo.admissions[src].with_columns(
        *[pl.col(c) + adm_shift for c in ADM_TIMES], subject_id=pl.Series(subject[owner]), hadm_id=pl.Series(hadm)
    )
    t0, los, info = demo.admit_s[src] + shift[owner], demo.los_s[src], {k: v[src] for k, v in demo.per_adm.items()}
    adm_idx = np.arange(src.size)

    def child(pool: pl.DataFrame | None, count_key: str, version_key: str | None = None, prefix: str = "") -> pl.DataFrame:
        parts = []
        for v in (9, 10) if version_key else (None,):
            sel = adm_idx if v is None else adm_idx[info[version_key] == v]
            rows, rep = draw(rng, demo.pools[f"{prefix}{v}"] if v else pool, sel, info[count_key][sel])
            parts.append(rows.with_columns(_adm=pl.Series(rep), subject_id=pl.Series(subject[owner[rep]]), hadm_id=pl.Series(hadm[rep]),
                                           _t0=pl.Series(t0[rep]), _los=pl.Series(los[rep])))  # fmt: skip
        return pl.concat(parts).sort("_adm", maintain_order=True)

    at = epoch(pl.col("_t0") + (pl.col("_frac") * pl.col("_los")).round().cast(pl.Int64))
    dx = child(None, "n_dx", "dx_version", "dx").unique(["_adm", "icd_code"], maintain_order=True)
    dx = dx.with_columns(seq_num=pl.int_range(1, pl.len() + 1).over("_adm"))
    px = child(None, "n_px", "px_version", "px").with_columns(seq_num=pl.int_range(1, pl.len() + 1).over("_adm"), chartdate=at.dt.date())
    rx = child(demo.pools["rx"], "n_rx").with_columns(starttime=at)
    rx = rx.with_columns(
        stoptime=pl.col("starttime") + pl.col("_dur"),
        pharmacy_id=pl.Series(rng.integers(10_000_000, 100_000_000, rx.height)),
        poe_id=pl.when(pl.col("_poe").is_not_null()).then(pl.format("{}-{}", "subject_id", "_poe")),
    )
    lab = child(demo.pools["lab"], "n_lab").with_columns(charttime=at)
    null_rows, null_owner = draw(rng, demo.pools["lab_null"], active, demo.lab_null_count[tmpl[active]])
    first_s = demo.first_admit_s[tmpl] + shift
    null_rows = null_rows.with_columns(subject_id=pl.Series(subject[null_owner]), hadm_id=pl.lit(None, pl.Int64),
                                       charttime=epoch(pl.Series(first_s[null_owner]) + pl.col("_off")))  # fmt: skip
    lab = pl.concat([lab, null_rows], how="diagonal").sort("subject_id", maintain_order=True)
    lab = lab.with_columns(
        labevent_id=pl.int_range(next_lab + 1, next_lab + 1 + pl.len()),
        specimen_id=(pl.col("_spec") * 7919 + pl.col("subject_id")) % 90_000_000 + 10_000_000,
        storetime=pl.col("charttime") + pl.col("_delay"),
    )
    out = {"patients": patients, "admissions": admissions, "diagnoses_icd": dx, "procedures_icd": px, "prescriptions": rx,
           "labevents": lab}  # fmt: skip
    return {t: df.select(demo.columns[t]) for t, df in out.items()}


def _deflate(block: memoryview, level: int) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(block) + c.flush(zlib.Z_SYNC_FLUSH)


class GzipWriter:
    """One gzip member whose blocks are deflated in parallel and joined with sync flushes (pigz's method; no library
    in the venv does it); readers see an ordinary single-stream .gz like MIMIC's."""

    def __init__(self, path: Path, level: int, pool: Executor, max_pending: int):
        self.file = path.open("wb")
        self.file.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # magic, deflate, no flags, mtime 0, OS unknown
        self.level, self.pool, self.max_pending = level, pool, max_pending
        self.crc = self.size = 0
        self.pending: deque = deque()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        for i in range(0, len(view), BLOCK):
            block = view[i : i + BLOCK]
            self.crc = zlib.crc32(block, self.crc)
            self.size += len(block)
            self.pending.append(self.pool.submit(_deflate, block, self.level))
            while len(self.pending) > self.max_pending:
                self.file.write(self.pending.popleft().result())

    def close(self) -> None:
        while self.pending:
            self.file.write(self.pending.popleft().result())
        self.file.write(zlib.compressobj(self.level, zlib.DEFLATED, -15).flush())  # final empty block
        self.file.write(struct.pack("<II", self.crc & 0xFFFFFFFF, self.size & 0xFFFFFFFF))
        self.file.close()


def generate(out: Path, patients: int, seed: int, level: int, threads: int, chunk: int, demo_root: Path) -> dict:
    """Write the six tables for `patients` patients under out/hosp and return their row counts."""
    start = time.perf_counter()
    demo = load_demo(demo_root)
    (out / "hosp").mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(TABLES, 0)
    next_adm = next_lab = 0
    with ThreadPoolExecutor(threads) as pool:
        writers = {t: GzipWriter(out / "hosp" / f"{t}.csv.gz", level, pool, 2 * threads) for t in TABLES}
        bar = tqdm(total=patients, unit="pt", desc="mimic_synth", file=sys.stderr)
        for lo in range(0, patients, chunk):
            tables = make_chunk(demo, lo, min(lo + chunk, patients), seed, next_adm, next_lab)
            next_adm += tables["admissions"].height
            next_lab += tables["labevents"].height
            if next_adm >= HADM_SPAN:
                raise SystemExit(f"{next_adm} admissions exceed the {HADM_SPAN} hadm_ids available (use fewer --patients)")
            for t, df in tables.items():
                counts[t] += df.height
                writers[t].write(df.write_csv(include_header=lo == 0, datetime_format=DATETIME, date_format="%Y-%m-%d").encode())
            bar.update(tables["patients"].height)
            bar.set_postfix(labevents=f"{counts['labevents'] / 1e6:.1f}M", diagnoses=f"{counts['diagnoses_icd'] / 1e6:.2f}M")
        bar.close()
        for w in writers.values():
            w.close()
    meta = {"generator": "benchmarks/mimic_synth.py", "patients": patients, "seed": seed, "compress_level": level,
            "chunk_patients": chunk, "active_fraction": ACTIVE_FRACTION, "demo": str(demo_root), "rows": counts,
            "bytes": {t: (out / "hosp" / f"{t}.csv.gz").stat().st_size for t in TABLES},
            "seconds": round(time.perf_counter() - start, 1), "threads": threads}  # fmt: skip
    (out / "synth.json").write_text(json.dumps(meta, indent=1))
    return meta


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=300_000)
    parser.add_argument("--out", type=Path, default=None, help="default ~/.cache/medrnn/synth/mimic4-<patients>")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compress-level", type=int, default=6, choices=range(1, 10), help="gzip level (1: fastest)")
    parser.add_argument("--threads", type=int, default=2, help="threads deflating blocks")
    parser.add_argument("--chunk-patients", type=int, default=5000, help="patients per chunk (peak ~2.4 GB at 5000)")
    parser.add_argument("--demo", type=Path, default=paths.dataset_dir("mimic4-demo"), help="MIMIC-IV demo folder (has hosp/)")
    args = parser.parse_args(argv)
    out = args.out or Path.home() / ".cache" / "medrnn" / "synth" / f"mimic4-{args.patients}"
    meta = generate(out.expanduser(), args.patients, args.seed, args.compress_level, args.threads, args.chunk_patients, args.demo)
    print(json.dumps({"out": str(out), "rows": meta["rows"], "seconds": meta["seconds"]}))


if __name__ == "__main__":
    main()
