"""MIT-BIH inter-patient benchmark: rnn, lstm, gru and the best variant x 3 seeds, plus an ablation table.

Run:  python benchmarks/mitdb_interpatient.py            (all, about an hour on 2 cores)
      python benchmarks/mitdb_interpatient.py --only speed   (reading speed only)
      python benchmarks/mitdb_interpatient.py --only rhythm  (the rhythm model over neighbouring beats, 3 seeds + their mean)
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

import numpy as np
import torch

from medrnn.config import ModelConfig, TrainConfig
from medrnn.metrics import confusion, scores_from_confusion
from medrnn.tasks.ecg_beats.beats import AAMI_CLASSES
from medrnn.tasks.ecg_beats.config import BeatDataConfig, BeatRunConfig
from medrnn.tasks.ecg_beats.decision import decide, jkappa_of
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
        "model": _ARTICLE_MODEL,
        "data": {"channels": "raw", "rr_features": False, "filter": False},
        "train": _SLOW,
    },
    "+ band-pass filtering": {"model": _ARTICLE_MODEL, "data": {"channels": "raw", "rr_features": False}, "train": _SLOW},
    "+ conv front-end": {
        "model": {**_ARTICLE_MODEL, "frontend": "conv"},
        "data": {"channels": "raw", "rr_features": False},
        "train": _NO_EXTRAS,
    },
    "+ RR context (with an MLP head)": {
        "model": {"name": "lstm", "hidden_size": [64, 32]},
        "data": {"channels": "raw"},
        "train": _NO_EXTRAS,
    },
    "+ class-weighted loss (balanced)": {
        "model": {"name": "lstm", "hidden_size": [64, 32]},
        "data": {"channels": "raw"},
        "train": {"augment": False},
    },
    "(balanced sampler instead of weights)": {
        "model": {"name": "lstm", "hidden_size": [64, 32]},
        "data": {"channels": "raw"},
        "train": {"class_weighting": "none", "sampler": "balanced", "augment": False},
    },
    "+ median-beat template input": {"model": {"name": "lstm", "hidden_size": [64, 32]}, "train": {"augment": False}},
    "+ augmentation": {"model": {"name": "lstm", "hidden_size": [64, 32]}},
    "+ bidirectional + attention": {"model": {"name": "lstm", "hidden_size": [64, 32], "bidirectional": True, "attention": True}},
}
# the rhythm model over neighbouring beats (#24): each beat with K = 8 beats either side of it in its record, sqrt class
# weights (chosen on seed 0 among K 2/4/8, balanced/sqrt weighting, dropout 0.5: docs/benchmarks.md), per-class decision
# weights tuned on the validation records (jκ with plain argmax is recorded too). The CLI:
#   medrnn train mitdb --model beat_rhythm --set data.context_beats=8 --set data.context_decimate=4
#     --set model.frontend_channels=16 --set train.class_weighting=sqrt --set train.augment=false --set decision=tuned
RHYTHM = {"model": {"name": "beat_rhythm", "frontend_channels": 16}, "data": {"context_beats": 8, "context_decimate": 4},
          "train": {"augment": False, "class_weighting": "sqrt"}, "decision": "tuned"}
SUMMARY_METRICS = {
    "sveb_se": ("S", "se"),
    "sveb_ppv": ("S", "ppv"),
    "sveb_f1": ("S", "f1"),
    "veb_se": ("V", "se"),
    "veb_ppv": ("V", "ppv"),
    "veb_f1": ("V", "f1"),
}


def _config(spec: dict, seed: int) -> BeatRunConfig:
    merged = {part: {**RECIPE[part], **spec.get(part, {})} for part in ("data", "model", "train")}
    merged["train"].update(seed=seed, progress=False)
    return BeatRunConfig(data=BeatDataConfig(**merged["data"]), model=ModelConfig(**merged["model"]), train=TrainConfig(**merged["train"]),
                         bootstrap=1000, decision=spec.get("decision", "argmax"))  # fmt: skip


def _run(label: str, spec: dict, seed: int, workdir: Path) -> dict:
    cfg = _config(spec, seed)
    t0 = time.perf_counter()
    run_dir = workdir / f"{label.replace(' ', '_')[:40]}-{seed}"
    result = run_task("ecg_beats", cfg, run_dir, progress=False)
    seconds = time.perf_counter() - t0
    m = result.metrics["test"]
    row = {
        "label": label,
        "seed": seed,
        "config": cfg.model_dump(mode="json"),
        "train_eval_seconds": seconds,
        "epochs": result.metrics["training"]["epochs"],
        "timings": result.metrics["timings"],
        "val_records": list(result.metrics["data"]["validation_records"]),
        "jkappa": m["overall"]["jkappa"],
        "macro_f1": m["overall"]["macro_f1"],
        "accuracy": m["overall"]["accuracy"],
        "kappa": m["overall"]["kappa"],
        "per_class": m["per_label"],
        "ci": m["ci"],
        "confusion": m["extras"]["confusion"],
    }
    for key, (cls, metric) in SUMMARY_METRICS.items():
        row[key] = m["per_label"][cls][metric]
    tuned = result.metrics.get("tuned_on_validation") or {}
    if "decision_weights" in tuned:  # the same run's test scores read by plain argmax, for the gain of the tuned weights
        with np.load(run_dir / "predictions.npz", allow_pickle=False) as z:
            row["jkappa_argmax"] = jkappa_of(z["y_true"], decide(z["y_score"], None), list(AAMI_CLASSES))
            row["y_score"], row["y_true"] = z["y_score"].tolist(), z["y_true"].tolist()
        row["decision_weights"] = tuned["decision_weights"]
    print(
        f"{label:55s} seed {seed}: S Se {row['sveb_se']:.3f} +P {row['sveb_ppv']:.3f} | V Se {row['veb_se']:.3f} "
        f"+P {row['veb_ppv']:.3f} | jk {row['jkappa']:.3f} macroF1 {row['macro_f1']:.3f} | {seconds:.0f}s",
        flush=True,
    )
    return row


def rhythm(seeds: list[int], workdir: Path, out: dict) -> dict:
    """The rhythm model on each seed (written after every run), then the mean of the seeds' test probabilities (argmax)."""
    rows = []
    for seed in seeds:
        rows.append(_run("beat_rhythm", RHYTHM, seed, workdir))
        out["rhythm_runs"] = [{k: v for k, v in r.items() if k not in ("y_score", "y_true")} for r in rows]
        RESULTS.write_text(json.dumps(out, indent=1))
    y = np.asarray(rows[0]["y_true"])
    mean = np.mean([np.asarray(r["y_score"]) for r in rows], axis=0)
    names = list(AAMI_CLASSES)
    ensemble = scores_from_confusion(confusion(y, decide(mean, None), len(names)), names)
    keys = [*SUMMARY_METRICS, "jkappa", "jkappa_argmax", "macro_f1", "train_eval_seconds"]
    return {"model": "beat_rhythm", "config": {k: v for k, v in rows[0]["config"].items() if k in ("data", "model", "decision")},
            "seeds": seeds, **{k: _mean(rows, k) for k in keys}, "jkappa_sd": statistics.stdev([r["jkappa"] for r in rows]) if len(rows) > 1 else 0.0,
            "ensemble": {"members": len(rows), "decision": "argmax of the mean probability", "jkappa": ensemble["overall"]["jkappa"],
                         **{k: ensemble["per_class"][c][m] for k, (c, m) in SUMMARY_METRICS.items()}}}  # fmt: skip


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
    return {
        "records": len(records),
        "repeats": repeats,
        "cold_seconds_median": statistics.median(cold),
        "cached_seconds_median": statistics.median(warm),
        "cold_over_cached": statistics.median(cold) / statistics.median(warm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only", choices=["speed", "models", "ablation", "rhythm"], nargs="*", default=["speed", "models", "ablation", "rhythm"]
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    parser.add_argument("--ablation-seeds", type=int, nargs="*", default=[0])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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
    if "rhythm" in args.only:
        out.setdefault("summary", {})["rhythm"] = out["rhythm"] = rhythm(args.seeds, workdir, out)
    if out.get("runs") and "models" in args.only:
        by_model = {name: [r for r in out["runs"] if r["label"] == name] for name in MODELS}
        out["means"] = {
            name: {k: _mean(rows, k) for k in [*SUMMARY_METRICS, "jkappa", "macro_f1", "train_eval_seconds"]}
            for name, rows in by_model.items()
            if rows
        }
        best = max(out["means"], key=lambda n: out["means"][n]["jkappa"])
        rows = by_model[best]
        out["summary"] = {
            **({"rhythm": out["rhythm"]} if "rhythm" in out else {}),
            "model": best,
            "config": rows[0]["config"]["model"],
            "seeds": [r["seed"] for r in rows],
            **{k: out["means"][best][k] for k in [*SUMMARY_METRICS, "jkappa", "macro_f1", "train_eval_seconds"]},
            "inference_ms_per_beat": _mean([r["timings"] for r in rows], "inference_ms_per_beat"),
        }
    if out.get("ablation"):
        labels = list(dict.fromkeys(r["label"] for r in out["ablation"]))
        out["ablation_means"] = {
            lab: {k: _mean([r for r in out["ablation"] if r["label"] == lab], k) for k in [*SUMMARY_METRICS, "jkappa", "macro_f1"]}
            for lab in labels
        }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(out.get("summary", {}), indent=1))


if __name__ == "__main__":
    main()
