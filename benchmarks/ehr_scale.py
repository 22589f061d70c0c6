"""Visit sequences from MIMIC-IV hosp tables at scale: medrnn's `visit_frame` vs plain pandas, seconds and peak memory.

    python benchmarks/mimic_synth.py --patients 300000      # -> ~/.cache/medrnn/synth/mimic4-300000
    python benchmarks/ehr_scale.py --root ~/.cache/medrnn/synth/mimic4-300000 --threads 2 --repeats 1

The step timed is "tables -> one row per admission with its codes as lists, admissions ordered per patient by
admittime", for the --code-sources given (diagnoses, procedures, prescriptions, labevents alias labs = abnormal-flagged
lab itemids), with visit_frame's semantics: a code once per admission at its first position (diagnoses and procedures
by seq_num, drugs by starttime, labs by charttime), NDC empty or "0" skipped, patients' dod joined on.
Each run is a fresh child process pinned to --threads CPUs (sched_setaffinity; POLARS_MAX_THREADS/OMP_NUM_THREADS
set to match). `seconds` is the step inside the child (reading the CSVs included, interpreter start excluded).
`peak_gb` is the child's peak resident set (VmHWM of /proc/self/status) read right after the step: it includes the
interpreter and imports (`baseline_gb`), not writing the frame out for the check. Not ru_maxrss: on Linux a child's
ru_maxrss keeps the parent's resident set at fork across exec, so it overstates small children of a large parent.
`process_peak_gb` is the child's VmHWM polled every 0.2 s by the parent (this also covers runs that die).
"Plain pandas" is what a pandas user writes first: pd.read_csv of the needed columns of each table, whole (no
chunks, no categoricals; code columns read as str so leading zeros survive), string concatenation into
"<system>:<code>", sort_values + drop_duplicates, groupby("hadm_id").agg(list) per source, merge onto admissions,
sort_values. Its child runs under RLIMIT_AS = --pandas-mem-limit-gb (address space, a little above resident memory);
a run that hits it, fails or passes --timeout-min is recorded with its reason and the benchmark goes on.
Both outputs are compared: the same admissions, the same per-patient order and the same code multiset per admission
(all list columns pooled) on --check-sample admissions (0: all); differing code order and sets are counted as well.
Results go to benchmarks/results/ehr_scale.json, written after every run, with
"summary": {"peak_gb", "seconds", "pandas_peak_gb", "pandas_seconds"} (medians over --repeats).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "ehr_scale.json"
TABLES = ("patients", "admissions", "diagnoses_icd", "procedures_icd", "prescriptions", "labevents")
SOURCES = {"diagnoses": ("diagnoses_icd", "DX"), "procedures": ("procedures_icd", "PX"), "prescriptions": ("prescriptions", "NDC"),
           "labevents": ("labevents", "LAB")}  # fmt: skip  # visit_frame's code_sources names
GB = 1024**3
TARGET = {"peak_gb": 8.0, "seconds": 20 * 60, "threads": 2}  # the target; PyHealth: 16 GB / 3.97 h, pandas 49 GB / 26 h


def pandas_visit_frame(root: Path, code_sources: tuple[str, ...]):
    """The plain pandas version of the step, with visit_frame's semantics (see the module docstring); a pandas DataFrame."""
    import pandas as pd

    hosp = Path(root) / "hosp"
    adm = pd.read_csv(hosp / "admissions.csv.gz", usecols=["subject_id", "hadm_id", "admittime", "dischtime", "deathtime",
                      "hospital_expire_flag"], parse_dates=["admittime", "dischtime", "deathtime"])  # fmt: skip
    adm["death_time"] = adm["deathtime"].fillna(adm["dischtime"].where(adm["hospital_expire_flag"] == 1))
    patients = pd.read_csv(hosp / "patients.csv.gz", usecols=["subject_id", "dod"], parse_dates=["dod"])
    adm = adm.merge(patients, on="subject_id", how="left").drop(columns=["deathtime", "hospital_expire_flag"])
    for source in code_sources:
        table, system = SOURCES[source]
        if source in ("diagnoses", "procedures"):
            df = pd.read_csv(hosp / f"{table}.csv.gz", usecols=["hadm_id", "seq_num", "icd_code", "icd_version"], dtype={"icd_code": str})
            df["code"] = "ICD" + df["icd_version"].astype(str) + f"_{system}:" + df["icd_code"]
            order = "seq_num"
        elif source == "prescriptions":
            df = pd.read_csv(hosp / f"{table}.csv.gz", usecols=["hadm_id", "starttime", "ndc"], dtype={"ndc": str, "starttime": str})
            df = df[df["ndc"].notna() & (df["ndc"] != "0")]  # "0": no NDC recorded (14% of demo rows)
            df["code"] = "NDC:" + df["ndc"]
            order = "starttime"
        else:
            df = pd.read_csv(hosp / f"{table}.csv.gz", usecols=["hadm_id", "itemid", "charttime", "flag"], dtype={"charttime": str})
            df = df[(df["flag"] == "abnormal") & df["hadm_id"].notna()]
            df["code"] = "LAB:" + df["itemid"].astype(str)
            order = "charttime"
        df["hadm_id"] = df["hadm_id"].astype("int64")
        # each code once per admission, at its first position (principal diagnosis first, drugs and labs by time)
        df = df.sort_values(["hadm_id", order, "code"]).drop_duplicates(["hadm_id", "code"])
        codes = df.groupby("hadm_id", sort=False)["code"].agg(list).rename(source)
        adm = adm.merge(codes, left_on="hadm_id", right_index=True, how="left")
        adm[source] = [c if isinstance(c, list) else [] for c in adm[source]]
    return adm.sort_values(["subject_id", "admittime", "hadm_id"]).reset_index(drop=True)


def peak_rss_gb(pid: int | str = "self") -> float | None:
    """Peak resident set of a live process (VmHWM, Linux); None when it has gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) * 1024 / GB for line in status if line.startswith("VmHWM:")), None)
    except (FileNotFoundError, ProcessLookupError):
        return None


def child(args: argparse.Namespace) -> None:
    """Run one implementation in this (fresh) process; write its frame and its measurements."""
    base_gb = peak_rss_gb()
    sources = tuple(args.code_sources)
    if args.child == "pandas":
        start = time.perf_counter()
        frame = pandas_visit_frame(args.root, sources)
        seconds = time.perf_counter() - start
        peak_gb = peak_rss_gb()
        # JSON lines, not pickle (no pickle anywhere in medrnn); no polars in this child: RLIMIT_AS
        frame[["subject_id", "hadm_id", "admittime", *sources]].to_json(args.frame_file, orient="records", lines=True, date_format="iso")
        n_rows = len(frame)
    else:
        module, name = args.impl.split(":")
        visit_frame = getattr(importlib.import_module(module), name)  # imports polars
        start = time.perf_counter()
        out = visit_frame(args.root, code_sources=sources)
        seconds = time.perf_counter() - start
        peak_gb = peak_rss_gb()
        out.write_parquet(args.frame_file)
        n_rows = out.height
    report = {"seconds": seconds, "peak_gb": peak_gb, "baseline_gb": base_gb, "n_rows": n_rows}
    Path(args.result_file).write_text(json.dumps(report))


def run_child(args: argparse.Namespace, impl: str, tag: str) -> dict:
    """Start a child for `impl` under the thread, memory and time limits; return its record (ok or failed, with why)."""
    frame_file, result_file, log_file = (args.workdir / f"{tag}.{ext}" for ext in ("frame", "json", "log"))
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--child", impl, "--root", str(args.root), "--impl", args.impl, "--frame-file", str(frame_file),
           "--result-file", str(result_file), "--code-sources", *args.code_sources]  # fmt: skip
    threads = str(args.threads)
    env = os.environ | {k: threads for k in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    cpus = sorted(os.sched_getaffinity(0))[: args.threads]
    limit = int(args.pandas_mem_limit_gb * GB) if impl == "pandas" else None

    def limits() -> None:  # runs in the child between fork and exec
        os.sched_setaffinity(0, cpus)
        if limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    start = time.perf_counter()
    with log_file.open("wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limits, start_new_session=True)
    deadline, status, polled = start + args.timeout_min * 60, None, 0.0
    while status is None:
        polled = max(polled, peak_rss_gb(proc.pid) or 0.0)
        pid, code = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            status = code
        elif time.perf_counter() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            os.waitpid(proc.pid, 0)
            status = "timeout"
        else:
            time.sleep(0.2)
    record = {"impl": impl, "wall_seconds": time.perf_counter() - start, "process_peak_gb": polled,
              "mem_limit_gb": args.pandas_mem_limit_gb if limit else None}  # fmt: skip
    if status == 0 and result_file.exists():
        return record | {"status": "ok"} | json.loads(result_file.read_text())
    tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
    if status == "timeout":
        reason = f"killed after --timeout-min {args.timeout_min}"
    elif limit and any("MemoryError" in line or "memory allocation" in line or "bad_alloc" in line for line in tail):
        reason = f"out of memory under RLIMIT_AS {args.pandas_mem_limit_gb} GB"
    else:
        reason = f"exit status {os.waitstatus_to_exitcode(status)}"
    return record | {"status": "failed", "reason": reason, "log_tail": tail, "seconds": None, "peak_gb": None}


def check(medrnn_file: Path, pandas_file: Path, sample: int) -> dict:
    """Same admissions, same order per patient, same code multiset per admission (on `sample` admissions; 0: all)."""
    import pandas as pd
    import polars as pl

    frames = {}
    for name, path in (("medrnn", medrnn_file), ("pandas", pandas_file)):
        if name == "pandas":
            raw = pd.read_json(path, lines=True, dtype=False)
            ids = {c: raw[c].to_numpy() for c in ("subject_id", "hadm_id")}
            df = pl.DataFrame(ids | {c: pl.Series(raw[c].tolist(), dtype=pl.List(pl.String)) for c in raw.columns[3:]})
        else:
            df = pl.read_parquet(path)
        subject = next(c for c in ("subject_id", "patient_id") if c in df.columns)
        lists = [c for c, t in df.schema.items() if t == pl.List(pl.String)]
        codes = pl.concat_list(lists) if lists else pl.lit([], pl.List(pl.String))
        as_int = [pl.col(subject).cast(pl.String).cast(pl.Int64).alias("subject"), pl.col("hadm_id").cast(pl.String).cast(pl.Int64)]
        frames[name] = df.select(*as_int, codes=codes)
    med, pdf = frames["medrnn"], frames["pandas"]
    same_set = med["hadm_id"].sort().equals(pdf["hadm_id"].sort())
    order = {n: f.group_by("subject", maintain_order=True).agg("hadm_id") for n, f in frames.items()}
    joined = order["medrnn"].join(order["pandas"], on="subject", how="full", suffix="_pandas")
    order_diff = joined.filter(pl.col("hadm_id") != pl.col("hadm_id_pandas")).height
    ids = med["hadm_id"] if not sample or sample >= med.height else med["hadm_id"].sample(sample, seed=0)
    picked = pl.col("hadm_id").is_in(ids.implode())
    codes = {n: f.filter(picked).select("hadm_id", "codes", sorted=pl.col("codes").list.sort()) for n, f in frames.items()}
    both = codes["medrnn"].join(codes["pandas"], on="hadm_id", how="full", suffix="_pandas", coalesce=True)
    order_differs = both.filter(pl.col("codes").ne_missing(pl.col("codes_pandas"))).height
    both = both.select("hadm_id", codes="sorted", codes_pandas="sorted_pandas")
    diff = both.filter(pl.col("codes").ne_missing(pl.col("codes_pandas")))
    set_diff = diff.filter(pl.col("codes").list.unique().list.sort().ne_missing(pl.col("codes_pandas").list.unique().list.sort())).height
    examples = [{"hadm_id": r["hadm_id"], "only_medrnn": sorted(set(r["codes"] or []) - set(r["codes_pandas"] or []))[:5],
                 "only_pandas": sorted(set(r["codes_pandas"] or []) - set(r["codes"] or []))[:5], "n_medrnn": len(r["codes"] or []),
                 "n_pandas": len(r["codes_pandas"] or [])} for r in diff.head(3).iter_rows(named=True)]  # fmt: skip
    return {"admissions_medrnn": med.height, "admissions_pandas": pdf.height, "same_admissions": same_set,
            "patients_with_different_order": order_diff, "admissions_checked": ids.len(), "code_multisets_differ": diff.height,
            "code_lists_differ": order_differs,
            "code_sets_differ": set_diff,
            "codes_checked": int(both["codes"].list.len().sum() or 0), "examples": examples,
            "ok": bool(same_set and order_diff == 0 and diff.height == 0)}  # fmt: skip


def table_rows(root: Path) -> dict:
    """Rows per table: from the generator's synth.json when there is one, else counted (streaming)."""
    import polars as pl

    meta = root / "synth.json"
    if meta.exists():
        return json.loads(meta.read_text())["rows"]
    return {t: pl.scan_csv(root / "hosp" / f"{t}.csv.gz", infer_schema=False).select(pl.len()).collect().item() for t in TABLES}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), platform.machine())
    except OSError:
        return platform.machine()


def machine(threads: int) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import pandas
    import polars as pl
    import psutil

    try:
        medrnn_version = version("medrnn")
    except PackageNotFoundError:
        medrnn_version = None
    return {"cpu_count": os.cpu_count(), "threads": threads, "ram_gb": round(psutil.virtual_memory().total / GB, 1),
            "cpu": cpu_model(), "platform": platform.platform(), "python": platform.python_version(),
            "polars": pl.__version__, "pandas": pandas.__version__, "numpy": numpy.__version__, "medrnn": medrnn_version}  # fmt: skip


def write(args: argparse.Namespace, runs: list[dict], rows: dict, checked: dict | None) -> dict:
    """Write what has been measured so far (a killed benchmark keeps its finished runs)."""
    med = {}
    for impl in ("medrnn", "pandas"):
        ok = [r for r in runs if r["impl"] == impl and r["status"] == "ok"]
        med[impl] = {k: statistics.median(r[k] for r in ok) if ok else None for k in ("seconds", "peak_gb")}
    synth = args.root / "synth.json"
    result = {
        "benchmark": "MIMIC-IV hosp tables -> one row per admission with code lists, medrnn visit_frame vs plain pandas",
        "date": datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(args.threads),
        "data": {"root": str(args.root), "rows": rows, "synth": json.loads(synth.read_text()) if synth.exists() else None},
        "config": {"code_sources": args.code_sources, "impl": args.impl, "repeats": args.repeats,
                   "pandas_mem_limit_gb": args.pandas_mem_limit_gb, "timeout_min": args.timeout_min, "check_sample": args.check_sample,
                   "peak": "VmHWM of the child right after the step; process_peak_gb: the child's VmHWM polled every 0.2 s"},
        "target": TARGET,
        "runs": runs,
        "check": checked,
        "summary": {"peak_gb": med["medrnn"]["peak_gb"], "seconds": med["medrnn"]["seconds"],
                    "pandas_peak_gb": med["pandas"]["peak_gb"], "pandas_seconds": med["pandas"]["seconds"]},
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, required=True, help="folder with hosp/*.csv.gz (MIMIC-IV or mimic_synth.py output)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--code-sources",
        nargs="+",
        default=["diagnoses", "procedures", "prescriptions"],
        choices=[*SOURCES, "labs"],
        help="labs is an alias of labevents (abnormal-flagged lab itemids)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per implementation; the median is reported")
    parser.add_argument("--pandas-mem-limit-gb", type=float, default=20.0)
    parser.add_argument("--timeout-min", type=float, default=120.0, help="per child")
    parser.add_argument("--check-sample", type=int, default=20000, help="admissions whose codes are compared (0: all)")
    parser.add_argument("--impl", default="medrnn.io.mimic:visit_frame", help="module:function with visit_frame's signature")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "medrnn" / "bench" / "ehr_scale")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["medrnn", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--frame-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.root = args.root.expanduser().resolve()
    args.code_sources = [s for s in SOURCES if s in {c.replace("labs", "labevents") for c in args.code_sources}]  # visit_frame's order
    if args.child:
        return child(args)
    if not (args.root / "hosp" / "admissions.csv.gz").exists():
        raise SystemExit(f"{args.root}/hosp/admissions.csv.gz not found: --root takes a MIMIC-IV folder (or run benchmarks/mimic_synth.py)")
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = table_rows(args.root)
    print(json.dumps({"rows": rows}), flush=True)
    runs: list[dict] = []
    checked = None
    for repeat in range(args.repeats):
        for impl in ("medrnn", "pandas")[: 1 if args.skip_pandas else 2]:
            runs.append({"repeat": repeat} | run_child(args, impl, f"{impl}-{repeat}"))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "log_tail"}, default=str), flush=True)
            write(args, runs, rows, checked)
        if checked is None and all(r["status"] == "ok" for r in runs[-2:]) and not args.skip_pandas:
            checked = check(args.workdir / f"medrnn-{repeat}.frame", args.workdir / f"pandas-{repeat}.frame", args.check_sample)
            print(json.dumps({"check": checked}, default=str), flush=True)
    result = write(args, runs, rows, checked)
    print(json.dumps(result["summary"]))


if __name__ == "__main__":
    main()
