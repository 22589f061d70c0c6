"""`medrnn pretrain TASK`: self-supervised pretraining of a task's encoder -> an artifact that `--init-from` starts from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def pretrain_command(
    task_name: str = typer.Argument(..., metavar="TASK", help="Task name or alias (molecules/smiles: the SMILES language model; icd_coding/notes: word2vec on every training note)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write; the artifact lands in OUT/model."),
    data: Optional[str] = typer.Option(None, "--data", help="The dataset the pretrained encoder will serve (molecules: its molecules are left out of the corpus)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="The task's YAML run config (model and pretrain settings); flags override it."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the corpus split and the initial weights."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Any config field as key=value, e.g. --set pretrain.epochs=5 (repeatable)."),
    quick: bool = typer.Option(False, "--quick", help="The task's seconds-long smoke configuration."),
) -> None:
    """Pretrain a task's encoder without labels and write it as an artifact; then fine-tune any labelled run from it with
    `medrnn train TASK --init-from OUT [--freeze encoder|frontend|N] [--unfreeze-after EPOCHS]` (docs/transfer.md).

    Tasks without a self-supervised objective say so; pretrain them on a related labelled task with `medrnn train`.

    Example: medrnn pretrain smiles --data bbbp --out runs/smiles-lm
             medrnn train smiles --data bbbp --init-from runs/smiles-lm --freeze 1 --unfreeze-after 5 --out runs/bbbp-lm
             medrnn pretrain notes --out runs/notes-w2v
             medrnn train notes --embeddings none --init-from runs/notes-w2v --out runs/notes-ft
    """
    from medrnn.cli.overrides import build_config
    from medrnn.errors import ConfigError
    from medrnn.tasks.base import get_task

    task = get_task(task_name)
    values = {"data.data": data} if data is not None else {}
    sets = list(set_ or []) + [f"{k}={v}" for k, v in values.items()]
    cfg = build_config(task, {"config": config, "quick": quick, "seed": seed, "set_": sets, "progress": False}, {})
    if (out / "model").exists():
        raise ConfigError(f"--out {out}: already holds a model/ folder; choose another folder or remove it")
    stats = task.pretrain(cfg, out)
    typer.echo(json.dumps(stats, indent=1, default=str))
    typer.echo(f"artifact: {out / 'model'}   (use it with: medrnn train {task.name} --init-from {out})")
