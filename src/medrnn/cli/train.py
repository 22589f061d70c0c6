"""`medrnn train TASK`: one command per registered task, built from TASKS (common options + the task's own flags)."""

from __future__ import annotations

import inspect
import logging
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from medrnn.cli.overrides import build_config
from medrnn.errors import ConfigError
from medrnn.tasks.base import Task, TaskOption

app = typer.Typer(
    help=(
        "Train a model and evaluate it once on held-out data; everything lands in one run folder "
        "(config.yaml, metrics.json, predictions.npz, model/ artifact, report.html). `medrnn tasks` lists the tasks.\n\n"
        "Every task takes -c/--config, --out, --model, --seed, --max-epochs, the Lightning flags, --set key=value for any "
        "config field (see the config.yaml of a run) and --quick (a seconds-long smoke run on a small real subset). "
        "`medrnn train TASK --help` shows the task's models, defaults and a rough time."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,  # help texts hold [brackets] (lists, defaults) that Rich markup would swallow
)

COMMON: list[tuple[str, Any, Any]] = [
    (
        "config",
        Optional[Path],
        typer.Option(None, "--config", "-c", help="YAML run config (the config.yaml of any run of this task); flags override it."),
    ),
    ("out", Optional[Path], typer.Option(None, "--out", "-o", help="Run folder (default: runs/<task alias>).")),
    ("model", Optional[str], typer.Option(None, "--model", "-m", help="Model (default: the task's; `medrnn tasks`).")),
    ("seed", Optional[int], typer.Option(None, "--seed", help="Seed for the split, the weights and the batches.")),
    (
        "max_epochs",
        Optional[int],
        typer.Option(None, "--max-epochs", help="Upper bound; early stopping on validation usually ends sooner."),
    ),
    (
        "fetch",
        bool,
        typer.Option(
            True,
            "--fetch/--no-fetch",
            help="Download a catalogue dataset the run needs and the data root lacks (`medrnn data fetch`) before the run "
            "folder is made; with --no-fetch a missing dataset is an error saying how to get it.",
        ),
    ),
    (
        "accelerator",
        Optional[str],
        typer.Option(None, "--accelerator", help="Lightning accelerator, passed on unchanged: auto, cpu, gpu, cuda, mps."),
    ),
    (
        "devices",
        Optional[str],
        typer.Option(None, "--devices", help="Lightning devices per node, passed on unchanged: auto, 1, 4, '0,1' (GPU ids)."),
    ),
    (
        "strategy",
        Optional[str],
        typer.Option(
            None,
            "--strategy",
            help="Lightning strategy: auto, single_device, ddp, ddp_find_unused_parameters_true/false. ddp runs one process "
            "per device (--devices 2 --accelerator cpu works without GPUs); rank 0 alone writes the run folder "
            "(docs/distributed.md).",
        ),
    ),
    (
        "num_nodes",
        Optional[int],
        typer.Option(None, "--num-nodes", help="Machines for multi-node DDP; set MASTER_ADDR, MASTER_PORT and NODE_RANK on each."),
    ),
    (
        "init_from",
        Optional[str],
        typer.Option(None, "--init-from", help="Start from the encoder of this artifact or run folder (transfer learning; the head "
                     "starts fresh; embeddings follow the tokens; a shape mismatch is refused): docs/transfer.md."),
    ),
    (
        "freeze",
        Optional[str],
        typer.Option(None, "--freeze", help="With --init-from, keep fixed: encoder (all but the head), frontend (embedding or conv "
                     "front-end), or N (those and the first N recurrent layers)."),
    ),
    ("unfreeze_after", Optional[int], typer.Option(None, "--unfreeze-after", help="Let the frozen parameters train from this epoch on.")),
    ("threads", Optional[int], typer.Option(None, "--threads", help="CPU threads torch uses (default: all cores).")),
    (
        "train_fraction",
        Optional[float],
        typer.Option(None, "--train-fraction", help="Train on this seeded share of the training samples (e.g. 0.1; learning "
                     "curves); validation and test stay whole."),
    ),
    (
        "set_",
        Optional[list[str]],
        typer.Option(None, "--set", help="Any config field as key=value, e.g. --set train.lr=3e-4 (repeatable)."),
    ),
    ("quick", bool, typer.Option(False, "--quick", help="The task's seconds-long smoke configuration on a small real subset.")),
    ("report", bool, typer.Option(True, "--report/--no-report", help="Write report.html at the end.")),
    (
        "progress",
        Optional[bool],
        typer.Option(None, "--progress/--no-progress", help="Progress bars (default: the config's train.progress, on)."),
    ),
    (
        "overwrite",
        bool,
        typer.Option(
            False, "--overwrite", help="Replace an existing run folder at --out (removed first; a folder that is not a medrnn run is never removed)."
        ),
    ),
    (
        "resume",
        Optional[Path],
        typer.Option(
            None,
            "--resume",
            help="Go on with the unfinished run in this folder from its last checkpoint (its own config.yaml; "
            "gives the model an uninterrupted run would).",
        ),
    ),
    ("verbose", bool, typer.Option(False, "--verbose", "-v", help="Debug logging; it may print record and patient identifiers.")),
]
TYPES = {"str": Optional[str], "int": Optional[int], "float": Optional[float], "list": Optional[str], "bool": Optional[bool]}


def _param(option: TaskOption) -> tuple[str, Any, Any]:
    """The typer parameter of one task option (bool options get --flag/--no-flag)."""
    name = option.flag.lstrip("-").replace("-", "_")
    decls = [f"{option.flag}/--no-{option.flag.lstrip('-')}"] if option.kind == "bool" else [option.flag]
    if option.short:
        decls.append(option.short)
    return name, TYPES[option.kind], typer.Option(None, *decls, help=option.help)


def task_common(task: Task) -> list[tuple[str, Any, Any]]:
    """COMMON with the task's own defaults in the help of --model, --seed and --max-epochs (and its models listed)."""
    train = getattr(task.config_class(), "train", None)
    models = f" Models: {', '.join(task.models)}." if task.models else ""
    helps = {
        "model": f"Model (default: {task.default_model}).{models}",
        "seed": f"Seed for the split, the weights and the batches (default: {getattr(train, 'seed', 0)}).",
        "max_epochs": f"Upper bound (default: {getattr(train, 'max_epochs', '?')}); early stopping on validation usually ends sooner.",
        "out": f"Run folder (default: runs/{task.aliases[0] if task.aliases else task.name}); an existing one is refused.",
    }
    params = []
    for name, kind, option in COMMON:
        if name in helps:
            option = typer.Option(option.default, *option.param_decls, help=helps[name])
        params.append((name, kind, option))
    return params


def make_command(task: Task) -> Any:
    """A typer command function for `task`, with a signature typer can read."""
    params = [_param(o) for o in task.options] + task_common(task)
    names = [p[0] for p in params]
    if len(set(names)) != len(names):
        raise RuntimeError(f"task {task.name!r}: an option repeats a common option name ({names})")

    def command(**kwargs: Any) -> None:
        run_command(task, kwargs)

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=t) for n, t, d in params]
    )
    examples = "\b\n" + "\n".join(f"  {e}" for e in task.examples)  # \b: click keeps the lines as they are
    models = f" (also: {', '.join(m for m in task.models if m != task.default_model)})" if len(task.models) > 1 else ""
    took = f"\n\nTime: {task.time_estimate}." if task.time_estimate else ""
    command.__doc__ = (f"{task.title}\n\nData: {task.data}. Split unit: {task.split_unit}. Output: {', '.join(task.output_kinds)}. "
                       f"Default model: {task.default_model}{models}.{took}\n\nExamples:\n\n{examples}")  # fmt: skip
    command.__name__ = f"train_{task.name}"
    return command


def run_command(task: Task, kwargs: dict[str, Any]) -> None:
    """Resolve the config from file, --quick, flags and --set; train; print the test table; write the report."""
    from medrnn.download import ensure_datasets
    from medrnn.metrics.bootstrap import progress_bars
    from medrnn.train.distributed import is_rank_zero
    from medrnn.train.run import run_task  # heavy imports only when training

    # the training log goes with the results to stdout, so `medrnn train ... > run.log` keeps the epochs; errors: stderr.
    # A DDP worker (the same command, started again by Lightning per device) says only what goes wrong
    worker = not is_rank_zero()
    level = logging.WARNING if worker else logging.DEBUG if kwargs["verbose"] else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stdout)
    if kwargs["verbose"]:
        logging.getLogger(__name__).debug("--verbose: debug logs may name records and patients")
    task_values: dict[str, tuple[TaskOption, Any]] = {}
    for o in task.options:  # two flags may set one field (--task / --target): the one given wins
        value = kwargs.pop(o.flag.lstrip("-").replace("-", "_"))
        if value is not None or o.field not in task_values:
            task_values[o.field] = (o, value)
    resume: Path | None = kwargs["resume"]
    if resume is not None:
        cfg = resumed_config(task, resume, kwargs, task_values)
        out = resume
    else:
        cfg = build_config(task, kwargs, task_values)
        out = kwargs["out"] or Path("runs") / (task.aliases[0] if task.aliases else task.name)
    # the data is checked (and fetched when missing) before anything is written: no run folder without data. Workers
    # never download (rank 0 has fetched before they start; another node needs its copy first: docs/distributed.md)
    ensure_datasets(task.missing_data(cfg), fetch=kwargs["fetch"] and not worker, say=typer.echo)
    progress = cfg.train.progress and not worker
    with progress_bars(progress):
        result = run_task(task, cfg, out, progress=progress, overwrite=kwargs["overwrite"], resume=resume is not None)
    if result is None:  # a DDP worker: rank 0 reports
        return
    split = result.metrics["split"]
    typer.echo(f"split by {task.split_unit.split(' (')[0]}: " + ", ".join(
        f"{k} {split['counts'][k]:,} samples / {split['units'][k]:,} units" for k in split["counts"]))  # fmt: skip
    typer.echo(result.report.table())
    typer.echo(f"run folder: {out}  (artifact: {out / 'model'})")
    if kwargs["report"]:
        from medrnn.report import write_report

        typer.echo(f"report: {write_report(out)}")


RESUME_KEEPS = ("config", "model", "seed", "max_epochs", "accelerator", "devices", "strategy", "num_nodes", "init_from", "freeze",
                "unfreeze_after", "train_fraction", "set_", "out")


def resumed_config(task: Task, run_dir: Path, kwargs: dict[str, Any], task_values: dict[str, tuple[TaskOption, Any]]) -> Any:
    """The config of the run to resume (its config.yaml); flags that would change it are refused."""
    from medrnn.config import load_config

    given = [k for k in RESUME_KEEPS if kwargs.get(k)] + [o.flag for o, v in task_values.values() if v is not None]
    if kwargs.get("quick") or kwargs.get("overwrite"):
        given.append("--quick" if kwargs.get("quick") else "--overwrite")
    if given:
        raise ConfigError(f"--resume {run_dir}: the run keeps its own config.yaml; drop {', '.join(sorted(set(given)))}")
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"--resume {run_dir}: no config.yaml there; not a medrnn run folder")
    cfg = load_config(run_dir / "config.yaml", task.config_class)
    if kwargs.get("progress") is not None:  # progress bars do not change the model
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"progress": kwargs["progress"]})})
    return cfg


def register_commands() -> None:
    """One `medrnn train NAME` command per task, plus one per alias (hidden in --help)."""
    from medrnn.tasks.base import get_task, task_names

    known = {c.name for c in app.registered_commands}
    for name in task_names():
        if name in known:
            continue
        task = get_task(name)
        command = make_command(task)
        also = f" (also: medrnn train {', '.join(task.aliases)})" if task.aliases else ""
        short = (f"(alias {', '.join(task.aliases)}) " if task.aliases else "") + task.title  # `medrnn train --help` lists it
        app.command(name, help=(command.__doc__ or "").replace("\n\n", f"{also}\n\n", 1), short_help=short)(command)
        for alias in task.aliases:
            app.command(alias, help=f"Alias of `medrnn train {name}`: " + (command.__doc__ or ""), hidden=True)(command)
