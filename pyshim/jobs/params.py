"""A job's parameters: `-f params.yaml`, `-p NAME VALUE` and `-r NAME VALUE`, as papermill reads them.

Later wins: the YAML files in order, then -p (typed as papermill types them: True/False,
None, ints, floats, else the string), then -r (always the raw string). Every name must be
assigned in the notebook's cell tagged `parameters`: a typo fails before a kernel starts,
where papermill would only warn and run the notebook on its defaults.

effective() gives every parameter the notebook runs with, the values passed and the cell's own
defaults (parameters_cell.py reads them), for the job's MLflow run; tags() says which is which.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import PyshimError
from . import parameters_cell

TAG = parameters_cell.TAG
HELP_COLUMN = 48  # --help-notebook: definitions up to this wide, then their help
PASSED, DEFAULT, EXPRESSION = "passed", "default", "expression"
# The run's tags that say where each param came from (names, comma-separated): the values
# passed, the cell's defaults, and among those the expressions, logged as their source text.
TAGS = {PASSED: "pyshim.job.params_passed", DEFAULT: "pyshim.job.params_default",
        EXPRESSION: "pyshim.job.params_expression"}


class BadParameters(PyshimError):
    """The parameters do not fit the notebook; nothing ran."""


def resolve(files: list[Path] = (), typed: list[tuple[str, str]] = (), raw: list[tuple[str, str]] = ()) -> dict:
    """The job's parameters from YAML files, -p pairs and -r pairs, later ones winning."""
    from papermill.cli import _resolve_type  # papermill's own -p typing (pinned version)
    from papermill.iorw import read_yaml_file

    values: dict = {}
    for path in files:
        if not Path(path).is_file():
            raise BadParameters(f"no parameters file {path}; give a YAML file of NAME: VALUE lines")
        try:
            loaded = read_yaml_file(str(path)) or {}
        except Exception as err:
            raise BadParameters(f"{path} is not valid YAML: {' '.join(str(err).split())}") from None
        if not isinstance(loaded, dict):
            raise BadParameters(f"{path} must hold NAME: VALUE lines (a YAML mapping), not a {type(loaded).__name__}")
        values.update(loaded)
    for name, value in typed:
        values[name] = _resolve_type(value)
    for name, value in raw:
        values[name] = value
    bad = [name for name in values if not isinstance(name, str) or not name.isidentifier()]
    if bad:
        raise BadParameters(f"parameter name {bad[0]!r} is not a variable name; use letters, digits and _")
    return values


def declared(nb) -> list[str] | None:
    """Names assigned in the notebook's `parameters` cell, in order; None when it has none."""
    found = defined(None, nb)
    return None if found is None else [p.name for p in found]


def defined(notebook: Path | None, nb) -> list[parameters_cell.Parameter] | None:
    """The `parameters` cell's definitions, with their defaults; None when it has none."""
    try:
        return parameters_cell.read(nb)
    except parameters_cell.CellError as err:
        raise BadParameters(f"{notebook.name if notebook else 'the notebook'}: its '{TAG}' cell {err}") from None


@dataclass(frozen=True)
class Value:
    """One parameter as the job runs it: passed, the cell's literal default, or its expression
    (then `value` is the expression's source text: only the kernel could evaluate it)."""
    name: str
    value: object
    origin: str  # PASSED, DEFAULT or EXPRESSION

    @property
    def text(self) -> str:
        return value_text(self.value)


def effective(notebook: Path, nb, values: dict) -> list[Value]:
    """Every parameter the notebook runs with, in the cell's order; BadParameters as check()."""
    check(notebook, nb, values)
    found = defined(notebook, nb) or []
    return [Value(p.name, values[p.name], PASSED) if p.name in values else
            Value(p.name, p.value, DEFAULT) if p.literal else Value(p.name, p.source, EXPRESSION)
            for p in found]


def tags(parameters: list[Value]) -> dict[str, str]:
    """The run's tags naming the parameters passed, the defaults and the expressions."""
    names = {PASSED: [p.name for p in parameters if p.origin == PASSED],
             DEFAULT: [p.name for p in parameters if p.origin != PASSED],
             EXPRESSION: [p.name for p in parameters if p.origin == EXPRESSION]}
    return {TAGS[origin]: ", ".join(found) for origin, found in names.items() if found}


def value_text(value) -> str:
    """A parameter's value as MLflow keeps it: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def shown(parameters: list[Value]) -> str:
    """`a=1, b=x (default), c=s"..." (default expression)` for the job's first line."""
    marks = {PASSED: "", DEFAULT: " (default)", EXPRESSION: " (default expression)"}
    return ", ".join(f"{p.name}={p.text}{marks[p.origin]}" for p in parameters)


def check(notebook: Path, nb, values: dict) -> None:
    """Raise BadParameters unless every name in `values` is a parameter of the notebook."""
    if not values:
        return
    found = defined(notebook, nb)
    if found is None:
        raise _untagged(notebook)
    names = [p.name for p in found]
    unknown = [name for name in values if name not in names]
    if unknown:
        raise BadParameters(
            f"{notebook.name} has no parameter {', '.join(repr(n) for n in unknown)}; "
            f"its '{TAG}' cell assigns {', '.join(names) or 'nothing'}")


def help_text(notebook: Path, nb) -> str:
    """`pyshim run NB --help-notebook`: each parameter, its default and its help; BadParameters
    when the notebook has no `parameters` cell."""
    found = defined(notebook, nb)
    if found is None:
        raise _untagged(notebook)
    rows = [(f"{p.name}{': ' + p.type if p.type else ''} = {' '.join(p.source.split())}",
             "; ".join(x for x in (p.help, "" if p.literal else "an expression: the run logs its text") if x))
            for p in found]
    width = min(max((len(left) for left, _ in rows), default=0), HELP_COLUMN)
    lines = [f"{notebook.name} takes {len(rows)} parameter{'' if len(rows) == 1 else 's'} "
             f"(its '{TAG}' cell, {parameters_cell.language(nb)}):"]
    for left, note in rows:  # a note goes under a definition too long for its column
        gap = f"\n  {'':<{width}}  " if len(left) > width else "  "
        lines.append(f"  {left:<{width}}{gap}{note}".rstrip())
    lines.append("Pass new values with -p NAME VALUE (typed), -r NAME VALUE (a string) or -f PARAMS_YAML; "
                 "the job's MLflow run logs every parameter, passed or default.")
    return "\n".join(lines)


def _untagged(notebook: Path) -> BadParameters:
    return BadParameters(
        f"{notebook.name} has no cell tagged '{TAG}', so it takes no parameters; in JupyterLab, "
        f"tag the cell that assigns the defaults '{TAG}' (Property Inspector > Cell Tags)")
