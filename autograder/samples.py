"""Sample submissions made from an assignment's own notebooks: for demos, tests and benchmarks.

- ``solved``: the release with every exercise answered by the source's solution;
- ``unsolved``: the release as students get it;
- ``partly_wrong``: solved, but with some of the instructor's sample wrong answers: inside
  a solution region, a line ``# sample wrong answer: CODE`` replaces the line above it.
  Of the exercises that have such lines, the first, third, fifth, ... get them, so the
  sample stays partly right however many exercises have one. Without such lines, the
  last exercise keeps its stub instead.
- ``one_wrong``: solved with exactly one sample wrong answer, one submission per such line;
- ``lean``: a submission with only the cells the checks need (a student may delete the others).
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
_WRONG = re.compile(r"^([ \t]*)# sample wrong answer: (.*)$")


def _answer(source: str, wrong: bool) -> str:
    lines = []
    for line in _MARKERS.sub("", source).splitlines():
        match = _WRONG.match(line)
        if match and wrong and lines:
            lines[-1] = match.group(1) + match.group(2)
        elif not match:
            lines.append(line)
    return "\n".join(lines)


def _solutions(source: nbformat.NotebookNode, wrong: bool | set[str] = False) -> dict[str, str]:
    return {c.metadata.nbgrader["grade_id"]: _answer(c.source, wrong is True or c.metadata.nbgrader["grade_id"]
                                                     in (wrong or ())) for c in source.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def solved(source_path: Path, release_path: Path, keep_stub: set[str] = frozenset(),
           wrong: bool | set[str] = False) -> nbformat.NotebookNode:
    """The release with the source's answers filled in (except the grade ids in ``keep_stub``); ``wrong``:
    the grade ids whose sample wrong answers are used (True: all)."""
    answers = _solutions(nbformat.read(source_path, as_version=4), wrong)
    nb = nbformat.read(release_path, as_version=4)
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers and grade_id not in keep_stub:
            cell.source = answers[grade_id].strip("\n")
    return nb


def one_wrong(source_path: Path, release_path: Path) -> list[tuple[str, int, nbformat.NotebookNode]]:
    """(grade id, line, submission) for each ``# sample wrong answer:`` line of the source: solved, with that
    one line (and no other) wrong."""
    from .answers import wrong_variants

    source = nbformat.read(source_path, as_version=4)
    out = []
    for cell in source.cells:
        if not cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            continue
        grade_id = cell.metadata.nbgrader["grade_id"]
        for line, text in wrong_variants(cell.source):
            nb = solved(source_path, release_path)
            for other in nb.cells:
                if other.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
                    other.source = _answer(text, wrong=False).strip("\n")
            out.append((grade_id, line, nb))
    return out


def lean(nb: nbformat.NotebookNode, keep: list[int]) -> nbformat.NotebookNode:
    """``nb`` with only its nbgrader cells and the cells at the indices ``keep`` (see
    ``autograder.mutation.context_cells``), as a student who deleted the demos would submit it."""
    lean_nb = nbformat.from_dict(nb)
    lean_nb.cells = [c for i, c in enumerate(nb.cells) if i in keep or "nbgrader" in c.get("metadata", {})]
    return lean_nb


def automatic_points(source_path: Path) -> float:
    """The points the autograder can give (test cells); written answers wait for a person."""
    source = nbformat.read(source_path, as_version=4)
    return float(sum(c.metadata.nbgrader.get("points", 0) for c in source.cells
                     if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")))


def partly_wrong(source_path: Path, release_path: Path) -> nbformat.NotebookNode:
    """Solved with every other exercise's sample wrong answers; without any, solved except the last code
    exercise."""
    source = nbformat.read(source_path, as_version=4)
    with_wrong = [c.metadata.nbgrader["grade_id"] for c in source.cells
                  if c.get("metadata", {}).get("nbgrader", {}).get("solution")
                  and any(_WRONG.match(line) for line in c.source.splitlines())]
    if with_wrong:
        return solved(source_path, release_path, wrong=set(with_wrong[::2]))
    code_exercises = [c.metadata.nbgrader["grade_id"] for c in source.cells
                      if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    return solved(source_path, release_path, keep_stub={code_exercises[-1]})


def write_samples(root: Path, assignment: str, out: Path) -> dict[str, Path]:
    """Write the three samples in nbgrader's layout under ``out``; returns student id -> notebook path."""
    source = root / "solutions" / assignment / f"{assignment}.ipynb"
    release = root / "notebooks" / assignment / f"{assignment}.ipynb"
    samples = {"sample-solved": solved(source, release), "sample-unsolved": nbformat.read(release, as_version=4),
               "sample-partly-wrong": partly_wrong(source, release)}
    paths = {}
    for student, nb in samples.items():
        path = out / student / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        paths[student] = path
    return paths
