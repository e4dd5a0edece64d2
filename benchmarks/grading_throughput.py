"""Grading throughput: `course grade --jobs N` against plain sequential `nbgrader autograde`.

    .venv/bin/python benchmarks/grading_throughput.py [--n 40] [--jobs 2] [--assignment 00_welcome]

Both grade the same N generated submissions of an assignment (solved, unsolved and
partly wrong, in turn), in one run on the same machine: first plain nbgrader in a
standard course folder (`nbgrader generate_assignment`, then `nbgrader autograde`,
one submission after the other), then `course grade` with N jobs. It prints
submissions per minute for each, their ratio, and whether every student got the
same total from both. Goal: at least 1.8 x on 2 cores, with identical scores.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.config import use_own_scripts  # noqa: E402
from autograder.samples import partly_wrong, solved  # noqa: E402


def make_submissions(assignment: str, n: int, out: Path) -> None:
    import nbformat

    source = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    release = ROOT / "notebooks" / assignment / f"{assignment}.ipynb"
    kinds = [solved(source, release), nbformat.read(release, as_version=4), partly_wrong(source, release)]
    for i in range(n):
        path = out / f"student{i:03d}" / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(kinds[i % 3], path)


def plain_nbgrader(assignment: str, submissions: Path, course: Path) -> tuple[float, dict[str, float]]:
    """Sequential `nbgrader autograde` in a standard course folder; returns seconds and totals."""
    from nbgrader.api import Gradebook

    shutil.copytree(ROOT / "solutions" / assignment, course / "source" / assignment)
    shutil.copytree(submissions, course / "submitted")
    (course / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 300\n")
    nbgrader = [str(Path(sys.executable).parent / "nbgrader")]
    run = dict(cwd=course, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(nbgrader + ["generate_assignment", assignment, "--force"], **run)
    start = time.perf_counter()
    subprocess.run(nbgrader + ["autograde", assignment, "--force"], **run)
    seconds = time.perf_counter() - start
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        totals = {s.student.id: s.score for s in gb.find_assignment(assignment).submissions}
    return seconds, totals


def course_grade(assignment: str, submissions: Path, workspace: Path, jobs: int) -> tuple[float, dict[str, float]]:
    from autograder.grade import grade

    start = time.perf_counter()
    _, outcomes = grade(ROOT, assignment, submissions, workspace, jobs=jobs, timeout=300, log=lambda *a: None)
    return time.perf_counter() - start, {o.student: o.score for o in outcomes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignment", default="00_welcome")
    args = parser.parse_args()
    use_own_scripts()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_submissions(args.assignment, args.n, tmp / "submissions")
        print(f"grading {args.n} submissions of {args.assignment} on {os.cpu_count()} cores ...", flush=True)
        plain_s, plain_totals = plain_nbgrader(args.assignment, tmp / "submissions", tmp / "plain")
        print(f"  plain nbgrader autograde: {plain_s:.0f} s", flush=True)
        ours_s, our_totals = course_grade(args.assignment, tmp / "submissions", tmp / "workspace", args.jobs)
        print(f"  course grade --jobs {args.jobs}: {ours_s:.0f} s", flush=True)
    plain_rate, our_rate = 60 * args.n / plain_s, 60 * args.n / ours_s
    ratio = our_rate / plain_rate
    same = plain_totals == our_totals and len(our_totals) == args.n
    rows = [("plain nbgrader autograde (sequential)", f"{plain_rate:.2f} submissions/min", "", ""),
            (f"course grade --jobs {args.jobs}", f"{our_rate:.2f} submissions/min", "", ""),
            ("speed-up", f"{ratio:.2f} x", ">= 1.8 x", "pass" if ratio >= 1.8 else "FAIL"),
            ("identical scores", f"{sum(plain_totals.get(k) == v for k, v in our_totals.items())}/{args.n} students",
             f"{args.n}/{args.n}", "pass" if same else "FAIL")]
    width = [max(len(r[i]) for r in rows + [("measure", "measured", "goal", "result")]) for i in range(4)]
    for row in [("measure", "measured", "goal", "result"), tuple("-" * w for w in width), *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, width)))
    if not same:
        print("score differences:", {k: (plain_totals.get(k), v) for k, v in our_totals.items()
                                     if plain_totals.get(k) != v})
    return 0 if ratio >= 1.8 and same else 1


if __name__ == "__main__":
    sys.exit(main())
