"""`course release`: the student notebooks are generated from solutions/ and never drift or leak."""
from __future__ import annotations

import shutil

import nbformat
import pytest

from autograder import cli
from autograder.config import SETUP_TAG, setup_cell_source
from autograder.release import ReleaseError, assignments, check, leaks, release
from conftest import ROOT


@pytest.fixture
def course_copy(tmp_path):
    """A copy of the repository's course files, to release and tamper with."""
    for name in ("solutions", "notebooks"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "course_utils" / "answers", tmp_path / "course_utils" / "answers")  # stamped from
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_there_is_a_release_for_every_source():
    names = assignments(ROOT)
    assert "00_welcome" in names
    for name in names:
        assert (ROOT / "notebooks" / name / f"{name}.ipynb").exists(), f"run `course release {name}`"


def test_notebooks_match_a_fresh_release():
    problems = check(ROOT)
    assert not problems, "notebooks/ is out of date; run `course release`:\n" + "\n".join(problems)


def test_check_names_a_hand_edited_release(course_copy):
    path = course_copy / "notebooks" / "00_welcome" / "00_welcome.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\nedited by hand"
    nbformat.write(nb, path)
    assert check(course_copy, ["00_welcome"]) == ["notebooks/00_welcome/00_welcome.ipynb differs from a fresh release of its source"]
    path.unlink()
    assert check(course_copy, ["00"]) == ["notebooks/00_welcome/00_welcome.ipynb is missing"]


def test_check_names_a_setup_cell_that_drifted_from_the_template(course_copy):
    path = course_copy / "solutions" / "00_welcome" / "00_welcome.ipynb"
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if SETUP_TAG in c.metadata.get("tags", []))
    setup.source = setup.source.replace("seed=0", "seed=1")
    nbformat.write(nb, path)
    assert any("setup cell differs" in p for p in check(course_copy, ["00_welcome"]))


def test_release_stubs_solutions_removes_hidden_tests_and_stamps_the_setup_cell(course_copy):
    (folder,) = release(course_copy, ["00_welcome"], verify=False)
    source = nbformat.read(course_copy / "solutions" / "00_welcome" / "00_welcome.ipynb", as_version=4)
    student = nbformat.read(folder / "00_welcome.ipynb", as_version=4)
    text = "\n".join(c.source for c in student.cells)
    assert "NotImplementedError" in text and "YOUR ANSWER HERE" in text
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert next(c for c in student.cells if c.cell_type == "code").source == setup_cell_source(course_copy)
    graded = lambda nb: {c.metadata.nbgrader["grade_id"]: c.metadata.nbgrader.get("points")  # noqa: E731
                         for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    assert graded(student) == graded(source) and graded(source)
    assert not any(c.outputs for c in student.cells if c.cell_type == "code")


def test_leaks_finds_a_solution_line_left_in_the_release(course_copy):
    source = course_copy / "solutions" / "00_welcome" / "00_welcome.ipynb"
    (folder,) = release(course_copy, ["00_welcome"], verify=False)
    student_path = folder / "00_welcome.ipynb"
    assert leaks(source, student_path) == []
    student = nbformat.read(student_path, as_version=4)
    student.cells.append(nbformat.v4.new_code_cell("a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)  # (N, D)"))
    nbformat.write(student, student_path)
    assert any("a_unit = a / a.norm" in p for p in leaks(source, student_path))


def test_cli_names_the_known_assignments_when_one_is_unknown(capsys):
    assert cli.main(["release", "99_nothing"]) == 2
    err = capsys.readouterr().err
    assert "99_nothing" in err and "00_welcome" in err


def test_release_verifies_that_tests_pass_on_the_solution_and_fail_on_a_stub(course_copy):
    path = course_copy / "solutions" / "00_welcome" / "00_welcome.ipynb"
    nb = nbformat.read(path, as_version=4)
    release(course_copy, ["00_welcome"])  # the real source: passes, and fails everywhere when unsolved
    hidden = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_cosine_hidden")
    hidden.source = "# Hidden tests run here when your notebook is graded.\n### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"
    nbformat.write(nb, path)
    with pytest.raises(ReleaseError, match="check_cosine_hidden"):
        release(course_copy, ["00_welcome"])
