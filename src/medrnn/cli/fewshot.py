"""`medrnn fewshot`: few-shot benchmarks on held-out labels (episodes, prototypical network, fine-tuned head)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Few-shot learning on labels a model never trained on: k positives + k negatives, then the rest scored.",
                  no_args_is_help=True, rich_markup_mode=None)  # fmt: skip


def parse_ks(values: list[str]) -> list[int]:
    """`--k 1,5,10` or `--k 1 --k 5` -> [1, 5, 10]; anything else is a usage error naming the value."""
    try:
        return [int(v) for value in values for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"--k {values}: expected positive integers, e.g. --k 1,5,10") from None


@app.command("molecules")
def molecules_command(
    data: str = typer.Option("tox21", "--data", "-d", help="tox21 (first 9 assays meta-train, last 3 held out) or sider (21 / 6)."),
    k: list[str] = typer.Option(["1,5,10"], "--k", help="Support positives (= negatives) per episode: --k 1,5,10 or --k 1 --k 5."),
    episodes: int = typer.Option(20, "--episodes", help="Episodes per held-out task and k (the same for every method)."),
    methods: Optional[str] = typer.Option(
        None, "--methods", help="Comma-separated: protonet,finetune,pretrained_prototypes,rf_ecfp (default: all)."
    ),
    meta_steps: int = typer.Option(1000, "--meta-steps", help="Meta-training episodes of the prototypical network."),
    pretrain_epochs: int = typer.Option(5, "--pretrain-epochs", help="Multi-task pretraining epochs of the fine-tuning baseline."),
    max_query: Optional[int] = typer.Option(None, "--max-query", help="Queries per episode (default: every other labelled molecule)."),
    hidden_size: Optional[int] = typer.Option(None, "--hidden-size", help="Encoder biLSTM hidden size (default 128)."),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for fewshot.json (results per method and k) and config.json."),
) -> None:
    """Meta-train on the first label columns of a MoleculeNet table, test on the held-out last ones (Altae-Tran et al. 2017's
    protocol): ROC-AUC per episode, mean with a 95 % bootstrap CI over episodes, per method.

    Examples:

        medrnn fewshot molecules --data tox21 --k 1,5,10 --episodes 20 --out runs/fs-tox21

        medrnn fewshot molecules --data sider --methods protonet,rf_ecfp --out runs/fs-sider
    """
    from medrnn.atomic import write_text
    from medrnn.errors import ConfigError
    from medrnn.fewshot.config import FewShotMoleculeConfig
    from medrnn.fewshot.molecules import MoleculeFewShot

    fields = {"data": data, "k": parse_ks(k), "episodes": episodes, "meta_steps": meta_steps, "pretrain_epochs": pretrain_epochs,
              "max_query": max_query, "seed": seed}  # fmt: skip
    if methods:
        fields["methods"] = [m.strip() for m in methods.split(",") if m.strip()]
    if hidden_size:
        fields["model"] = {"hidden_size": hidden_size, "dropout": 0.1}
    try:
        config = FewShotMoleculeConfig.model_validate(fields)
    except ValueError as err:  # pydantic's ValidationError names the field and the expected values
        raise ConfigError(f"fewshot molecules: {err}") from None
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.json", json.dumps(config.model_dump(mode="json"), indent=1))

    def save(results: dict) -> None:
        write_text(out / "fewshot.json", json.dumps({"config": config.model_dump(mode="json"), **results}, indent=1))

    results = MoleculeFewShot(config).run(save)
    for method, row in results["methods"].items():
        cells = ", ".join(f"k={kk}: {r['roc_auc']:.3f} [{r['ci'][0]:.3f}-{r['ci'][1]:.3f}]" if r["ci"] else f"k={kk}: {r['roc_auc']:.3f}"
                          for kk, r in row["per_k"].items())  # fmt: skip
        typer.echo(f"{method}: {cells}")
    typer.echo(f"wrote {out / 'fewshot.json'}")


@app.command("ecg")
def ecg_command(
    run: Path = typer.Option(..., "--run", help="An inter-patient ECG run folder (`medrnn train mitdb --out RUN`)."),
    k: list[str] = typer.Option(["5,10,20"], "--k", help="Labelled beats per test patient: the first k of the record, in time."),
    bootstrap: int = typer.Option(200, "--bootstrap", help="Record-bootstrap resamples for the CIs."),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for fewshot_ecg.json."),
) -> None:
    """Patient adaptation: a cardiologist labels the first k beats of each new (DS2) patient's record; the model's encoder
    features of those beats correct its posterior on the rest of that record (docs/fewshot.md). Prints jkappa and S/V
    Se and +P of the global and the adapted model on the same remaining beats.

    Example: medrnn fewshot ecg --run runs/mitdb --k 5,10,20 --out runs/fs-ecg
    """
    from medrnn.atomic import write_text
    from medrnn.fewshot.patient import patient_adaptation

    import sys
    from datetime import datetime, timezone

    results = patient_adaptation(run, parse_ks(k), bootstrap, seed)
    results = {"command": " ".join(["medrnn", *sys.argv[1:]]), "date": datetime.now(timezone.utc).isoformat(), **results}
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "fewshot_ecg.json", json.dumps(results, indent=1, default=float))
    for kk, r in results["per_k"].items():
        g, a = r["global"], r["adapted"]
        typer.echo(f"k={kk}: {r['records']} records, {r['beats']} beats; jkappa {g['jkappa']:.3f} -> {a['jkappa']:.3f}; "
                   f"S Se/+P {g.get('S_se')}/{g.get('S_ppv')} -> {a.get('S_se')}/{a.get('S_ppv')}")  # fmt: skip
    typer.echo(f"wrote {out / 'fewshot_ecg.json'}")
