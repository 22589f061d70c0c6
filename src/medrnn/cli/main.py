"""`medrnn` entry point: mounts one typer app or command per subcommand file; `train` is built from the task registry."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import typer

from medrnn import __version__
from medrnn.cli import choose, data, ensemble, evaluate, explain, federate, fewshot, predict, pretrain, report, serve, tasks, train
from medrnn.errors import MedrnnError

app = typer.Typer(
    name="medrnn",
    help=(
        "Recurrent neural networks for medical sequences.\n\n"
        "Typical session:\n\n"
        "\b\n"  # click keeps the lines of this paragraph as they are
        "  medrnn data list                      # which datasets are under the data root, and why there\n"
        "  medrnn tasks                          # the data worlds medrnn trains on\n"
        "  medrnn train mitdb --out runs/mitdb    # train + evaluate the inter-patient ECG model (fetches MIT-BIH if missing)\n"
        "  medrnn report runs/mitdb               # HTML report with CIs, curves, ECG strip\n"
        "  medrnn predict --artifact runs/mitdb/model 100 101   # classify beats of new records\n"
        "  medrnn explain --artifact runs/mitdb/model 232 --out why/   # which parts of the input drove each prediction\n"
        "  medrnn train smiles --data bbbp --out runs/bbbp      # SMILES -> blood-brain barrier penetration\n"
        "  medrnn train icu --out runs/icu                      # ICU stays (PhysioNet 2012) -> in-hospital mortality, GRU-D\n"
        "  medrnn train ehr --task readmission_30d              # coded MIMIC visits -> readmission, RETAIN\n"
        "  medrnn train notes --out runs/notes                  # clinical notes (CodiEsp) -> ICD-10 codes with evidence\n"
        "  medrnn ensemble runs/n0 runs/n1 --out runs/n-ens     # several seeds or recipes served as one\n"
        "  medrnn choose runs/a runs/b runs/n-ens               # pick among them on validation loss\n"
        "  medrnn evaluate runs/n-ens                           # an ensemble's test figure, with CIs\n\n"
        "Exit codes: 0 all good; 1 some inputs failed (an errors file says which); 2 usage, config, data or artifact "
        "error; 3 internal error (a defect in medrnn; the traceback is printed)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts hold [brackets] (JSON shapes, lists, defaults) that Rich markup would swallow
)
app.add_typer(data.app, name="data")
app.add_typer(train.app, name="train")
app.command("tasks")(tasks.tasks_command)
app.command("ensemble")(ensemble.ensemble_command)
app.command("choose")(choose.choose_command)
app.command("evaluate")(evaluate.evaluate_command)
app.command("report")(report.report_command)
app.command("serve")(serve.serve_command)
app.command("federate")(federate.federate_command)
app.command("pretrain")(pretrain.pretrain_command)
app.add_typer(fewshot.app, name="fewshot")
NEEDS_TASKS = ("train", "predict", "explain")  # their commands and flags come from the task registry (importing torch and Lightning)


def register_task_commands() -> None:
    """`medrnn train TASK` for every registered task and `medrnn predict` with every task's flags (idempotent)."""
    train.register_commands()
    if "predict" not in {c.name for c in app.registered_commands}:
        app.command("predict")(predict.predict_command_for_tasks())
    if "explain" not in {c.name for c in app.registered_commands}:
        app.command("explain")(explain.explain_command_for_tasks())


def _version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the medrnn version and exit."),
) -> None:
    """Recurrent neural networks for medical sequences."""


@app.command("version")
def version() -> None:
    """Print the medrnn version."""
    typer.echo(__version__)


EXTRAS = {"wfdb": "signals", "rdkit": "chem", "pandas": "chem", "polars": "ehr", "tokenizers": "text", "gensim": "text",
          "pydicom": "imaging", "nibabel": "imaging", "fastapi": "serve", "uvicorn": "serve", "flwr": "federated", "opacus": "federated"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]) and return the exit code; usable from tests.

    Exit codes: 0 all good; 1 some inputs failed (an errors file says which); 2 usage, config, data or artifact error;
    3 internal error (a defect in medrnn: the traceback is printed, please report it).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    # only the commands built from the registry pay for importing every task; `medrnn data list` stays fast
    if not args or args[0] in NEEDS_TASKS or args[0] in ("--help", "-h"):
        register_task_commands()  # tasks registered after import (a plug-in, a test) get their command too
    try:
        # with standalone_mode=False click returns the code of a typer.Exit instead of raising it
        result = app(args=args, standalone_mode=False, prog_name="medrnn")
    except MedrnnError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except typer.Exit as stop:
        return int(stop.exit_code or 0)
    except SystemExit as stop:  # click raises this for --help and usage errors
        return int(stop.code or 0)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except ModuleNotFoundError as err:  # an optional dependency of one data world: say which extra brings it
        extra = EXTRAS.get((err.name or "").split(".")[0])
        if extra is None:
            raise
        typer.echo(f"error: this needs the {err.name} package, part of medrnn's [{extra}] extra: pip install 'medrnn[{extra}]'", err=True)
        return 2
    except Exception as err:  # click.ClickException (usage errors) carries its own exit code
        code = getattr(err, "exit_code", None)
        if code is None or not hasattr(err, "format_message"):
            traceback.print_exc()
            typer.echo(f"internal error: {type(err).__name__}: {err}\nThis is a defect in medrnn {__version__}, not in your input; "
                       "please report it with the traceback above.", err=True)  # fmt: skip
            return 3
        ctx = getattr(err, "ctx", None)  # one line: the message, and where the help is
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        typer.echo(f"error: {err.format_message()}{hint}", err=True)
        return int(code)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
