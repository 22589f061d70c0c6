"""`medrnn train notes`: clinical case notes (CodiEsp) -> ICD-10 codes, with the text each code attended to."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from medrnn.config import load_config
from medrnn.tasks.icd_coding.config import NotesRunConfig


# one typer option per line, as in the other train commands
# fmt: off
def notes_command(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="codiesp (default; under the data root) or a CodiEsp folder holding train/ dev/ test/ (or final_dataset_v4_to_publish/)."),
    language: Optional[str] = typer.Option(None, "--language", "-l", help="es (default; the original Spanish, with evidence spans) or en (the machine translation; no spans)."),
    codes: Optional[str] = typer.Option(None, "--codes", help="Code types, comma-separated: D (ICD-10-CM diagnoses, default), P (ICD-10-PCS procedures) or D,P."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="laat (default; BiLSTM + label attention), caml (convolution + label attention) or bigru_maxpool (no attention, no evidence)."),
    window: Optional[int] = typer.Option(None, "--window", help="Tokens per model input (default 2500); longer notes are cut into windows and each code takes its best window's score."),
    embeddings: Optional[str] = typer.Option(None, "--embeddings", help="word2vec (default; trained on the training notes only, needs gensim) or none (random start)."),
    evidence_weight: Optional[str] = typer.Option(None, "--evidence-weight", help="Weight of the loss that teaches each code's attention the gold evidence spans of the training notes (CodiEsp-X): auto (default: 0.1 for laat/caml on Spanish text, else off), 0 (off) or a number."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML run config (see config.yaml of any notes run); flags override it."),
    out: Path = typer.Option(Path("runs/notes"), "--out", "-o", help="Run folder."),
    seed: Optional[int] = typer.Option(None, help="Seed for the weights, word2vec and the batches (the split is CodiEsp's own)."),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Upper bound; early stopping on dev MAP usually ends sooner."),
    accelerator: Optional[str] = typer.Option(None, help="Lightning accelerator: auto, cpu, gpu."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
) -> None:
    # fmt: on
    """Assign ICD-10 codes to clinical case notes (CodiEsp, CLEF eHealth 2020) and show the words behind each code.

    CodiEsp's own split is used: train fits the tokenizer vocabulary, the label set (codes seen in train) and word2vec;
    dev stops training and tunes the decision threshold; test is scored once. Gold codes never seen in train cannot be
    predicted: metrics.json says how many there are. evidence.json lists, for the first test notes, each predicted code
    with the character span it attended to most. On the Spanish text, each code's attention is also taught the gold
    evidence spans of the training notes (CodiEsp-X): CodiEsp-D test MAP 0.19 without, 0.52 with (LAAT, 3 seeds).

    Examples:

        medrnn train notes --out runs/notes                                   # Spanish diagnoses, LAAT, word2vec

        medrnn train notes --model caml --language en --max-epochs 10

        medrnn predict --artifact runs/notes/model notes/*.txt --out codes.csv  # codes + evidence for new notes
    """
    from medrnn.train.notes import run_notes_experiment  # heavy imports only when training

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(config, NotesRunConfig) if config else NotesRunConfig()
    raw = cfg.model_dump()
    code_types = [c.strip().upper() for c in codes.split(",") if c.strip()] if codes else None
    data_over = {"data": data, "language": language, "code_types": code_types, "window": window, "embeddings": embeddings}
    raw["data"].update({k: v for k, v in data_over.items() if v is not None})
    train_over = {"seed": seed, "max_epochs": max_epochs, "accelerator": accelerator, "progress": progress, "evidence_weight": evidence_weight}
    raw["train"].update({k: v for k, v in train_over.items() if v is not None})
    if model:
        raw["model"]["name"] = model
    cfg = NotesRunConfig.model_validate(raw)

    metrics = run_notes_experiment(cfg, out, progress=progress)
    from medrnn.metrics.codes import CodeMetricReport

    typer.echo(f"documents {metrics['split']['documents']}, labels {metrics['data']['text']['labels']['count']} (codes seen in train)")
    unseen = metrics["unseen_gold_codes"]["test"]
    share = f"{unseen['unseen_pairs']}/{unseen['gold_pairs']} ({unseen['unseen_share']:.1%})"
    typer.echo(f"test gold codes outside the label set (never predictable): {share}")
    typer.echo(f"threshold {metrics['threshold']:.3f} (tuned on dev)")
    typer.echo(CodeMetricReport.from_dict(metrics["test"]).table())
    overlap = metrics["evidence_overlap"].get("predicted")
    if overlap and overlap["rate"] is not None:
        typer.echo(f"top-attention token inside a gold evidence span: {overlap['rate']:.1%} of {overlap['pairs']} correct codes")
    typer.echo(f"run folder: {out}  (artifact: {out / 'model'}, evidence: {out / 'evidence.json'})")
