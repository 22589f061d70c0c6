"""`medrnn train smiles`: SMILES -> bioactivity, toxicity or a physical property, with a scaffold or random split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from medrnn.config import load_config
from medrnn.tasks.molecules.config import SmilesRunConfig


def smiles_command(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="MoleculeNet name (bbbp, bace, hiv, tox21, clintox, sider, esol, freesolv, lipophilicity) or a CSV path."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Target column(s), comma-separated: 'p_np' or 'NR-AR,SR-p53'. Empty cells = missing labels."),
    smiles_column: Optional[str] = typer.Option(None, "--smiles-column", help="Column with SMILES (default: smiles, canonical_smiles, smi or mol)."),
    split: Optional[str] = typer.Option(None, "--split", help="scaffold (Bemis-Murcko, balanced) or random; default: MoleculeNet's choice for the dataset, random for a CSV."),
    task_type: Optional[str] = typer.Option(None, "--task-type", help="classification or regression (default: classification when every label is 0/1)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML run config (see config.yaml of any SMILES run); flags override it."),
    out: Path = typer.Option(Path("runs/smiles"), "--out", "-o", help="Run folder."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registered recurrent model: lstm (default), gru, rnn."),
    seed: Optional[int] = typer.Option(None, help="Seed for the split, the weights, the batches and the random SMILES."),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Upper bound; early stopping on validation usually ends sooner."),
    augment: Optional[int] = typer.Option(None, "--augment", help="Random SMILES per molecule per epoch (0 = canonical only)."),
    tta: Optional[int] = typer.Option(None, "--tta", help="Test-time averaging over this many random SMILES (0 = canonical only)."),
    pretrain: Optional[bool] = typer.Option(None, "--pretrain/--no-pretrain", help="First train the embedding and first biLSTM layer as a SMILES language model on every MoleculeNet molecule outside this dataset (pretrain.corpus), then fine-tune: the lever that helped most in docs/benchmarks.md. The LM is cached, so only the first run per dataset pays for it (minutes)."),
    accelerator: Optional[str] = typer.Option(None, help="Lightning accelerator: auto, cpu, gpu."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html at the end."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
) -> None:
    """Train a SMILES model (token embedding -> biLSTM -> attention over tokens) and evaluate it once on the test split.

    Rows RDKit cannot parse are listed with row number and reason, and left out; the split is computed
    before the vocabulary and target scaling are fitted on the training molecules only.

    Examples:

        medrnn train smiles --data bbbp --out runs/bbbp

        medrnn train smiles --data tox21 --split scaffold --seed 1

        medrnn train smiles --data bace --pretrain --out runs/bace-lm

        medrnn train smiles --data assays.csv --target pIC50 --split scaffold --out runs/pic50
    """
    from medrnn.train.molecules import run_smiles_experiment  # heavy imports only when training

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(config, SmilesRunConfig) if config else SmilesRunConfig()
    data_over = {"data": data, "smiles_column": smiles_column, "split": split, "task_type": task_type, "augment": augment, "tta": tta,
                 "targets": [t.strip() for t in target.split(",") if t.strip()] if target else None}  # fmt: skip
    train_over = {"seed": seed, "max_epochs": max_epochs, "accelerator": accelerator, "progress": progress}
    raw = cfg.model_dump()
    raw["data"].update({k: v for k, v in data_over.items() if v is not None})
    raw["train"].update({k: v for k, v in train_over.items() if v is not None})
    if model:
        raw["model"]["name"] = model
    if pretrain is not None:
        raw["pretrain"]["enabled"] = pretrain
    cfg = SmilesRunConfig.model_validate(raw)

    metrics = run_smiles_experiment(cfg, out, progress=progress)
    from medrnn.metrics.molecules import MoleculeMetricReport

    read = metrics["data"]["read"]
    typer.echo(f"{read['source']}: {read['n_read']} rows read, {read['n_kept']} kept, {read['n_rejected']} rejected")
    counts = metrics["split"]["counts"]
    typer.echo(f"{metrics['split']['kind']} split (seed {metrics['split']['seed']}): train {counts['train']}, val {counts['val']}, test {counts['test']}")
    typer.echo(MoleculeMetricReport.from_dict(metrics["test"]).table())
    typer.echo(f"run folder: {out}  (artifact: {out / 'model'})")
    if report:
        from medrnn.report import write_report

        typer.echo(f"report: {write_report(out)}")
