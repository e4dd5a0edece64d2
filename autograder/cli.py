"""``course``: the instructor's command line.

    course run [NN ...] [--fast] [--out build]     execute the solutions, grade sample submissions, summarise
    course release [NN ...] [--check]              generate notebooks/ from solutions/ (or check it is current)
    course grade NN SUBMISSIONS --workspace DIR    grade submissions, several at a time, each in isolation
    course export NN --workspace DIR               grades.csv and per-student feedback HTML
    course bundle --through NN OUT                 the students' repository, unreleased answers stubbed
    course solutions --through NN OUT              executed solutions as HTML, hidden tests removed
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
    from .release import select

    names = select(ROOT, args.assignments)
    rows, failed = [], 0
    failed += _grade_samples(names, args)
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


def _grade_samples(names: list[str], args: argparse.Namespace) -> int:
    """The instructor's loop on sample submissions: solved, unsolved, partly solved; graded and exported."""
    import tempfile
    import time

    from .export import export
    from .grade import grade
    from .samples import automatic_points, write_samples

    import shutil

    rows, failed = [], 0
    for name in names:
        # A workspace must live outside the repository; the exports of these samples are copied to build/.
        with tempfile.TemporaryDirectory() as tmp:
            write_samples(ROOT, name, Path(tmp) / "submissions")
            start = time.perf_counter()
            print(f"grading sample submissions of {name} ...", flush=True)
            workspace = Path(tmp) / "workspace"
            _, outcomes = grade(ROOT, name, Path(tmp) / "submissions", workspace, jobs=args.jobs, timeout=300,
                                log=lambda *a: None)
            exported, _ = export(workspace, name)
            target = args.out / "grading" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(exported.parent, target)
            table = target / exported.name
        scores = {o.student: o for o in outcomes}
        full = automatic_points(ROOT / SOURCE / name / f"{name}.ipynb")  # written answers wait for a person
        expected = {"sample-solved": ("all automatic points", scores["sample-solved"].score == full),
                    "sample-unsolved": ("zero", scores["sample-unsolved"].score == 0),
                    "sample-partly-wrong": ("partial", 0 < scores["sample-partly-wrong"].score < full)}
        for o in outcomes:
            what, ok = expected[o.student]
            ok = ok and o.status in ("graded", "skipped") and not o.flags
            failed += not ok
            rows.append([name, o.student, f"{o.score:g} / {o.max_score:g}", o.status, what,
                         "ok" if ok else "UNEXPECTED"])
        print(f"  graded in {time.perf_counter() - start:.1f} s -> {table}")
    print()
    print(_table(rows, ["assignment", "sample", "score", "status", "expected", "check"]))
    print()
    return failed


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
        for folder in release(ROOT, args.assignments, verify=not args.no_verify):
            print(f"released {folder.relative_to(ROOT)}")
        return 0
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def cmd_grade(args: argparse.Namespace) -> int:
    from .grade import grade
    from .release import ReleaseError, select

    try:
        (assignment,) = select(ROOT, [args.assignment])
        intake, outcomes = grade(ROOT, assignment, args.submissions, args.workspace, jobs=args.jobs,
                                 timeout=args.timeout, memory_mb=args.memory, pattern=args.pattern,
                                 regrade=args.regrade)
    except (ReleaseError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    for line in intake.notes:
        print(f"note: {line}")
    for line in intake.unmatched:
        print(f"not graded: {line}")
    rows = [[o.student, f"{o.score:g} / {o.max_score:g}", o.status, "; ".join(o.flags)[:120]] for o in outcomes]
    print(_table(rows, ["student", "score", "status", "review"]) if rows else "nothing to grade")
    print(f"\nNext: course export {assignment} --workspace {args.workspace}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import export
    from .release import ReleaseError, select

    try:
        (assignment,) = select(ROOT, [args.assignment])
        table, pages = export(args.workspace, assignment, args.out)
    except (ReleaseError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {table} and {len(pages)} feedback pages")
    return 0


def cmd_bundle(args: argparse.Namespace) -> int:
    from .bundle import BundleError, bundle

    try:
        out = bundle(ROOT, args.through, args.out, args.solutions_through)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote the students' repository to {out}")
    return 0


def cmd_solutions(args: argparse.Namespace) -> int:
    from .solutions_export import SolutionsExportError, export_solutions

    try:
        pages = export_solutions(ROOT, args.through, args.out, fast=args.fast)
    except SolutionsExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for page in pages:
        print(f"wrote {page}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description="The course kit's instructor command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute the solution notebooks and write them, with HTML, to build/")
    run.add_argument("assignments", nargs="*", help="assignments to run, by name or number (default: all)")
    run.add_argument("--fast", action="store_true", help="FAST mode (COURSE_FAST=1): tiny settings, seconds")
    run.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build/)")
    run.add_argument("--timeout", type=int, default=900, help="seconds allowed per cell (default: 900)")
    run.add_argument("--jobs", type=int, default=2, help="submissions graded at a time (default: 2)")
    run.set_defaults(func=cmd_run)

    grade = sub.add_parser("grade", help="grade submissions into a workspace gradebook")
    grade.add_argument("assignment", help="assignment name or number, e.g. 00_welcome or 00")
    grade.add_argument("submissions", type=Path,
                       help="nbgrader layout (STUDENT/ASSIGNMENT/NOTEBOOK.ipynb), or a folder or zip of LMS downloads")
    grade.add_argument("--workspace", type=Path, required=True, help="instructor-private folder, outside the repository")
    grade.add_argument("--jobs", type=int, default=2, help="submissions graded at a time (default: 2)")
    grade.add_argument("--timeout", type=float, default=300, help="seconds for one whole notebook (default: 300)")
    grade.add_argument("--memory", type=int, default=3000, help="MB of memory for one notebook (default: 3000)")
    grade.add_argument("--pattern", help="LMS file names: canvas, moodle, blackboard, plain, or a regex "
                                         "with a (?P<student>...) group (default: try canvas, moodle, blackboard)")
    grade.add_argument("--regrade", action="store_true", help="grade again even what is already graded")
    grade.set_defaults(func=cmd_grade)

    exp = sub.add_parser("export", help="write grades.csv and feedback HTML from a workspace")
    exp.add_argument("assignment")
    exp.add_argument("--workspace", type=Path, required=True)
    exp.add_argument("--out", type=Path, help="output folder (default: WORKSPACE/export/ASSIGNMENT)")
    exp.set_defaults(func=cmd_export)

    bun = sub.add_parser("bundle", help="write the students' repository up to an assignment")
    bun.add_argument("out", type=Path)
    bun.add_argument("--through", required=True, help="the last assignment students get, e.g. 03")
    bun.add_argument("--solutions-through", help="the last assignment whose answers are released "
                                                 "(default: the one before --through; 'none' for none)")
    bun.set_defaults(func=cmd_bundle)

    sol = sub.add_parser("solutions", help="executed solution notebooks as HTML, hidden tests removed")
    sol.add_argument("out", type=Path)
    sol.add_argument("--through", required=True, help="the last assignment to include, e.g. 03")
    sol.add_argument("--fast", action="store_true", help="execute in FAST mode")
    sol.set_defaults(func=cmd_solutions)

    rel = sub.add_parser("release", help="generate notebooks/ from solutions/ with nbgrader")
    rel.add_argument("assignments", nargs="*", help="assignments to release, by name or number (default: all)")
    rel.add_argument("--check", action="store_true", help="fail, naming the files, if notebooks/ is out of date")
    rel.add_argument("--no-verify", action="store_true",
                     help="skip running the source (must pass) and the unsolved notebook (must fail)")
    rel.set_defaults(func=cmd_release)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
