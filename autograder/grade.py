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
A worker that dies or is killed is the grader's failure, not the student's (the
notebook has its own deadline inside the worker): its submission is graded once
more by a fresh worker before it is recorded as crashed or timed out.
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

from .config import SOURCE, nbgrader_config, startup_timeout, use_own_scripts
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

    def task(self, assignment: str, timeout: float, memory_mb: int) -> dict:
        """What a worker needs to grade a submission of ``assignment`` (the submission itself aside)."""
        folder = self.path / "source" / assignment
        return {"assignment": assignment, "notebook": assignment, "timeout": timeout, "memory_mb": memory_mb,
                "gradebook": str(self.path / ".grading" / assignment / "gradebook.db"),
                "package": str(self.path / ".grading" / assignment / "package" / "course_utils"),
                "source_folder": str(folder), "source_notebook": str(folder / f"{assignment}.ipynb"),
                "release_notebook": str(self.path / "release" / assignment / f"{assignment}.ipynb")}

    def prepare(self, root: Path, assignment: str) -> str:
        """Copy the assignment's source in, record it in the gradebooks; returns the source's hash."""
        from . import answers

        source = root / SOURCE / assignment
        if not (source / f"{assignment}.ipynb").exists():
            raise FileNotFoundError(f"No assignment {assignment!r} in {root / SOURCE}.")
        if self.path == root.resolve() or root.resolve() in self.path.parents:
            raise ValueError(f"The workspace {self.path} is inside the repository: put it elsewhere, "
                             "so student work and grades are never committed.")
        digest = _tree_hash(source) + _tree_hash(root / "course_utils")  # the package the kernel gets, too
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
        # The package as students have it for this assignment: its answers and later ones are stubs.
        answers.write_students_package(root / "course_utils", snapshot / "package", answers.before(assignment))
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
                 "score": score, "max_score": max_score, "details": result.get("details", {}),
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
    task_base = ws.task(assignment, timeout, memory_mb)
    log(f"{len(intake.submissions)} submissions, {len(todo)} to grade ({len(outcomes)} already graded), "
        f"{jobs} at a time")
    workers = [Worker() for _ in range(min(jobs, len(todo)))]
    queue, retried = list(todo), set()
    deadline = timeout + startup_timeout(timeout) + 60  # the notebook's, its kernel's start, nbgrader's own work
    try:
        while queue or any(w.task for w in workers):
            for worker in workers:
                if worker.task is None and queue:
                    worker.start(queue.pop(0), task_base)
            time.sleep(0.05)
            for worker in workers:
                finished = worker.finished(deadline=deadline)
                if finished is None:
                    continue
                submission, result = finished
                if result.pop("worker_failed", False) and (submission.student, submission.sha256) not in retried:
                    retried.add((submission.student, submission.sha256))
                    queue.append(submission)
                    log(f"  {submission.student}: {result['flags'][0]}; grading it again")
                    continue
                outcome = ws.record(result, submission, notebook, source_hash)
                outcomes.append(outcome)
                log(f"  {outcome.student}: {outcome.status}, {outcome.score:g}/{outcome.max_score:g}"
                    + (f" (review: {'; '.join(outcome.flags)[:200]})" if outcome.flags else ""))
    except KeyboardInterrupt:
        log("Interrupted: finished submissions are saved; run the same command again to grade the rest.")
        raise
    finally:
        for worker in workers:
            worker.stop()
            worker.log.unlink(missing_ok=True)
    return intake, sorted(outcomes, key=lambda o: o.student)


class Worker:
    """A worker process (``autograder.worker``) that grades one submission at a time."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.task: tuple[Submission, Path, float, str] | None = None  # submission, folder, start, assignment
        self.log = Path(tempfile.mkstemp(prefix="course-worker-", suffix=".log")[1])

    def start(self, submission: Submission, task_base: dict) -> None:
        if self.process is None or self.process.poll() is not None:
            with open(self.log, "ab") as log:  # its own session: killing it kills its kernel too
                self.process = subprocess.Popen([sys.executable, "-m", "autograder.worker"], stdin=subprocess.PIPE,
                                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                                env=dict(os.environ, PYTHONWARNINGS="ignore"))
        folder = Path(tempfile.mkdtemp(prefix="course-task-"))
        (folder / "submission.ipynb").write_bytes(submission.content)
        task = dict(task_base, student=submission.student, sha256=submission.sha256,
                    submission=str(folder / "submission.ipynb"))
        (folder / "task.json").write_text(json.dumps(task))
        self.process.stdin.write(f"{folder / 'task.json'}\n".encode())
        self.process.stdin.flush()
        self.task = (submission, folder, time.monotonic(), task_base["assignment"])

    def finished(self, deadline: float) -> tuple[Submission, dict] | None:
        """The submission and its result once the worker is done with it (or died, or ran out of time)."""
        if self.task is None:
            return None
        submission, folder, started, assignment = self.task
        result_file = folder / "result.json"
        if result_file.exists():
            result = json.loads(result_file.read_text())
        elif self.process.poll() is not None:
            tail = self.log.read_text(errors="replace").strip()[-200:]
            result = dict(_failed(submission, assignment, f"crashed: the worker died ({tail})"), worker_failed=True)
        elif time.monotonic() - started > deadline:
            self.stop()
            result = dict(_failed(submission, assignment, "timed out: the worker was stopped"), worker_failed=True)
        else:
            return None
        shutil.rmtree(folder, ignore_errors=True)
        self.task = None
        return submission, result

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the worker and its kernel
            except ProcessLookupError:
                pass
            self.process.wait()
        if self.task is not None:
            shutil.rmtree(self.task[1], ignore_errors=True)
        self.process = None


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


def _failed(submission: Submission, assignment: str, why: str) -> dict:
    return {"student": submission.student, "assignment": assignment, "sha256": submission.sha256,
            "status": why.split(":")[0], "flags": [why], "scores": {}, "autograded": None}


def _last_score(ws: Workspace, assignment: str, student: str) -> tuple[float, float]:
    for entry in reversed(ws.history()):
        if entry["assignment"] == assignment and entry["student"] == student:
            return entry["score"], entry["max_score"]
    return 0.0, 0.0


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts
                       and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
