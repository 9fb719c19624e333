"""A job's parameters: `-f params.yaml`, `-p NAME VALUE` and `-r NAME VALUE`, as papermill reads them.

Later wins: the YAML files in order, then -p (typed as papermill types them: True/False,
None, ints, floats, else the string), then -r (always the raw string). Every name must be
assigned in the notebook's cell tagged `parameters`: a typo fails before a kernel starts,
where papermill would only warn and run the notebook on its defaults.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import PyshimError

TAG = "parameters"
# `val name = ...` / `var name: Type = ...` at the start of a line of a Scala parameters cell
_SCALA_ASSIGNMENT = re.compile(r"^\s*(?:val|var)\s+([A-Za-z_]\w*)\b", re.MULTILINE)
# `name = ...` / `name: type = ...` at the start of a line of a Python parameters cell (papermill's
# own parser skips a line whose comment it cannot read, with a warning)
_PYTHON_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=\n]+)?=(?!=)", re.MULTILINE)


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
    cell = next((c for c in nb.cells if TAG in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return None
    spec = nb.metadata.get("kernelspec") or {}
    language = spec.get("language") or (nb.metadata.get("language_info") or {}).get("name", "")
    if language == "scala":
        names = _SCALA_ASSIGNMENT.findall(cell.source)
    else:
        from papermill.translators import papermill_translators

        translator = papermill_translators.find_translator(spec.get("name"), language)
        names = [p.name for p in translator.inspect(cell)] + _PYTHON_ASSIGNMENT.findall(cell.source)
    return list(dict.fromkeys(names))


def check(notebook: Path, nb, values: dict) -> None:
    """Raise BadParameters unless every name in `values` is a parameter of the notebook."""
    if not values:
        return
    names = declared(nb)
    if names is None:
        raise BadParameters(
            f"{notebook.name} has no cell tagged '{TAG}', so it takes no parameters; in JupyterLab, "
            f"tag the cell that assigns the defaults '{TAG}' (Property Inspector > Cell Tags)")
    unknown = [name for name in values if name not in names]
    if unknown:
        raise BadParameters(
            f"{notebook.name} has no parameter {', '.join(repr(n) for n in unknown)}; "
            f"its '{TAG}' cell assigns {', '.join(names) or 'nothing'}")
