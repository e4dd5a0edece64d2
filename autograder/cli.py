"""``course``: the instructor's command line.

    course run [NN ...] [--fast] [--out build]   execute solution notebooks, write build/, print a summary
    course release [NN ...] [--check]            generate notebooks/ from solutions/ (or check it is current)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import ROOT, SOURCE


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def cmd_run(args: argparse.Namespace) -> int:
    from .execute import execute, write_outputs
    from .release import _select

    names = _select(ROOT, args.assignments)
    rows, failed = [], 0
    for name in names:
        path = ROOT / SOURCE / name / f"{name}.ipynb"
        print(f"executing {path.relative_to(ROOT)} ({'FAST' if args.fast else 'FULL'}) ...", flush=True)
        run = execute(path, fast=args.fast, timeout=args.timeout)
        ipynb, html = write_outputs(run, args.out)
        failed += run.error is not None
        results = "; ".join(f"{k} = {v}" for k, v in run.results.items())
        rows.append([name, run.mode, f"{run.seconds:.1f} s", run.status, run.error or results])
        print(f"  {run.status} in {run.seconds:.1f} s -> {html.relative_to(Path.cwd()) if html.is_relative_to(Path.cwd()) else html}")
    print()
    print(_table(rows, ["notebook", "mode", "wall time", "status", "key results"]))
    return 1 if failed else 0


def cmd_release(args: argparse.Namespace) -> int:
    from .release import ReleaseError, check, release

    try:
        if args.check:
            problems = check(ROOT, args.assignments)
            for p in problems:
                print(f"out of date: {p}")
            if problems:
                print("notebooks/ differs from a fresh release: run `course release` and commit the result.")
                return 1
            print("notebooks/ matches a fresh release of solutions/.")
            return 0
        for folder in release(ROOT, args.assignments):
            print(f"released {folder.relative_to(ROOT)}")
        return 0
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="The course kit's instructor command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the solution notebooks and write them, with HTML, to build/")
    run.add_argument("assignments", nargs="*", help="assignments to run, by name or number (default: all)")
    run.add_argument("--fast", action="store_true", help="FAST mode (COURSE_FAST=1): tiny settings, seconds")
    run.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build/)")
    run.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell (default: 900)")
    run.set_defaults(func=cmd_run)

    rel = sub.add_parser("release", help="generate notebooks/ from solutions/ with nbgrader")
    rel.add_argument("assignments", nargs="*", help="assignments to release, by name or number (default: all)")
    rel.add_argument("--check", action="store_true", help="fail, naming the files, if notebooks/ is out of date")
    rel.set_defaults(func=cmd_release)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
