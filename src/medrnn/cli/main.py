"""`medrnn` entry point: mounts one typer app or command per subcommand file."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from medrnn import __version__
from medrnn.cli import data, ensemble, predict, report, train, train_ehr, train_icu, train_notes, train_smiles
from medrnn.errors import MedrnnError

app = typer.Typer(
    name="medrnn",
    help=(
        "Recurrent neural networks for medical sequences.\n\n"
        "Typical session:\n\n"
        "  medrnn data list                      # which datasets are under the data root\n\n"
        "  medrnn train mitdb --out runs/mitdb    # train + evaluate the inter-patient ECG model\n\n"
        "  medrnn report runs/mitdb               # HTML report with CIs, curves, ECG strip\n\n"
        "  medrnn predict --artifact runs/mitdb/model 100 101   # classify beats of new records\n\n"
        "  medrnn train smiles --data bbbp --out runs/bbbp      # SMILES -> blood-brain barrier penetration\n\n"
        "  medrnn predict --artifact runs/bbbp/model molecules.csv   # score new molecules\n\n"
        "  medrnn train icu --out runs/icu                      # ICU stays (PhysioNet 2012) -> in-hospital mortality, GRU-D\n\n"
        "  medrnn train notes --out runs/notes                  # clinical notes (CodiEsp) -> ICD-10 codes with evidence\n\n"
        "  medrnn ensemble notes runs/n0/model runs/n1/model --out runs/notes-ens   # several seeds served as one"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
train.app.command("smiles")(train_smiles.smiles_command)
train.app.command("icu")(train_icu.icu_command)
train.app.command("ehr")(train_ehr.ehr_command)
train.app.command("notes")(train_notes.notes_command)
app.add_typer(train.app, name="train")
app.add_typer(ensemble.app, name="ensemble")
app.command("predict")(predict.predict_command)
app.command("report")(report.report_command)


@app.command("version")
def version() -> None:
    """Print the medrnn version."""
    typer.echo(__version__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]) and return the exit code; usable from tests."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # with standalone_mode=False click returns the code of a typer.Exit instead of raising it
        result = app(args=args, standalone_mode=False)
    except MedrnnError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except typer.Exit as stop:
        return int(stop.exit_code or 0)
    except SystemExit as stop:  # click raises this for --help and usage errors
        return int(stop.code or 0)
    except Exception as err:  # click.ClickException (usage errors) carries its own exit code
        code = getattr(err, "exit_code", None)
        if code is None:
            raise
        if hasattr(err, "show"):
            err.show()
        return int(code)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
