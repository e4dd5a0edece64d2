"""Check an assignment's hidden tests the way the grader runs them: ``python -m autograder.hidden_check NN``.

For the solution, and then for each ``# sample wrong answer:`` line applied on its own, it executes the
source notebook in FAST mode with the hidden tests handing their observations over, against the package
as the grading kernel has it (the answers of this assignment and later ones stubbed), judges them outside
the kernel with ``autograder.judging``,
and prints each hidden test's verdict. The solution must pass every hidden test; a wrong answer must fail
the hidden test of its own exercise (and a visible check, or the later exercises that use it, may fail too).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from . import answers
from .config import ROOT, SOURCE
from .execute import errors, execute
from .judging import Judge
from .release import resolve



def variants(source: nbformat.NotebookNode) -> list[tuple[str, nbformat.NotebookNode]]:
    """("solution", the source), then ("GRADE_ID (wrong line N)", the source with that one wrong line) for each."""
    out = [("solution", source)]
    for index, cell in enumerate(source.cells):
        for line, text in answers.wrong_variants(cell.source):
            changed = nbformat.reads(nbformat.writes(source), as_version=4)
            changed.cells[index].source = text
            out.append((f"{cell.metadata['nbgrader']['grade_id']} (wrong line {line})", changed))
    return out


def run(assignment: str, only_solution: bool = False) -> bool:
    source_path = ROOT / SOURCE / assignment / f"{assignment}.ipynb"
    source = nbformat.read(source_path, as_version=4)
    judge = Judge(source, source_path.parent, assignment)
    package = Path(tempfile.mkdtemp(prefix="students-package-"))
    answers.write_students_package(ROOT / "course_utils", package, answers.before(assignment))
    os.environ["PYTHONPATH"] = str(package)  # the kernel imports the students' course_utils
    ok = True
    for label, nb in (variants(source)[:1] if only_solution else variants(source)):
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch) / assignment
            shutil.copytree(source_path.parent, folder)
            hand_over = Path(scratch) / "hand-over"
            hand_over.mkdir()
            nb.cells.insert(0, nbformat.v4.new_code_cell(
                f"from course_utils import checks\nchecks.HAND_OVER = {str(hand_over)!r}"))
            nbformat.write(nb, folder / f"{assignment}.ipynb")
            run = execute(folder / f"{assignment}.ipynb", fast=True, timeout=600, allow_errors=True)
            failed_cells = sorted({c.metadata.get("nbgrader", {}).get("grade_id", f"cell {i - 1}")
                                   for i, c, _ in errors(run.notebook)})
            verdicts = judge.verdicts(hand_over)
        failed = [g for g, v in verdicts.items() if not v.passed]
        print(f"{label}: {run.seconds:.0f} s; hidden tests failed: {failed or 'none'}; cells with errors: "
              f"{failed_cells or 'none'}")
        for grade_id in failed:
            print(f"    {grade_id}: {verdicts[grade_id].message} | {verdicts[grade_id].detail[:300]}")
        if label == "solution" and (failed or failed_cells):
            ok = False
        if label != "solution" and not failed:
            print("    WRONG ANSWER NOT CAUGHT by any hidden test")
            ok = False
    shutil.rmtree(package, ignore_errors=True)
    return ok


if __name__ == "__main__":
    name = resolve(ROOT, sys.argv[1])
    sys.exit(0 if run(name, only_solution="--solution" in sys.argv) else 1)
