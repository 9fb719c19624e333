"""The `pyshim` command: install, uninstall, doctor, export, build, run, lineage."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import PyshimError


def _install(args) -> int:
    from . import paths
    from .kernel import install

    # nbdime's git tools go to this checkout (the repository pyshim is installed from),
    # or to the repository named with --repo (where your notebooks live).
    repo = args.repo or paths.REPO_ROOT
    prefix = args.prefix or Path(sys.prefix)
    removing = args.command == "uninstall" or args.uninstall
    done = install.uninstall(prefix, repo) if removing else install.install(prefix, repo)
    for line in done:
        print(line)
    if not done:
        print("nothing to do: already " + ("uninstalled" if removing else "installed"))
    return 0


def _doctor(args) -> int:
    from .kernel import doctor

    return doctor.main()


def _build(args) -> int:
    from . import paths
    from .kernel import scala_build

    built = scala_build.build(force=args.force)
    print(f"{'built' if built else 'up to date:'} {paths.EXTENSION_JAR}")
    return 0


def _kernelspecs(args) -> int:
    from .kernel import specs as kernels

    changed = kernels.generate()
    for path in changed:
        print(f"wrote {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pyshim", description="MLflow models as Spark SQL functions in Toree Scala notebooks.")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("install", help="install kernels, the Toree extension, the JupyterLab extension, the save hook and nbdime's git tools")
    p.add_argument("--uninstall", action="store_true", help="remove what install added (same as `pyshim uninstall`)")
    _where(p)
    p = sub.add_parser("uninstall", help="remove what install added (kernels, JupyterLab extension, save hook, nbdime's git tools)")
    _where(p)
    p.set_defaults(uninstall=True)
    sub.add_parser("doctor", help="check Java, Spark, Toree, the extension, kernels and Python").set_defaults(func=_doctor)
    p = sub.add_parser("build", help="compile the Toree extension (scala/src) if a source changed")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=_build)
    sub.add_parser("kernelspecs", help="regenerate kernels/ from code").set_defaults(func=_kernelspecs)
    sub.add_parser("export", help="write review copies (.py/.scala and .html) of notebooks", add_help=False)
    sub.add_parser("run", help="run a notebook as a job with parameters (papermill), recorded as an MLflow run",
                   add_help=False)
    sub.add_parser("lineage", help="which job, parameters, model versions and inputs wrote an output folder",
                   add_help=False)
    return top


def _where(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefix", type=Path, help="the environment to (un)install into (default: this one)")
    p.add_argument("--repo", type=Path, help="the git repository for nbdime's git tools (default: this checkout)")
    p.set_defaults(func=_install)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:
        from pyshim_hooks import export

        return export.main(argv[1:])
    if argv[:1] == ["run"]:
        from .jobs import run

        return run.main(argv[1:])
    if argv[:1] == ["lineage"]:  # reads one JSON file: no Spark, no MLflow, answers at once
        from . import lineage

        return lineage.main(argv[1:])
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except PyshimError as err:
        print(f"pyshim: {err}", file=sys.stderr)
        return 1
    except Exception as err:
        name = type(err).__name__
        if name == "InstallError":
            print(f"pyshim: {err}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
