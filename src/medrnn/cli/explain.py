"""`medrnn explain`: why a trained artifact (or ensemble) said what it said, for the inputs `medrnn predict` reads."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

import typer

HELP = """Explain predictions: which parts of each input drove the model's output, as JSON (attribution per cell of
the task's axes: time x lead, hour x variable, visit x code, token) and a PNG per explained sample (a signal strip
with a heat band, an ICU heatmap, code bars, highlighted text, a molecule with coloured atoms). Red pushed the
explained output up, blue pushed it down. Inputs are what `medrnn predict` reads for the artifact's task; each is
explained on its own (a bad one is listed in OUT/index.json and the rest go on).

Methods: ig (Integrated Gradients, the default), occlusion (windows set to the baseline), gradient_shap, attention
(the model's own attention or RETAIN's exact contributions; only for models that have them). How faithful each is per
task: docs/benchmarks.md (explain).

Exit code 0: all inputs explained; 1: some failed; 2: usage, config or artifact error; 3: internal error.

Examples:

\b
  medrnn explain --artifact runs/mitdb/model 232 --out why/ --max-samples 20
  medrnn explain --artifact runs/bbbp/model molecules.csv --method occlusion --out why/
  medrnn explain --artifact runs/notes/model note.txt --target 428.0 --out why/
"""
TYPES = {"str": Optional[str], "int": Optional[int], "float": Optional[float], "bool": Optional[bool], "list": Optional[str]}


def explain_command_for_tasks() -> Any:
    """The explain command, with every registered task's input flags (the ones `medrnn predict` has)."""
    from medrnn.explain.api import MAX_SAMPLES
    from medrnn.explain.methods import DEFAULT_METHOD, METHODS
    from medrnn.tasks.base import get_task, task_names

    options: dict[str, Any] = {}
    for task in (get_task(name) for name in task_names()):
        for option in task.predict_options:
            options.setdefault(option.flag, option)
    params = [
        ("inputs", list[str], typer.Argument(..., help="What the artifact's task reads (records, CSV files, stay files, notes, patient JSON files).")),
        ("artifact", Path, typer.Option(..., "--artifact", "-a", help="Model folder written by `medrnn train` (RUN/model or RUN), or an ensemble folder (attributions averaged over members).")),
        ("out", Path, typer.Option(Path("explanations"), "--out", "-o", help="Folder for ITEM.json, ITEM__SAMPLE.png and index.json.")),
        ("method", str, typer.Option(DEFAULT_METHOD, "--method", "-m", help=f"Attribution method: {', '.join(METHODS)}.")),
        ("target", Optional[list[str]], typer.Option(None, "--target", "-t", help="Output to explain (a class, code or target name; repeat for several). Default: the predicted class / predicted codes / the output.")),
        ("max_samples", int, typer.Option(MAX_SAMPLES, "--max-samples", min=1, help="Samples explained per input (a record holds thousands of beats; the first ones are explained).")),
        ("figures", bool, typer.Option(True, "--figures/--no-figures", help="Write a PNG per explained sample.")),
        ("check", bool, typer.Option(False, "--check", help="Also measure each explanation's faithfulness: deletion and insertion areas against random orderings (lower deletion / higher insertion is better) and the rank correlation with the same method on a re-initialised model (low is better); summarised in OUT/index.json.")),
    ] + [(o.field, TYPES[o.kind], typer.Option(None, o.flag, help=o.help)) for o in options.values()]  # fmt: skip

    def command(**kwargs: Any) -> None:
        fixed = {k: kwargs.pop(k) for k in ("inputs", "artifact", "out", "method", "target", "max_samples", "figures", "check")}
        run_explain(**fixed, options={k: v for k, v in kwargs.items() if v is not None})

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=t) for n, t, d in params]
    )
    command.__doc__ = HELP
    return command


def run_explain(inputs: list[str], artifact: Path, out: Path, method: str, target: list[str] | None, max_samples: int,
                figures: bool, options: dict[str, Any], check: bool = False) -> None:  # fmt: skip
    """Explain every input, print one line per input, write the files."""
    from medrnn.explain.api import explain
    from medrnn.explain.methods import check_method
    from medrnn.explain.output import write_explanations
    from medrnn.predict import Predictor

    check_method(method)  # refused before the artifact is loaded
    predictor = Predictor.from_artifact(artifact)
    result = explain(predictor, list(inputs), method=method, targets=target or None, max_samples=max_samples, options=options,
                     check=check)  # fmt: skip
    index = write_explanations(result, predictor.task, predictor.pipeline, out, figures=figures)
    for entry in index["items"]:
        typer.echo(f"{entry['item_id']}: {entry['explained']} of {entry['n_samples']} samples explained -> {out / entry['json']}")
    for source, entry in result.failures.items():
        said = f"FAILED: {entry['message']}" if "error" in entry else f"{len(entry['rejected'])} parts rejected (see index.json)"
        typer.echo(f"{source}: {said}", err=True)
    if check and index.get("faithfulness"):
        f = index["faithfulness"]
        typer.echo(
            f"faithfulness over {f['n']} samples: deletion AUC {f['deletion_auc']:.3f} (random {f['deletion_auc_random']:.3f}), "
            f"insertion AUC {f['insertion_auc']:.3f} (random {f['insertion_auc_random']:.3f}), "
            f"rank correlation with a randomised model {f['sanity_rank_corr']:.2f}"
        )
    typer.echo(f"explained {len(result.items)} of {len(inputs)} inputs with {method}; index: {out / 'index.json'}")
    if result.failures:
        raise typer.Exit(code=1)
