"""The documentation: the site builds with warnings as errors (so every internal link and anchor
resolves), the shell commands it shows name make targets and CLI options that exist, the
settings page lists every environment variable the code reads, and the README stays short.

No network: Sphinx never fetches external links here. No kernel, no Spark.
"""
from __future__ import annotations

import functools
import pickle
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from docutils import nodes

from pyshim import settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MAKEFILE = (ROOT / "Makefile").read_text()
SHELL_LANGUAGES = {"bash", "shell", "console"}
BIN = Path(sys.executable).parent


def sphinx_build(source: Path, out: Path) -> subprocess.CompletedProcess:
    """`make docs`'s build: the same checks (SPHINX_CHECKS in the Makefile), into `out`."""
    checks = shlex.split(re.search(r"^SPHINX_CHECKS := (.*)$", MAKEFILE, re.MULTILINE).group(1))
    return subprocess.run([sys.executable, "-m", "sphinx", *checks, "-b", "html", "-d", str(out / "doctrees"),
                           str(source), str(out / "html")], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs")
    built = sphinx_build(DOCS, out)
    assert built.returncode == 0, f"the docs do not build cleanly:\n{built.stdout}\n{built.stderr}"
    return out


def doctrees(site: Path) -> dict[str, nodes.document]:
    return {path.stem: pickle.loads(path.read_bytes()) for path in (site / "doctrees").glob("*.doctree")}


def test_the_site_builds_every_page_with_warnings_as_errors(site):
    pages = {path.stem for path in DOCS.glob("*.md")}
    assert pages <= {path.stem for path in (site / "html").glob("*.html")}
    for picture in ("progress.png", "progress-spark4.png"):  # the browser test's, one per line
        assert (site / "html" / "_images" / picture).exists()


def test_a_broken_link_or_anchor_fails_the_build(tmp_path):
    """The check that guards every page: MyST resolves `page.md#anchor` links and warns."""
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(DOCS / "conf.py", source)
    (source / "index.md").write_text("# Index\n\n## A heading\n\n[ok](#a-heading) [ok](other.md#there)\n"
                                     "[gone](#no-such-heading) [gone](other.md#nowhere) [gone](missing.md)\n\n"
                                     "```{toctree}\nother\n```\n")
    (source / "other.md").write_text("# Other\n\n## There\n")
    built = sphinx_build(source, tmp_path / "out")
    assert built.returncode != 0
    warnings = built.stderr
    assert "no-such-heading" in warnings and "nowhere" in warnings and "missing.md" in warnings, warnings
    assert "a-heading" not in warnings and "#there" not in warnings, warnings


# --- the shell commands the docs show -------------------------------------------------------

def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", MAKEFILE, re.MULTILINE))


@functools.cache
def cli(*command: str) -> tuple[frozenset[str], frozenset[str]]:
    """The subcommands and options that `command --help` lists."""
    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert shown.returncode == 0, f"{command} --help: {shown.stderr}"
    usage = shown.stdout.split("\n\n", 1)[0]
    subcommands = re.search(r"\{([\w,-]+)\}\s+\.\.\.", usage)  # argparse's subparsers: {a,b} ...
    options = re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", shown.stdout)
    return frozenset(subcommands.group(1).split(",") if subcommands else ()), frozenset(options)


def check_arguments(base: tuple[str, ...], args: list[str]) -> list[str]:
    """Problems with `args` given to the argparse command `base` (and its subcommands)."""
    choices, options = cli(*base)
    problems, known = [], set(options)
    rest = list(args)
    if choices:
        positional = next((a for a in rest if not a.startswith("-")), None)
        if positional not in choices:
            return [f"{' '.join(base)}: no subcommand {positional!r} (has {', '.join(sorted(choices))})"]
        known |= cli(*base, positional)[1]
    for arg in rest:
        if arg == "--":
            break
        if arg.startswith("-") and not re.fullmatch(r"-\d.*", arg) and arg.split("=", 1)[0] not in known:
            problems.append(f"{' '.join(base)}: no option {arg}")
    return problems


def commands_of(text: str, language: str) -> list[list[str]]:
    """The simple commands in a shell block (a console block: its `$ ` lines)."""
    lines = text.splitlines()
    if language == "console":
        lines = [line[2:] for line in lines if line.startswith("$ ")]
    found: list[list[str]] = []
    for line in shell_lines(re.sub(r"\\\n", " ", "\n".join(lines))):
        current: list[str] = []
        skip_next = False
        for token in line:
            if skip_next:
                skip_next = False
            elif token in {"&&", "||", ";", "|", "(", ")", "&"}:
                found.append(current)
                current = []
            elif token in {">", ">>", "<", ">&"}:
                skip_next = True
            else:
                current.append(token)
                for inner in re.findall(r"\$\(([^()]*)\)", token):
                    found.extend(commands_of(inner, "bash"))
        found.append(current)
    return [command for command in found if command]


def shell_lines(script: str) -> list[list[str]]:
    """The tokens of each line; a quoted string may go on over the next lines (curl -d '{...}')."""
    tokenized, pending = [], ""
    for line in script.splitlines():
        pending += line + "\n"
        lexer = shlex.shlex(pending, posix=True, punctuation_chars=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        try:
            tokenized.append(list(lexer))
        except ValueError:  # no closing quotation yet
            continue
        pending = ""
    assert not pending, f"unclosed quotation in the shell block: {pending!r}"
    return tokenized


def check_command(words: list[str]) -> list[str]:
    while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):  # VAR=value make serve
        words = words[1:]
    if not words:
        return []
    program, args = words[0], words[1:]
    if program == "make":
        return [f"make: no target {t!r}" for t in args
                if not t.startswith("-") and "=" not in t and t not in make_targets()]
    if Path(program).name == "pyshim":
        return check_arguments((str(BIN / "pyshim"),), args)
    if re.fullmatch(r"(\.venv/bin/)?python3?", program):
        if args[:1] == ["-m"] and args[1].startswith("pyshim"):
            return check_arguments((sys.executable, "-m", args[1]), args[2:])
        if args[:1] == ["bench/run.py"]:
            return check_arguments((sys.executable, "bench/run.py"), args[1:])
    return []  # git, curl, mlflow, nbdiff-web...: not ours to check


def shell_blocks(site: Path) -> list[tuple[str, str, str]]:
    """(where, language, text) of every shell block of the site (included files too) and the README."""
    blocks = [(name, node.get("language"), node.astext()) for name, tree in doctrees(site).items()
              for node in tree.findall(nodes.literal_block) if node.get("language") in SHELL_LANGUAGES]
    readme = (ROOT / "README.md").read_text()
    blocks += [("README.md", lang, text) for lang, text in re.findall(r"```(\w+)\n(.*?)```", readme, re.DOTALL)
               if lang in SHELL_LANGUAGES]
    return blocks


def test_shell_blocks_name_make_targets_and_cli_options_that_exist(site):
    blocks = shell_blocks(site)
    checked = [(where, words) for where, language, text in blocks for words in commands_of(text, language)]
    assert {"make", "pyshim"} <= {Path(words[0]).name for _, words in checked}, "no commands found"
    problems = [f"{where}: `{shlex.join(words)}`: {problem}" for where, words in checked
                for problem in check_command(words)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("command, problem", [
    ("make tset", "no target 'tset'"),
    ("MODEL=x make serve docz", "no target 'docz'"),
    (".venv/bin/pyshim export --chek notebooks/", "no option --chek"),
    ("pyshim rnu notebook.ipynb", "no subcommand 'rnu'"),
    ("pyshim run nb.ipynb -r a b --cell-timeout 0 --experimant x", "no option --experimant"),
    ("eval \"$(.venv/bin/python -m pyshim.tools.cluster stats | grep export)\"", "no subcommand 'stats'"),
    (".venv/bin/python -m pyshim.tools.cluster up --workers 3 --no-trackin", "no option --no-trackin"),
    ("cd /srv && .venv/bin/python bench/run.py --quik", "no option --quik"),
])
def test_the_command_check_finds_what_does_not_exist(command, problem):
    found = [p for words in commands_of(command, "bash") for p in check_command(words)]
    assert len(found) == 1 and problem in found[0], found


def test_the_command_check_takes_what_exists():
    block = ("$ pyshim lineage --all out.parquet\nfile:/out.parquet\n"
             "$ make test PYTEST_ARGS=\"-k docs\" && pyshim export --prune a/ # comment --nope\n")
    commands = commands_of(block, "console")
    assert commands == [["pyshim", "lineage", "--all", "out.parquet"], ["make", "test", "PYTEST_ARGS=-k docs"],
                        ["pyshim", "export", "--prune", "a/"]]
    assert not [p for words in commands for p in check_command(words)]


# --- settings -------------------------------------------------------------------------------

CODE = [*ROOT.glob("pyshim/**/*.py"), *ROOT.glob("hooks/**/*.py"), *ROOT.glob("scala/src/**/*.scala"),
        *ROOT.glob("notebooks/snippets/*"), *ROOT.glob("bench/*.py"), ROOT / "Makefile"]


def names_in_code() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in CODE:
        if path.name == "settings.py" and path.parent.name == "pyshim":
            continue
        for name in re.findall(r"\bPYSHIM_[A-Z][A-Z0-9_]*[A-Z0-9]\b", path.read_text(errors="replace")):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_pyshim_variable_in_the_code_is_in_the_one_list():
    listed = {s.name for s in settings.SETTINGS} | set(settings.INTERNAL)
    missing = {name: sorted(where) for name, where in names_in_code().items() if name not in listed}
    assert not missing, f"add these to pyshim/settings.py (SETTINGS, or INTERNAL): {missing}"
    stale = {s.name for s in settings.SETTINGS if s.name.startswith("PYSHIM_")} - set(names_in_code())
    assert not stale, f"pyshim/settings.py lists variables no code reads: {stale}"


def test_the_settings_page_shows_every_setting_and_group(site):
    page = (DOCS / "settings.md").read_text()
    assert set(re.findall(r"```\{pyshim-settings\} (\w+)", page)) == set(settings.GROUPS)
    tables = " ".join(table.astext() for table in doctrees(site)["settings"].findall(nodes.table))
    missing = [s.name for s in settings.SETTINGS if s.name not in tables]
    assert not missing, f"not in the tables of the settings page: {missing}"
    assert "sklearn,skops.io,mlflow.sklearn" in tables and "`" not in tables  # rendered, not raw Markdown


def test_the_code_takes_its_defaults_from_the_list(monkeypatch):
    from pyshim.bridge import daemon
    from pyshim.jobs import run
    from pyshim.tools import demo, serve

    for name in ("MODEL", "PYSHIM_SERVE_PORT", "PYSHIM_WORKER_PRELOAD"):
        monkeypatch.delenv(name, raising=False)
    assert serve.model_uri({}) == settings.default("MODEL") == f"models:/{demo.MODEL_NAME}@{demo.MODEL_ALIAS}"
    assert serve.port({}) == int(settings.default("PYSHIM_SERVE_PORT"))
    assert daemon.preload_names({})[-3:] == settings.default("PYSHIM_WORKER_PRELOAD").split(",")
    assert run.EXPERIMENT == settings.default("PYSHIM_JOB_EXPERIMENT")


# --- the README -----------------------------------------------------------------------------

def test_the_readme_is_short_and_its_links_lead_somewhere():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert "make demo" in readme and "make test" in readme
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert any(t.startswith("docs/") for t in targets)
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, missing
