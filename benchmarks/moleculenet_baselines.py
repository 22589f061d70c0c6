"""The two reference models of the MoleculeNet benchmark: a random forest on ECFP4 and chemprop's D-MPNN (CLI defaults).

Both take the medrnn `MoleculeTable` and `Split` the driver hands every model, so all three see identical
indices, and both return test scores with rows aligned to `split.test` (probabilities, or original units).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from medrnn.data.splits import Split
from medrnn.records import MoleculeTable

N_TREES = 500
_BEST_CKPT = re.compile(r"best-epoch=(\d+)-")
_EPOCH_BAR = re.compile(r"\bEpoch (\d+)/\d+")


def ecfp4(smiles: Sequence[str], n_bits: int = 2048) -> np.ndarray:
    """(n, n_bits) uint8 Morgan fingerprints, radius 2 (ECFP4), of SMILES RDKit can parse (the table's are)."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator

    _quiet = rdBase.BlockLogs()  # noqa: F841  (RDKit warns on every lone [H]; blocked while this object lives)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=n_bits)
    out = np.zeros((len(smiles), n_bits), dtype=np.uint8)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            raise ValueError(f"ecfp4: RDKit cannot parse SMILES {i} {s!r}; pass the table's canonical SMILES")
        out[i] = generator.GetFingerprintAsNumPy(mol)
    return out


def run_random_forest(table: MoleculeTable, split: Split, task_type: str, seed: int, n_jobs: int) -> dict[str, Any]:
    """One scikit-learn forest (500 trees) per task on that task's labelled training rows; scores split.test.

    Returns test_score (n_test, n_tasks): P(class 1) for classification, predictions in target units for
    regression; train_seconds: forest fitting only (fingerprinting excluded; it is in the driver's wall time).
    """
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    x_train = ecfp4([table.smiles[i] for i in split.train])
    x_test = ecfp4([table.smiles[i] for i in split.test])
    y_train = table.targets[split.train]
    score = np.full((len(split.test), y_train.shape[1]), np.nan)
    seconds = 0.0
    for task in range(y_train.shape[1]):
        labelled = ~np.isnan(y_train[:, task])
        y = y_train[labelled, task]
        if y.size == 0:
            continue  # no training label for this task: its test scores stay NaN
        if task_type == "classification" and np.unique(y).size == 1:
            score[:, task] = float(y[0])  # a forest cannot learn from one class; constant score
            continue
        if task_type == "classification":
            forest = RandomForestClassifier(n_estimators=N_TREES, random_state=seed, n_jobs=n_jobs)
        else:
            forest = RandomForestRegressor(n_estimators=N_TREES, random_state=seed, n_jobs=n_jobs)
        start = time.perf_counter()
        forest.fit(x_train[labelled], y if task_type == "regression" else y.astype(int))
        seconds += time.perf_counter() - start
        if task_type == "classification":
            score[:, task] = forest.predict_proba(x_test)[:, list(forest.classes_).index(1)]
        else:
            score[:, task] = forest.predict(x_test)
    return {"test_score": score, "train_seconds": seconds}


def chemprop_command() -> list[str]:
    """argv prefix that runs chemprop's CLI from this interpreter's environment."""
    beside = Path(sys.executable).parent / "chemprop"
    found = str(beside) if beside.exists() else shutil.which("chemprop")
    if found is None:
        raise RuntimeError("chemprop CLI not found beside this Python or on PATH; install chemprop==2.3.1 in this environment")
    return [found]


def run_chemprop(
    table: MoleculeTable,
    split: Split,
    task_type: str,
    seed: int,
    workdir: Path,
    threads: int,
    accelerator: str = "cpu",
    extra_args: Sequence[str] = (),
) -> dict[str, Any]:
    """Train chemprop 2's D-MPNN with its CLI defaults on `split`; read its test predictions back in split.test order.

    Timing comes from chemprop's own output, timestamped here as it streams: train_seconds runs from Lightning's
    Trainer set-up ("GPU available") to the end of `Trainer.fit` (training epochs plus the validation pass after each),
    and excludes start-up, CSV reading, featurisation/caching, test prediction and saving (all in the driver's wall_seconds).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # chemprop gets t0, t1, ... as column names: SIDER's contain commas and ESOL's spaces, which are fragile in argv/CSV
    columns = [f"t{k}" for k in range(table.targets.shape[1])]
    frame = pd.DataFrame(table.targets, columns=columns)
    frame.insert(0, "smiles", list(table.smiles))
    data_csv, splits_json, out_dir, log_path = (workdir / n for n in ("data.csv", "splits.json", "chemprop", "chemprop.log"))
    frame.to_csv(data_csv, index=False, na_rep="")
    splits_json.write_text(json.dumps([split.to_dict()]))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    argv = [*chemprop_command(), "train", "-i", str(data_csv), "-s", "smiles", "--target-columns", *columns,
            "-t", task_type, "--splits-file", str(splits_json), "--pytorch-seed", str(seed), "--data-seed", str(seed), "--num-workers", "0",
            "--accelerator", accelerator, "-o", str(out_dir), *extra_args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    marks = _stream(argv, env, log_path)
    if marks["rc"] != 0:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-25:])
        raise RuntimeError(f"chemprop train exited with status {marks['rc']} (full log: {log_path}); last lines:\n{tail}")

    model_dir = out_dir / "model_0"
    score = _read_predictions(model_dir / "test_predictions.csv", [table.smiles[i] for i in split.test], columns)
    epochs = _epochs_run(model_dir / "trainer_logs", marks.get("last_epoch"))
    start, end = marks.get("fit_start"), marks.get("fit_end")
    if start is None or end is None:
        raise RuntimeError(f"chemprop finished but its output lacks the Trainer start/stop lines used for timing; see {log_path}")
    train_seconds = end - start
    return {"test_score": score, "train_seconds": train_seconds, "epochs": epochs, "best_epoch": _best_epoch(model_dir),
            "seconds_per_epoch": train_seconds / epochs if epochs else None}  # fmt: skip


def _stream(argv: list[str], env: dict[str, str], log_path: Path) -> dict[str, Any]:
    """Run argv, write each output line to log_path prefixed with seconds since start, note when fit starts and ends."""
    start = time.perf_counter()
    marks: dict[str, Any] = {}
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(repr(a) if " " in a else a for a in argv) + "\n")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1)
        assert proc.stdout is not None  # set by stdout=PIPE; not user input
        for line in proc.stdout:
            now = time.perf_counter() - start
            log.write(f"[{now:9.3f}] {line}")
            if "GPU available:" in line and "fit_start" not in marks:
                marks["fit_start"] = now
            # Lightning prints the first when max_epochs ends training; the second precedes test prediction either way
            elif ("`Trainer.fit` stopped" in line or "Restoring states from the checkpoint" in line) and "fit_end" not in marks:
                marks["fit_end"] = now
            if shown := _EPOCH_BAR.search(line):  # the progress bar's "Epoch 49/49"
                marks["last_epoch"] = max(marks.get("last_epoch", -1), int(shown.group(1)))
        marks["rc"] = proc.wait()
    marks["wall"] = time.perf_counter() - start
    return marks


def _read_predictions(path: Path, test_smiles: list[str], columns: list[str]) -> np.ndarray:
    """chemprop's test_predictions.csv as (n_test, n_tasks), rows in the order of `test_smiles`."""
    if not path.exists():
        raise RuntimeError(f"{path}: chemprop wrote no test predictions")
    preds = pd.read_csv(path, keep_default_na=False, dtype={"smiles": str})
    missing = [c for c in columns if c not in preds.columns]
    if missing or len(preds) != len(test_smiles):
        raise RuntimeError(f"{path}: expected {len(test_smiles)} rows and columns smiles,{','.join(columns)}; "
                           f"got {len(preds)} rows and {list(preds.columns)}")  # fmt: skip
    values = preds[columns].to_numpy(dtype=np.float64)
    if preds["smiles"].tolist() == test_smiles:
        return values
    # not in split order: match by SMILES; duplicates of one SMILES get identical predictions, so any pairing is exact
    rows: dict[str, deque[int]] = defaultdict(deque)
    for k, s in enumerate(preds["smiles"]):
        rows[s].append(k)
    try:
        order = [rows[s].popleft() for s in test_smiles]
    except IndexError as err:
        raise RuntimeError(f"{path}: its SMILES do not match the test split's (chemprop dropped or altered molecules)") from err
    return values[order]


def _best_epoch(model_dir: Path) -> int | None:
    """0-based epoch of the checkpoint chemprop kept (lowest val_loss), from its file name 'best-epoch=N-...ckpt'."""
    found = [m for p in model_dir.glob("checkpoints/best-epoch=*.ckpt") if (m := _BEST_CKPT.match(p.name))]
    return int(found[0].group(1)) if len(found) == 1 else None


def _epochs_run(log_dir: Path, last_epoch_shown: int | None) -> int:
    """Epochs chemprop trained: one more than the highest epoch in Lightning's CSV log (chemprop's default is 50).

    chemprop logs to CSV only when tensorboard is absent; otherwise the progress bar's last "Epoch N/M" is used.
    """
    files = sorted(log_dir.glob("*/metrics.csv"))
    if files:
        return int(pd.read_csv(files[-1])["epoch"].max()) + 1
    if last_epoch_shown is not None:
        return last_epoch_shown + 1
    raise RuntimeError(f"{log_dir}: no */metrics.csv and no epoch in chemprop's output; cannot count epochs")
