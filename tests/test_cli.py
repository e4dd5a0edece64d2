"""The `course` command line: wiring, messages and exit codes (fast cases; grading itself is in test_grading)."""
from __future__ import annotations

import csv

from autograder import cli
from conftest import ROOT


def test_grade_and_export_label_malformed_files_and_report_unmatched_ones(tmp_path, capsys):
    subs = tmp_path / "subs"
    (subs / "alice" / "00_welcome").mkdir(parents=True)
    (subs / "alice" / "00_welcome" / "00_welcome.ipynb").write_bytes(b"{not json")
    (subs / "bob" / "00_welcome").mkdir(parents=True)
    (subs / "bob" / "00_welcome" / "00_welcome.ipynb").write_text('{"nbformat": 3, "worksheets": []}')
    (subs / "bob" / "00_welcome" / "00_welcome-Copy1.ipynb").write_text("{}")
    workspace = tmp_path / "workspace"
    assert cli.main(["grade", "00", str(subs), "--workspace", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert "not graded: bob/00_welcome/00_welcome-Copy1.ipynb" in out
    assert out.count("malformed") >= 2 and "course export 00_welcome" in out
    assert cli.main(["export", "00", "--workspace", str(workspace)]) == 0
    rows = list(csv.DictReader(open(workspace / "export" / "00_welcome" / "grades.csv")))
    assert [(r["student"], r["status"], r["total"], r["review"]) for r in rows] == [
        ("alice", "malformed", "0", "yes"), ("bob", "malformed", "0", "yes")]
    assert "not valid notebook JSON" in rows[0]["reasons"] and "format 4" in rows[1]["reasons"]


def test_grade_refuses_a_workspace_inside_the_repository(tmp_path, capsys):
    (tmp_path / "s" / "00_welcome").mkdir(parents=True)
    assert cli.main(["grade", "00", str(tmp_path), "--workspace", str(ROOT / "build" / "ws")]) == 2
    assert "inside the repository" in capsys.readouterr().err


def test_grade_names_the_assignments_when_one_is_unknown(tmp_path, capsys):
    assert cli.main(["grade", "42", str(tmp_path), "--workspace", str(tmp_path / "ws")]) == 2
    assert "00_welcome" in capsys.readouterr().err


def test_export_without_grading_says_what_to_run(tmp_path, capsys):
    assert cli.main(["export", "00", "--workspace", str(tmp_path)]) == 2
    assert "course grade" in capsys.readouterr().err


def test_bundle_through_the_cli(tmp_path, capsys):
    assert cli.main(["bundle", str(tmp_path / "students"), "--through", "00"]) == 0
    assert (tmp_path / "students" / "notebooks" / "00_welcome" / "00_welcome.ipynb").exists()
    assert not (tmp_path / "students" / "solutions").exists()


def test_course_run_grades_the_samples_and_writes_build(tmp_path, capsys, monkeypatch):
    """`make run`'s command: the solution runs, the three samples are graded as expected, all lands in --out."""
    out = ROOT / "build" / "test-run"  # inside the repository, as build/ is: must work
    monkeypatch.setenv("COURSE_FAST", "1")
    try:
        assert cli.main(["run", "00", "--fast", "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert printed.count(" ok ") + printed.count(" ok\n") >= 3 and "UNEXPECTED" not in printed
        assert (out / "00_welcome.html").exists() and (out / "grading" / "00_welcome" / "grades.csv").exists()
        assert (out / "grading" / "00_welcome" / "feedback" / "sample-solved" / "00_welcome.html").exists()
    finally:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
