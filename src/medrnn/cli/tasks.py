"""`medrnn tasks`: the registered data worlds with their data, default model, split unit and output kinds."""

from __future__ import annotations

import typer


def tasks_command() -> None:
    """List every task: `medrnn train NAME` (or an alias) trains it.

    Example: medrnn tasks
    """
    from medrnn.tasks.base import get_task, task_names

    for name in task_names():
        d = get_task(name).describe()
        aliases = f" (alias: {', '.join(d['aliases'])})" if d["aliases"] else ""
        others = [m for m in d["models"] if m != d["default_model"]]
        also = f" (also {', '.join(others)})" if others else ""
        took = f"\n  time: {d['time_estimate']}" if d["time_estimate"] else ""
        typer.echo(f"{name}{aliases}\n  {d['title']}\n  data: {d['data']}\n  default model: {d['default_model']}{also}; "
                   f"split unit: {d['split_unit']}; output: {', '.join(d['output_kinds'])}; inputs: {' x '.join(d['input_axes'])}"
                   f"{took}\n")  # fmt: skip
