"""Submission intake: nbgrader folders, LMS downloads (folder or zip), patterns, supersedes, safety."""
from __future__ import annotations

import hashlib
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from autograder import submissions
from autograder.submissions import LMS_PATTERNS, collect, parse_timestamp, sanitise_student

A = "00_welcome"


def write(root: Path, files: dict[str, bytes | str]) -> Path:
    """Create ``files`` (relative path -> content) under ``root``; returns ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def make_zip(path: Path, files: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return path


def by_student(intake) -> dict[str, submissions.Submission]:
    return {s.student: s for s in intake.submissions}


def reasons(intake) -> dict[str, str]:
    """unmatched as origin -> reason."""
    return dict(line.split(": ", 1) for line in intake.unmatched)


def tree_snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# ---------------------------------------------------------------- nbgrader layout

def test_nbgrader_layout(tmp_path):
    subs = write(tmp_path / "submitted", {
        f"alice/{A}/{A}.ipynb": '{"alice": 1}',
        f"alice/{A}/timestamp.txt": "2026-11-20 23:59:01.123456 UTC\n",
        f"bob/{A}/notes.txt": "no notebook here",
        f"carol/{A}/{A}.ipynb": '{"carol": 1}',
        f"carol/{A}/{A}-Copy1.ipynb": '{"carol": "copy"}',
        f"carol/{A}/data.csv": "1,2",                 # a supporting file: not a submission, not reported
        f"carol/{A}/.ipynb_checkpoints/{A}-checkpoint.ipynb": "{}",
        "dave/01_other/01_other.ipynb": "{}",
        "gradebook.db": "",
    })
    intake = collect(subs, A)
    assert sorted(by_student(intake)) == ["alice", "carol"]
    alice = by_student(intake)["alice"]
    assert alice.content == b'{"alice": 1}' and alice.notebook == A
    assert alice.origin == f"alice/{A}/{A}.ipynb"
    assert alice.timestamp == datetime(2026, 11, 20, 23, 59, 1, 123456, tzinfo=timezone.utc)
    assert by_student(intake)["carol"].timestamp is None
    assert reasons(intake) == {
        f"bob/{A}/": f"no {A}.ipynb in it",
        f"carol/{A}/{A}-Copy1.ipynb": f"not the assignment's notebook {A}.ipynb",
        "dave/": f"no {A}/ folder, so no {A}.ipynb from this student",
        "gradebook.db": f"not in nbgrader's layout <student>/{A}/{A}.ipynb",
    }
    assert intake.superseded == [] and intake.notes == []


def test_nbgrader_layout_inside_a_zip_with_a_wrapping_folder_and_an_explicit_notebook(tmp_path):
    archive = make_zip(tmp_path / "submitted.zip", {
        "submitted/alice/hw/welcome.ipynb": "a",
        "submitted/bob/hw/hw.ipynb": "b",
    })
    intake = collect(archive, "hw", notebook="welcome.ipynb")
    assert [(s.student, s.notebook, s.origin) for s in intake.submissions] == [
        ("alice", "welcome", "submitted.zip:submitted/alice/hw/welcome.ipynb")]
    assert reasons(intake) == {
        "submitted.zip:submitted/bob/hw/hw.ipynb": "not the assignment's notebook welcome.ipynb",
        "submitted.zip:submitted/bob/hw/": "no welcome.ipynb in it"}


def test_a_pattern_is_not_used_on_nbgrader_layout_and_the_notes_say_so(tmp_path):
    subs = write(tmp_path / "subs", {f"alice/{A}/{A}.ipynb": "a"})
    intake = collect(subs, A, pattern="canvas")
    assert [s.student for s in intake.submissions] == ["alice"]
    assert len(intake.notes) == 1 and "not used" in intake.notes[0]


# ---------------------------------------------------------------- Canvas, folder and zip

CANVAS = {
    f"smithjohn_12345_6789001_{A}.ipynb": "first try",
    f"smithjohn_LATE_12345_6789012_{A}-1.ipynb": "late resubmission",
    f"doejane_23456_6789005_{A}.ipynb": "jane",
    "doejane_23456_6789005_report.pdf": "%PDF",
    "untitled.ipynb": "stray",
}


def check_canvas(intake, label: str = "") -> None:
    got = by_student(intake)
    assert sorted(got) == ["doejane", "smithjohn"]
    john = got["smithjohn"]
    assert john.content == b"late resubmission" and john.late and not got["doejane"].late
    assert john.origin == f"{label}smithjohn_LATE_12345_6789012_{A}-1.ipynb"
    assert [s.origin for s in intake.superseded] == [f"{label}smithjohn_12345_6789001_{A}.ipynb"]
    assert intake.superseded[0].content == b"first try" and intake.superseded[0].student == "smithjohn"
    assert len(intake.notes) == 1 and "the highest attempt number" in intake.notes[0]
    why = reasons(intake)
    assert set(why) == {f"{label}doejane_23456_6789005_report.pdf", f"{label}untitled.ipynb"}
    assert why[f"{label}doejane_23456_6789005_report.pdf"].startswith("not a notebook")
    assert "--pattern" in why[f"{label}untitled.ipynb"]


def test_canvas_folder_keeps_the_late_resubmission_by_upload_id(tmp_path):
    subs = write(tmp_path / "subs", {**CANVAS, ".DS_Store": "mac"})
    check_canvas(collect(subs, A))


def test_canvas_upload_id_not_file_name_order_decides(tmp_path):
    # By file name, "...6789001_00_welcome.ipynb" sorts last; by upload id, the LATE one is newer.
    subs = write(tmp_path / "subs", {f"smithjohn_12345_6789001_{A}.ipynb": "old",
                                     f"smithjohn_LATE_12345_6789000_{A}.ipynb": "older id"})
    assert collect(subs, A).submissions[0].content == b"old"


def test_a_tie_on_the_upload_id_prefers_the_notebook_name_and_asks_to_check(tmp_path):
    subs = write(tmp_path / "subs", {f"smithjohn_1_50_{A}.ipynb": "notebook", "smithjohn_1_50_zz.ipynb": "zz",
                                     f"smithjohn_1_40_{A}.ipynb": "older"})
    intake = collect(subs, A)
    assert intake.submissions[0].content == b"notebook"
    assert [s.content for s in intake.superseded] == [b"older", b"zz"]
    assert "2 of them tie on the highest attempt number" in intake.notes[0] and "Check this choice" in intake.notes[0]


def test_canvas_zip_reads_the_same_and_writes_nothing(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "subs.zip", {
        **CANVAS,
        f"__MACOSX/._smithjohn_12345_6789001_{A}.ipynb": "resource fork",
        "__MACOSX/sub/ghost_1_2_x.ipynb": "macOS metadata",
        "../evil.ipynb": "escape",
        "/abs_12345_6789099_x.ipynb": "absolute",
        "folder/": "",
    })
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = tree_snapshot(tmp_path)
    intake = collect(archive, A)
    assert tree_snapshot(tmp_path) == before and not (tmp_path.parent / "evil.ipynb").exists()
    unsafe = {o: r for o, r in reasons(intake).items() if "unsafe" in r}
    assert set(unsafe) == {"subs.zip:../evil.ipynb", "subs.zip:/abs_12345_6789099_x.ipynb"}
    intake.unmatched = [u for u in intake.unmatched if "unsafe" not in u]
    check_canvas(intake, "subs.zip:")
    assert not any("MACOSX" in line for line in intake.unmatched + intake.notes)


def test_zip_size_limits(tmp_path, monkeypatch):
    archive = make_zip(tmp_path / "subs.zip", {
        f"alice_1_10_{A}.ipynb": b"\0" * 1_000_000,   # compresses to ~1 kB: a small bomb
        f"bob_2_20_{A}.ipynb": b"b" * 50,
        f"carol_3_30_{A}.ipynb": b"c" * 50,
    })
    monkeypatch.setattr(submissions, "MAX_MEMBER_BYTES", 100)
    monkeypatch.setattr(submissions, "MAX_TOTAL_BYTES", 60)
    intake = collect(archive, A)
    assert [s.student for s in intake.submissions] == ["bob"]
    why = reasons(intake)
    assert why[f"subs.zip:alice_1_10_{A}.ipynb"].startswith("too large")
    assert "limit of 60 bytes" in why[f"subs.zip:carol_3_30_{A}.ipynb"]


def test_corrupt_zip_member_and_folder_symlink_are_reported(tmp_path):
    archive = tmp_path / "subs.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"alice_1_10_{A}.ipynb", b"ALICE-CONTENT")
        zf.writestr(f"bob_2_20_{A}.ipynb", b"bob")
    data = archive.read_bytes()
    archive.write_bytes(data.replace(b"ALICE-CONTENT", b"ALICE-C0NTENT"))  # the CRC no longer matches
    intake = collect(archive, A)
    assert [s.student for s in intake.submissions] == ["bob"]
    assert reasons(intake)[f"subs.zip:alice_1_10_{A}.ipynb"].startswith("could not be read")

    subs = write(tmp_path / "subs", {f"bob_2_20_{A}.ipynb": "bob"})
    (subs / f"eve_3_30_{A}.ipynb").symlink_to(tmp_path / "subs.zip")
    intake = collect(subs, A)
    assert [s.student for s in intake.submissions] == ["bob"]
    assert reasons(intake)[f"eve_3_30_{A}.ipynb"].startswith("not a regular file")


# ---------------------------------------------------------------- Moodle, Blackboard

def test_moodle_names_with_spaces(tmp_path):
    subs = write(tmp_path / "subs", {
        f"John Smith_12345_assignsubmission_file_{A}.ipynb": "john",
        "Ana María López_23456_assignsubmission_file_my notebook.ipynb": "ana",
        f"Lee Chen_34567_assignsubmission_file_/{A}.ipynb": "lee",    # "download in folders"
        "Lee Chen_34567_assignsubmission_file_/figure.png": "png",
    })
    intake = collect(subs, A)
    assert {k: v.content for k, v in by_student(intake).items()} == {
        "John_Smith": b"john", "Ana_Maria_Lopez": b"ana", "Lee_Chen": b"lee"}
    assert list(reasons(intake)) == ["Lee Chen_34567_assignsubmission_file_/figure.png"]


def test_moodle_without_times_keeps_the_notebook_by_name_and_asks_to_check(tmp_path):
    subs = write(tmp_path / "subs", {
        f"John Smith_12345_assignsubmission_file_{A}.ipynb": "the notebook",
        "John Smith_12345_assignsubmission_file_zz scratch.ipynb": "scratch",
    })
    intake = collect(subs, A)
    assert intake.submissions[0].content == b"the notebook"
    assert [s.content for s in intake.superseded] == [b"scratch"]
    assert "Check this choice" in intake.notes[0] and "not known" in intake.notes[0]


def test_blackboard_keeps_the_latest_attempt(tmp_path):
    subs = write(tmp_path / "subs", {
        f"{A}_jsmith_attempt_2026-11-20-23-59-01_{A}.ipynb": "second",
        f"{A}_jsmith_attempt_2026-11-19-10-00-00_{A}.ipynb": "first",
        f"{A}_jsmith_attempt_2026-11-20-23-59-01.txt": "comments",
        f"{A}_alee_attempt_2026-11-18-08-30-00_welcome.ipynb": "alee",
    })
    intake = collect(subs, A)
    got = by_student(intake)
    assert sorted(got) == ["alee", "jsmith"]
    assert got["jsmith"].content == b"second"
    assert got["jsmith"].timestamp == datetime(2026, 11, 20, 23, 59, 1, tzinfo=timezone.utc)
    assert [(s.student, s.content) for s in intake.superseded] == [("jsmith", b"first")]
    assert "the latest submission time" in intake.notes[0]
    assert list(reasons(intake)) == [f"{A}_jsmith_attempt_2026-11-20-23-59-01.txt"]


def test_times_decide_over_file_name_order(tmp_path):
    pattern = r"^[a-z]_(?P<student>[a-z]+)_(?P<timestamp>[^.]+)\.ipynb$"
    subs = write(tmp_path / "subs", {"a_bob_2026-11-21-10-00-00.ipynb": "later",
                                     "b_bob_2026-11-20-10-00-00.ipynb": "earlier"})
    assert collect(subs, A, pattern=pattern).submissions[0].content == b"later"
    (subs / "c_bob_not-a-time.ipynb").write_text("unknown time")   # a time missing: file-name order
    intake = collect(subs, A, pattern=pattern)
    assert intake.submissions[0].content == b"unknown time" and len(intake.superseded) == 2
    assert "Check this choice" in intake.notes[0]


# ---------------------------------------------------------------- patterns

def test_custom_regex(tmp_path):
    subs = write(tmp_path / "subs", {"hw0_alice.ipynb": "a", "hw0_bob.ipynb": "b", "other.ipynb": "o"})
    intake = collect(subs, A, pattern=r"^hw0_(?P<student>[a-z]+)\.ipynb$")
    assert sorted(by_student(intake)) == ["alice", "bob"]
    assert intake.unmatched == [r"other.ipynb: no student id: the name does not match the pattern "
                                r"'^hw0_(?P<student>[a-z]+)\\.ipynb$'"]


@pytest.mark.parametrize("pattern, words", [
    (r"^hw0_(?P<name>[a-z]+)\.ipynb$", "no group named 'student'"),
    (r"^hw0_([a-z]+)\.ipynb$", "no group named 'student'"),
    ("canvass", "no group named 'student'"),
    (r"(?P<student>[a-z]+", "nor a valid regular expression"),
])
def test_bad_patterns_raise(tmp_path, pattern, words):
    subs = write(tmp_path / "subs", {"hw0_alice.ipynb": "a"})
    with pytest.raises(ValueError, match=words):
        collect(subs, A, pattern=pattern)


def test_auto_detection_leaves_plain_names_unmatched_with_advice(tmp_path):
    subs = write(tmp_path / "subs", {"alice.ipynb": "a", f"bob_{A}.ipynb": "b"})
    intake = collect(subs, A)
    assert intake.submissions == [] and len(intake.unmatched) == 2
    for line in intake.unmatched:
        assert "canvas, moodle, blackboard" in line and "--pattern plain" in line and "(?P<student>...)" in line
    assert sorted(by_student(collect(subs, A, pattern="plain"))) == ["alice", "bob"]


def test_named_patterns_have_a_student_group():
    assert set(LMS_PATTERNS) >= {"canvas", "moodle", "blackboard", "plain"}
    assert list(LMS_PATTERNS)[-1] == "plain"
    for regex in LMS_PATTERNS.values():
        assert "(?P<student>" in regex


# ---------------------------------------------------------------- content, ids

def test_content_and_sha256_are_preserved_byte_for_byte(tmp_path):
    odd = bytes(range(256)) + b"\r\n{not json"
    subs = write(tmp_path / "subs", {"alice_1_10_x.ipynb": odd, "bob_2_20_x.ipynb": b""})
    got = by_student(collect(subs, A))
    assert got["alice"].content == odd and got["alice"].sha256 == hashlib.sha256(odd).hexdigest()
    assert got["bob"].content == b"" and got["bob"].sha256 == hashlib.sha256(b"").hexdigest()


def test_names_that_sanitise_to_the_same_id_are_reported_not_merged(tmp_path):
    subs = write(tmp_path / "subs", {
        "John Smith_1_assignsubmission_file_a.ipynb": "1",
        "John_Smith_2_assignsubmission_file_a.ipynb": "2",
        "JSMITH_3_assignsubmission_file_a.ipynb": "3",
        "jsmith_4_assignsubmission_file_a.ipynb": "4",
        "Ann Lee_5_assignsubmission_file_a.ipynb": "5",
    })
    intake = collect(subs, A)
    assert [s.student for s in intake.submissions] == ["Ann_Lee"] and intake.superseded == []
    assert len(intake.unmatched) == 4 and all("ambiguous student id" in u for u in intake.unmatched)
    assert "'John Smith' and 'John_Smith'" in reasons(intake)["John Smith_1_assignsubmission_file_a.ipynb"]


@pytest.mark.parametrize("raw, sid", [
    ("John Smith", "John_Smith"), ("José Müller", "Jose_Muller"), ("a/b\\c", "a_b_c"),
    ("..", "_."), (".hidden", "_hidden"), ("j.smith-2_x", "j.smith-2_x"), ("  ", ""),
])
def test_sanitise_student(raw, sid):
    assert sanitise_student(raw) == sid


@pytest.mark.parametrize("text, expected", [
    ("2026-11-20 23:59:01.123456 UTC", datetime(2026, 11, 20, 23, 59, 1, 123456)),
    ("2026-11-20 23:59:01 UTC\n", datetime(2026, 11, 20, 23, 59, 1)),
    ("2026-11-20T23:59:01Z", datetime(2026, 11, 20, 23, 59, 1)),
    ("2026-11-21T00:59:01+01:00", datetime(2026, 11, 20, 23, 59, 1)),
    ("2026-11-21 00:59:01 +0100", datetime(2026, 11, 20, 23, 59, 1)),
    ("2026-11-21 00:59:01.000000 Europe/Paris", datetime(2026, 11, 20, 23, 59, 1)),
    ("2026-11-20-23-59-01", datetime(2026, 11, 20, 23, 59, 1)),
    ("yesterday", None), ("2026-11-20 23:59:01 Not/AZone", None), ("", None),
])
def test_parse_timestamp(text, expected):
    got = parse_timestamp(text)
    assert got == (expected and expected.replace(tzinfo=timezone.utc))
    assert got is None or got.tzinfo == timezone.utc


# ---------------------------------------------------------------- errors

def test_missing_path_and_non_zip_file_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect(tmp_path / "nowhere", A)
    (tmp_path / "subs.zip").write_text("not a zip at all")
    with pytest.raises(ValueError, match="not a zip archive"):
        collect(tmp_path / "subs.zip", A)
    (tmp_path / f"{A}.ipynb").write_text("{}")
    with pytest.raises(ValueError, match="pass the folder that holds it"):
        collect(tmp_path / f"{A}.ipynb", A)
    with pytest.raises(ValueError, match="not a folder name"):
        collect(tmp_path, "../x")
