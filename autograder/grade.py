"""``course grade``: grade many submissions, several at a time, each in isolation.

The workspace (outside the repository) is an ordinary nbgrader course root, so
``nbgrader formgrader`` can be pointed at it for the written answers:

    WORKSPACE/gradebook.db                      nbgrader's gradebook: only this process writes it
    WORKSPACE/source/A/, release/A/             the assignment as it was graded
    WORKSPACE/submitted/STUDENT/A/A.ipynb       what was graded
    WORKSPACE/autograded/STUDENT/A/A.ipynb      executed, with outputs
    WORKSPACE/history.jsonl                     every grading of every submission, in order
    WORKSPACE/.grading/A/gradebook.db           the assignment alone: each worker grades against a copy

Each submission is graded by its own worker process (``autograder.worker``),
``jobs`` at a time. A worker that outlives its time is killed with its kernel.
As each worker finishes, its grades go into the gradebook in one transaction and
then a line into history.jsonl; a submission already there with the same content
and the same assignment source is not graded again, so an interrupted run resumes
where it stopped. A resubmission replaces the grade; the history keeps both.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .config import SOURCE, nbgrader_config, use_own_scripts
from .submissions import Intake, Submission, collect


@dataclass
class Outcome:
    student: str
    status: str  # graded, malformed, timed out, crashed, or skipped (already graded)
    score: float
    max_score: float
    flags: list[str] = field(default_factory=list)


class Workspace:
    """The instructor-private folder one assignment is graded in."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.db_url = f"sqlite:///{self.path / 'gradebook.db'}"
        self.history_file = self.path / "history.jsonl"

    def prepare(self, root: Path, assignment: str) -> str:
        """Copy the assignment's source in, record it in the gradebooks; returns the source's hash."""
        from .release import generate

        source = root / SOURCE / assignment
        if not (source / f"{assignment}.ipynb").exists():
            raise FileNotFoundError(f"No assignment {assignment!r} in {root / SOURCE}.")
        if self.path == root.resolve() or root.resolve() in self.path.parents:
            raise ValueError(f"The workspace {self.path} is inside the repository: put it elsewhere, "
                             "so student work and grades are never committed.")
        digest = _tree_hash(source)
        stamp = self.path / ".grading" / assignment / "source.sha256"
        if stamp.exists() and stamp.read_text() == digest and (self.path / "gradebook.db").exists():
            return digest
        for folder in (self.path / "source" / assignment, self.path / ".grading" / assignment):
            shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, self.path / "source" / assignment)
        shutil.copy(root / "pyproject.toml", self.path / "pyproject.toml")  # the setup cell's template
        snapshot = self.path / ".grading" / assignment
        snapshot.mkdir(parents=True)
        shutil.copytree(source, snapshot / "source" / assignment)
        for course_root, db_url in ((self.path, self.db_url), (snapshot, f"sqlite:///{snapshot / 'gradebook.db'}")):
            _generate(course_root, assignment, db_url)
        stamp.write_text(digest)
        return digest

    def history(self) -> list[dict]:
        if not self.history_file.exists():
            return []
        lines = self.history_file.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip().endswith("}")]  # a torn last line is ignored

    def record(self, result: dict, submission: Submission, notebook: str, source_hash: str) -> Outcome:
        """Write one worker's result into the gradebook (one transaction), the files, then the history."""
        from nbgrader.api import Gradebook

        assignment, student = result["assignment"], submission.student
        folder = self.path / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{notebook}.ipynb").write_bytes(submission.content)
        if submission.timestamp:
            (folder / "timestamp.txt").write_text(submission.timestamp.strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
        if result.get("autograded"):
            out = self.path / "autograded" / student / assignment
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{notebook}.ipynb").write_text(result["autograded"])
        with Gradebook(self.db_url) as gb, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy's notes about nbgrader's own session use
            gb.update_or_create_student(student)
            gb.update_or_create_submission(assignment, student, timestamp=submission.timestamp)
            for grade in gb.find_submission_notebook(notebook, assignment, student).grades:
                auto, _, manual = result["scores"].get(grade.name, [0.0, grade.max_score, False])
                grade.auto_score = auto
                grade.manual_score = None  # a new submission: an earlier manual grade no longer applies
                grade.needs_manual_grade = bool(manual) and result["status"] == "graded"
            gb.db.commit()
            score = gb.find_submission(assignment, student).score
            max_score = gb.find_assignment(assignment).max_score
        entry = {"assignment": assignment, "student": student, "sha256": submission.sha256, "source": source_hash,
                 "origin": submission.origin, "status": result["status"], "flags": result["flags"],
                 "score": score, "max_score": max_score,
                 "timestamp": submission.timestamp.isoformat() if submission.timestamp else None}
        with open(self.history_file, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return Outcome(student, result["status"], score, max_score, result["flags"])


def grade(root: Path, assignment: str, submissions: Path, workspace: Path, jobs: int = 2, timeout: float = 300,
          memory_mb: int = 3000, pattern: str | None = None, regrade: bool = False,
          log=print) -> tuple[Intake, list[Outcome]]:
    """Grade every submission of ``assignment`` found in ``submissions``; see the module docstring."""
    intake = collect(submissions, assignment, pattern=pattern)
    ws = Workspace(workspace)
    ws.path.mkdir(parents=True, exist_ok=True)
    source_hash = ws.prepare(root, assignment)
    done = {(h["student"], h["sha256"]) for h in ws.history()
            if h["assignment"] == assignment and h["source"] == source_hash}
    todo = [s for s in intake.submissions if regrade or (s.student, s.sha256) not in done]
    outcomes = [Outcome(s.student, "skipped", *_last_score(ws, assignment, s.student))
                for s in intake.submissions if s not in todo]
    notebook = assignment
    task_base = {"assignment": assignment, "notebook": notebook, "timeout": timeout, "memory_mb": memory_mb,
                 "gradebook": str(ws.path / ".grading" / assignment / "gradebook.db"),
                 "source_folder": str(ws.path / "source" / assignment),
                 "source_notebook": str(ws.path / "source" / assignment / f"{notebook}.ipynb"),
                 "release_notebook": str(ws.path / "release" / assignment / f"{notebook}.ipynb")}
    log(f"{len(intake.submissions)} submissions, {len(todo)} to grade ({len(outcomes)} already graded), "
        f"{jobs} at a time")
    running: dict[subprocess.Popen, tuple[Submission, Path, float]] = {}
    queue = list(todo)
    try:
        while queue or running:
            while queue and len(running) < jobs:
                submission = queue.pop(0)
                running.update(_start(submission, task_base))
            time.sleep(0.05)
            for process, (submission, folder, started) in list(running.items()):
                overdue = time.monotonic() - started > timeout + 120  # the worker's own deadline failed
                if process.poll() is None and not overdue:
                    continue
                if overdue:
                    _kill(process)
                del running[process]
                result = _result(folder, submission, assignment, overdue)
                shutil.rmtree(folder, ignore_errors=True)
                outcome = ws.record(result, submission, notebook, source_hash)
                outcomes.append(outcome)
                log(f"  {outcome.student}: {outcome.status}, {outcome.score:g}/{outcome.max_score:g}"
                    + (f" (review: {'; '.join(outcome.flags)[:200]})" if outcome.flags else ""))
    except KeyboardInterrupt:
        for process, (_, folder, _) in running.items():
            _kill(process)
            shutil.rmtree(folder, ignore_errors=True)
        log("Interrupted: finished submissions are saved; run the same command again to grade the rest.")
        raise
    return intake, sorted(outcomes, key=lambda o: o.student)


def _generate(course_root: Path, assignment: str, db_url: str) -> None:
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    use_own_scripts()
    config = nbgrader_config(course_root, db_url=db_url)
    config.CourseDirectory.source_directory = "source"
    config.CourseDirectory.release_directory = "release"
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    converter = GenerateAssignment(coursedir=coursedir, config=config)
    converter.force = True
    converter.log.setLevel("ERROR")
    converter.start()


def _start(submission: Submission, task_base: dict) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="course-task-"))
    (folder / "submission.ipynb").write_bytes(submission.content)
    task = dict(task_base, student=submission.student, sha256=submission.sha256,
                submission=str(folder / "submission.ipynb"))
    (folder / "task.json").write_text(json.dumps(task))
    with open(folder / "worker.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "autograder.worker", str(folder / "task.json")],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=dict(os.environ, PYTHONWARNINGS="ignore"))
    return {process: (submission, folder, time.monotonic())}


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the worker and its kernel
    except ProcessLookupError:
        pass
    process.wait()


def _result(folder: Path, submission: Submission, assignment: str, killed: bool) -> dict:
    result_file = folder / "result.json"
    if result_file.exists() and not killed:
        return json.loads(result_file.read_text())
    log = (folder / "worker.log").read_text(errors="replace")[-500:] if (folder / "worker.log").exists() else ""
    why = "timed out: the worker was stopped" if killed else f"crashed: the worker died ({log.strip()[-200:]})"
    return {"student": submission.student, "assignment": assignment, "sha256": submission.sha256,
            "status": why.split(":")[0], "flags": [why], "scores": {}, "autograded": None}


def _last_score(ws: Workspace, assignment: str, student: str) -> tuple[float, float]:
    for entry in reversed(ws.history()):
        if entry["assignment"] == assignment and entry["student"] == student:
            return entry["score"], entry["max_score"]
    return 0.0, 0.0


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
