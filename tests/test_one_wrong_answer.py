"""One mistake costs one exercise's points: every sample wrong answer, alone in an otherwise solved
submission, graded by ``course grade`` (the real grader: a sandboxed kernel, judges in the worker).

For each assignment, one lean solved submission (the exercises, their tests and the cells the tests need:
``autograder.mutation.context_cells``) and, for each ``# sample wrong answer:`` line in its source, the same
submission with only that line wrong; and, for 01-07, the whole solved sample, so the guarded kernel runs
every cell of the notebook (no library it uses may look like tampering; 00 is graded end to end by
test_cli and test_grading). All are graded at once per assignment, two at a time; the tests read the points
of every graded cell from the gradebook. A wrong answer must lose points in its own exercise's hidden test,
and every cell of every other exercise must score what it scores in the solved submission.
"""
from __future__ import annotations

import fcntl
import json
from pathlib import Path

import nbformat
import pytest

from autograder import samples
from autograder.grade import Workspace, grade
from autograder.judging import hidden_cells
from autograder.mutation import assignments, context_cells, exercise_cells
from conftest import ROOT

ASSIGNMENTS = assignments(ROOT)


def _cases() -> list[tuple[str, str, int]]:
    found = []
    for assignment in ASSIGNMENTS:
        source = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
        release = ROOT / "notebooks" / assignment / f"{assignment}.ipynb"
        found += [(assignment, grade_id, line) for grade_id, line, _ in samples.one_wrong(source, release)]
    return found


CASES = _cases()


def _student(grade_id: str, line: int) -> str:
    return f"wrong-{grade_id.replace('_', '-')}-line{line}"


def _grade_all(out: Path) -> dict:
    """assignment -> student -> {grade id: (score, max score)}, and each submission's status."""
    from nbgrader.api import Gradebook

    results = {}
    for assignment in ASSIGNMENTS:
        source = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
        release = ROOT / "notebooks" / assignment / f"{assignment}.ipynb"
        keep = context_cells(nbformat.read(source, as_version=4))
        subs = {"solved": samples.lean(samples.solved(source, release), keep)}
        if assignment != "00_welcome":
            subs["sample-solved"] = samples.solved(source, release)
        for grade_id, line, nb in samples.one_wrong(source, release):
            subs[_student(grade_id, line)] = samples.lean(nb, keep)
        folder = out / assignment / "submitted"
        for student, nb in subs.items():
            path = folder / student / assignment / f"{assignment}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, path)
        workspace = out / assignment / "workspace"
        _, outcomes = grade(ROOT, assignment, folder, workspace, jobs=2, timeout=300, log=lambda *a: None)
        cells = {}
        with Gradebook(Workspace(workspace).db_url) as gb:
            for student in subs:
                notebook = gb.find_submission_notebook(assignment, assignment, student)
                cells[student] = {g.name: (g.score, g.max_score) for g in notebook.grades}
        results[assignment] = {"cells": cells, "status": {o.student: o.status for o in outcomes},
                               "outcomes": {o.student: [o.status, o.flags, o.score] for o in outcomes}}
    return results


@pytest.fixture(scope="session")
def graded(tmp_path_factory) -> dict:
    """Graded once per test run, also under pytest-xdist: the first worker grades, the others wait and read."""
    shared = tmp_path_factory.getbasetemp().parent / "one-wrong-answer"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = shared / "results.json"
        if not saved.exists():
            saved.write_text(json.dumps(_grade_all(shared)))
        return json.loads(saved.read_text())


def _automatic(assignment: str) -> dict[str, list[str]]:
    return exercise_cells(nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_lean_solved_submission_gets_every_automatic_point(graded, assignment):
    result = graded[assignment]
    assert result["status"]["solved"] == "graded"
    tests = [t for ts in _automatic(assignment).values() for t in ts]
    missing = {t: result["cells"]["solved"][t] for t in tests if result["cells"]["solved"][t][0] != result["cells"]["solved"][t][1]}
    assert not missing, f"{assignment}: the solved submission lost points in {missing}"


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if a != "00_welcome"])
def test_the_whole_solved_sample_gets_every_automatic_point_and_no_flag(graded, assignment):
    status, flags, score = graded[assignment]["outcomes"]["sample-solved"]
    assert (status, flags) == ("graded", [])
    assert score == samples.automatic_points(ROOT / "solutions" / assignment / f"{assignment}.ipynb") > 0


@pytest.mark.parametrize("assignment, grade_id, line", CASES, ids=[f"{a[:2]}-{g}-line{n}" for a, g, n in CASES])
def test_a_sample_wrong_answer_costs_its_own_exercise_only(graded, assignment, grade_id, line):
    result, student = graded[assignment], _student(grade_id, line)
    assert result["status"][student] == "graded"
    solved, wrong = result["cells"]["solved"], result["cells"][student]
    own = _automatic(assignment)[grade_id]
    hidden = [t for t in own if t in hidden_cells(nbformat.read(ROOT / "solutions" / assignment /
                                                               f"{assignment}.ipynb", as_version=4))]
    assert hidden and all(wrong[t][0] < wrong[t][1] for t in hidden), \
        f"the wrong answer of {grade_id} (line {line}) kept the points of its hidden test: {[wrong[t] for t in hidden]}"
    elsewhere = {t: (solved[t][0], wrong[t][0]) for ts in _automatic(assignment).values() for t in ts
                 if t not in own and wrong[t][0] != solved[t][0]}
    assert not elsewhere, f"the wrong answer of {grade_id} (line {line}) also cost points elsewhere: {elsewhere}"
