"""MIT-BIH inter-patient benchmark: rnn, lstm, gru and the best variant x 3 seeds, plus an ablation table.

Run:  python benchmarks/mitdb_interpatient.py            (all, about an hour on 2 cores)
      python benchmarks/mitdb_interpatient.py --only speed   (reading speed only)
Writes benchmarks/results/mitdb_interpatient.json; docs/benchmarks.md quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from medrnn.config import ModelConfig, TrainConfig
from medrnn.tasks.ecg_beats.config import BeatDataConfig, BeatRunConfig
from medrnn.tasks.ecg_beats.data import load_beats
from medrnn.train.run import run_task

RESULTS = Path(__file__).parent / "results" / "mitdb_interpatient.json"
SEEDS = (0, 1, 2)

# the recipe every model shares; each entry below changes only what its name says
RECIPE = {
    "data": {"channels": "template"},
    "model": {"hidden_size": 64, "dropout": 0.2, "frontend": "conv"},
    "train": {"class_weighting": "balanced", "augment": True, "max_epochs": 15},
}
MODELS = {
    "rnn": {"model": {"name": "rnn"}},
    "lstm": {"model": {"name": "lstm"}},
    "gru": {"model": {"name": "gru"}},
    "bilstm_attention": {"model": {"name": "lstm", "bidirectional": True, "attention": True}},
}
# the article's plain recipe first, then one design choice added at a time (cumulative)
_ARTICLE_MODEL = {"name": "lstm", "hidden_size": [64, 32], "head_hidden": 0, "frontend": "none"}
_NO_EXTRAS = {"class_weighting": "none", "augment": False}
_SLOW = {**_NO_EXTRAS, "max_epochs": 8}  # no front-end: ~1 min an epoch on 2 cores, so capped
ABLATION = {
    "article: LSTM(64)-LSTM(32) on the raw beat": {
        "model": _ARTICLE_MODEL, "data": {"channels": "raw", "rr_features": False, "filter": False}, "train": _SLOW},
    "+ band-pass filtering": {"model": _ARTICLE_MODEL, "data": {"channels": "raw", "rr_features": False}, "train": _SLOW},
    "+ conv front-end": {"model": {**_ARTICLE_MODEL, "frontend": "conv"}, "data": {"channels": "raw", "rr_features": False}, "train": _NO_EXTRAS},
    "+ RR context (with an MLP head)": {"model": {"name": "lstm", "hidden_size": [64, 32]}, "data": {"channels": "raw"}, "train": _NO_EXTRAS},
    "+ class-weighted loss (balanced)": {"model": {"name": "lstm", "hidden_size": [64, 32]}, "data": {"channels": "raw"}, "train": {"augment": False}},
    "(balanced sampler instead of weights)": {
        "model": {"name": "lstm", "hidden_size": [64, 32]}, "data": {"channels": "raw"}, "train": {"class_weighting": "none", "sampler": "balanced", "augment": False}},
    "+ median-beat template input": {"model": {"name": "lstm", "hidden_size": [64, 32]}, "train": {"augment": False}},
    "+ augmentation": {"model": {"name": "lstm", "hidden_size": [64, 32]}},
    "+ bidirectional + attention": {"model": {"name": "lstm", "hidden_size": [64, 32], "bidirectional": True, "attention": True}},
}
SUMMARY_METRICS = {"sveb_se": ("S", "se"), "sveb_ppv": ("S", "ppv"), "sveb_f1": ("S", "f1"),
                   "veb_se": ("V", "se"), "veb_ppv": ("V", "ppv"), "veb_f1": ("V", "f1")}


def _config(spec: dict, seed: int) -> BeatRunConfig:
    merged = {part: {**RECIPE[part], **spec.get(part, {})} for part in ("data", "model", "train")}
    merged["train"].update(seed=seed, progress=False)
    return BeatRunConfig(data=BeatDataConfig(**merged["data"]), model=ModelConfig(**merged["model"]), train=TrainConfig(**merged["train"]), bootstrap=1000)


def _run(label: str, spec: dict, seed: int, workdir: Path) -> dict:
    cfg = _config(spec, seed)
    t0 = time.perf_counter()
    result = run_task("ecg_beats", cfg, workdir / f"{label.replace(' ', '_')[:40]}-{seed}", progress=False)
    seconds = time.perf_counter() - t0
    m = result.metrics["test"]
    row = {"label": label, "seed": seed, "config": cfg.model_dump(mode="json"), "train_eval_seconds": seconds,
           "epochs": result.metrics["training"]["epochs"], "timings": result.metrics["timings"],
           "val_records": list(result.metrics["data"]["validation_records"]),
           "jkappa": m["overall"]["jkappa"], "macro_f1": m["overall"]["macro_f1"], "accuracy": m["overall"]["accuracy"],
           "kappa": m["overall"]["kappa"], "per_class": m["per_label"], "ci": m["ci"], "confusion": m["extras"]["confusion"]}
    for key, (cls, metric) in SUMMARY_METRICS.items():
        row[key] = m["per_label"][cls][metric]
    print(f"{label:55s} seed {seed}: S Se {row['sveb_se']:.3f} +P {row['sveb_ppv']:.3f} | V Se {row['veb_se']:.3f} "
          f"+P {row['veb_ppv']:.3f} | jk {row['jkappa']:.3f} macroF1 {row['macro_f1']:.3f} | {seconds:.0f}s", flush=True)
    return row


def _mean(rows: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in rows)


def speed(repeats: int = 5) -> dict:
    """Reading the 44 records into beat tensors: cold (empty cache) and from cache, medians of `repeats`."""
    cfg = BeatDataConfig()
    records = cfg.train_records + cfg.test_records
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["MEDRNN_CACHE"] = cache
            t0 = time.perf_counter()
            load_beats(records, cfg)
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            load_beats(records, cfg)
            warm.append(time.perf_counter() - t0)
    os.environ.pop("MEDRNN_CACHE")
    return {"records": len(records), "repeats": repeats, "cold_seconds_median": statistics.median(cold),
            "cached_seconds_median": statistics.median(warm), "cold_over_cached": statistics.median(cold) / statistics.median(warm)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["speed", "models", "ablation"], nargs="*", default=["speed", "models", "ablation"])
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    parser.add_argument("--ablation-seeds", type=int, nargs="*", default=[0])
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    out = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    out["machine"] = {"cores": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__, "date": str(date.today())}
    workdir = Path(tempfile.mkdtemp(prefix="mitdb-bench-"))
    if "speed" in args.only:
        out["speed"] = speed()
        print(out["speed"], flush=True)
    if "models" in args.only:
        out["runs"] = [_run(name, spec, s, workdir) for name, spec in MODELS.items() for s in args.seeds]
    if "ablation" in args.only:
        out["ablation"] = [_run(name, spec, s, workdir) for name, spec in ABLATION.items() for s in args.ablation_seeds]
    if out.get("runs"):
        by_model = {name: [r for r in out["runs"] if r["label"] == name] for name in MODELS}
        out["means"] = {name: {k: _mean(rows, k) for k in [*SUMMARY_METRICS, "jkappa", "macro_f1", "train_eval_seconds"]}
                        for name, rows in by_model.items() if rows}
        best = max(out["means"], key=lambda n: out["means"][n]["jkappa"])
        rows = by_model[best]
        out["summary"] = {"model": best, "config": rows[0]["config"]["model"], "seeds": [r["seed"] for r in rows],
                          **{k: out["means"][best][k] for k in [*SUMMARY_METRICS, "jkappa", "macro_f1", "train_eval_seconds"]},
                          "inference_ms_per_beat": _mean([r["timings"] for r in rows], "inference_ms_per_beat")}
    if out.get("ablation"):
        labels = list(dict.fromkeys(r["label"] for r in out["ablation"]))
        out["ablation_means"] = {lab: {k: _mean([r for r in out["ablation"] if r["label"] == lab], k)
                                       for k in [*SUMMARY_METRICS, "jkappa", "macro_f1"]} for lab in labels}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out.get("summary", {}), indent=1))


if __name__ == "__main__":
    main()
