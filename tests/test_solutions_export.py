"""`course solutions`: executed solution notebooks as HTML, with the solutions and without the hidden tests."""
from __future__ import annotations

import nbformat
import pytest

from autograder.solutions_export import SolutionsExportError, clean, export_solutions, hidden_lines, html_text
from conftest import ROOT

SOURCE = ROOT / "solutions" / "00_welcome" / "00_welcome.ipynb"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("solutions")
    return out, export_solutions(ROOT, "00", out, fast=True)


def test_export_through_00_writes_the_executed_solution_without_hidden_tests(exported):
    out, written = exported
    assert written == [out / "00_welcome.html"] and sorted(p.name for p in out.iterdir()) == ["00_welcome.html"]
    page = written[0].read_text(encoding="utf-8")
    text = html_text(page)
    assert "a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)" in text  # the solution code
    assert "Ignoring the length makes the comparison depend only on the direction" in text  # the written answer
    assert "passes the visible checks" in text  # executed: the check cell's output
    assert "20-nearest-neighbour accuracy on raw pixels:" in text  # ran to the end (a failure would raise)
    for secret in ["found, g = {}, torch.Generator().manual_seed(100)", 'checks.hidden_test("check_cosine_hidden"',
                   'found["gradient"] = leaf.grad']:
        assert secret not in text and secret not in page
    for marker in ("HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION"):
        assert marker not in page


def test_clean_removes_hidden_tests_and_marker_lines_but_keeps_solutions():
    source = nbformat.read(SOURCE, as_version=4)
    secrets = hidden_lines(source)
    assert 'checks.hidden_test("check_cosine_hidden", observe)' in secrets
    cleaned = "\n".join(c.source for c in clean(source).cells)
    assert not [s for s in secrets if s in cleaned]
    assert "HIDDEN TESTS" not in cleaned and "SOLUTION" not in cleaned
    assert "    a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)  # (N, D)\n" in cleaned
    assert "# Hidden tests run here when your notebook is graded." in cleaned


def test_a_failing_notebook_still_gets_its_html_then_the_export_fails(tmp_path):
    root = tmp_path / "course"
    nb = nbformat.v4.new_notebook()
    hidden = nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\nsecret_hidden_check = 'never shown'\n### END HIDDEN TESTS")
    hidden.metadata["nbgrader"] = {"grade": True, "grade_id": "hidden", "points": 1, "solution": False,
                                   "locked": True, "schema_version": 3}
    nb.cells = [nbformat.v4.new_code_cell("print('ran before the error')"), hidden,
                nbformat.v4.new_code_cell("raise ValueError('the solution is broken')"),
                nbformat.v4.new_code_cell("print('never reached')")]
    (root / "solutions" / "00_broken").mkdir(parents=True)
    nbformat.write(nb, root / "solutions" / "00_broken" / "00_broken.ipynb")
    with pytest.raises(SolutionsExportError, match=r"00_broken: cell 2: ValueError: the solution is broken") as err:
        export_solutions(root, "00", tmp_path / "out", fast=True)
    assert err.value.written == [tmp_path / "out" / "00_broken.html"]
    page = html_text((tmp_path / "out" / "00_broken.html").read_text(encoding="utf-8"))
    assert "ran before the error" in page and "the solution is broken" in page
    assert "secret_hidden_check" not in page


def test_an_unknown_assignment_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(SolutionsExportError, match=r"No assignment '09'.*there are: 00_welcome"):
        export_solutions(ROOT, "09", tmp_path / "out")
    assert not (tmp_path / "out").exists()
