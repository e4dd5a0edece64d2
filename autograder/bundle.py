"""``course bundle``: the students' repository for a point in the term.

``bundle(root, "03", out)`` writes to ``out`` what students get once assignment
03 is out: the released notebooks 00..03 (from ``notebooks/``, never from
``solutions/``), the ``course_utils`` package with its shipped weights, a
``pyproject.toml`` that installs only ``course_utils``, ``environment.yml`` and a
short student README.

The answers to graded exercises live in one file per assignment,
``course_utils/answers/aNN_name.py`` (``autograder.answers``). In the bundle, the
answer file of an assignment whose solutions are not yet released keeps its
signatures and docstrings, but each solution region becomes one
``raise ReferenceNotReleased(...)``; released ones lose only their solution markers
and sample wrong answers. Solutions are released up to ``solutions_through``: by
default the assignment before ``through`` (none when bundling the first one).

Before anything is written to ``out`` the bundle is verified: no non-trivial line
of an unreleased answer is anywhere in the bundle (unless the package has the same
line elsewhere, as code that is not an answer), and no solution or hidden-test
marker is. ``out`` must be new, empty, or an earlier
bundle (it has a ``.course-bundle`` file listing what it wrote); replacing an
earlier bundle removes only the files that bundle wrote, so a ``.git`` folder or
other files added beside them are kept.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from . import answers
from .config import RELEASE, SOURCE
from .release import MARKERS, ReleaseError, assignments
from .release import resolve as resolve_assignment

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PACKAGE = "course_utils"
MARKER_FILE = ".course-bundle"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints", ".DS_Store", "*.egg-info")
# pyproject.toml tables the students' project keeps; everything else (the `course` script, [tool.course],
# pytest's settings, which name folders the bundle does not have) is left out.
_KEEP_TABLES = re.compile(r"^(build-system|project|project\.optional-dependencies|project\.urls|tool\.setuptools(\..+)?)$")
_DROP_PROJECT_KEYS = ("scripts", "gui-scripts", "entry-points")


class BundleError(RuntimeError):
    """The bundle could not be made, or is not what it must be."""


# ---------------------------------------------------------------------------------------------------
# Which assignments


def resolve(root: Path, name: str) -> str:
    """The one assignment of ``solutions/`` named ``name`` ("03" or "03_diffusion")."""
    try:
        return resolve_assignment(root, name)
    except ReleaseError as err:
        raise BundleError(str(err)) from None


def assignments_through(root: Path, through: str) -> list[str]:
    """The assignments up to and including ``through``, in order."""
    last = resolve(root, through)
    return [a for a in assignments(root) if a[:2] <= last[:2]]


def _solutions_cutoff(root: Path, names: list[str], solutions_through: str | None) -> str | None:
    """The last assignment whose solutions are released, or None for none.

    Default: the assignment before the last bundled one. "none" (or "") releases none.
    """
    if solutions_through is None:
        return names[-2] if len(names) > 1 else None
    if solutions_through.strip().lower() in ("", "none"):
        return None
    cutoff = resolve(root, solutions_through)
    if cutoff[:2] > names[-1][:2]:
        raise BundleError(f"solutions_through={solutions_through!r} ({cutoff}) is later than the last bundled "
                          f"assignment ({names[-1]}).")
    return cutoff


def is_released(assignment: str, cutoff: str | None) -> bool:
    """Whether the solutions of ``assignment`` are released when they are up to ``cutoff``."""
    return cutoff is not None and assignment[:2] <= cutoff[:2]


# ---------------------------------------------------------------------------------------------------
# The students' project files


def _tables(text: str) -> list[tuple[str | None, str]]:
    """pyproject.toml split into (table name, text) chunks; the first chunk's name is None."""
    chunks: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in text.splitlines():
        header = re.match(r"^\s*\[\[?\s*([^\]\s]+)\s*\]\]?\s*(#.*)?$", line)
        if header:
            chunks.append((header.group(1).replace('"', ""), []))
        chunks[-1][1].append(line)
    return [(name, "\n".join(body).strip("\n")) for name, body in chunks]


def student_pyproject(text: str) -> str:
    """The students' pyproject.toml: same name, version and dependencies, packaging only course_utils."""
    kept = []
    for name, chunk in _tables(text):
        if name is None or _KEEP_TABLES.match(name):
            if name == "tool.setuptools.packages.find":
                chunk = f'[{name}]\ninclude = ["{PACKAGE}*"]'
            if chunk.strip():
                kept.append(chunk)
    result = "\n\n".join(kept) + "\n"
    original, new = tomllib.loads(text), tomllib.loads(result)
    expected_project = {k: v for k, v in original["project"].items() if k not in _DROP_PROJECT_KEYS}
    find = new.get("tool", {}).get("setuptools", {}).get("packages", {})
    if (new["project"] != expected_project or new.get("build-system") != original.get("build-system")
            or set(new.get("tool", {})) != {"setuptools"} or find != {"find": {"include": [f"{PACKAGE}*"]}}):
        raise BundleError("could not rewrite pyproject.toml for students (its layout changed?): update "
                          "autograder/bundle.py:student_pyproject so the bundle packages only course_utils")
    return result


def _title(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            first = cell.source.strip().splitlines()[0]
            return first.lstrip("#").strip()
    return notebook.stem


STUDENT_README = """\
# {title}

The student materials of the course as of assignment {last}: the notebooks below and `course_utils`, the small
package they share. Every model trains on data that ships with the course, so everything works offline on a
laptop CPU; the same code runs on a GPU.

## Install and start

You need Python 3.10 or newer. The first install downloads PyTorch (a few GB, a few minutes).

```bash
python -m venv .venv && .venv/bin/pip install -e .     # on Windows: .venv\\Scripts\\pip install -e .
.venv/bin/jupyter lab notebooks/
```

Or with conda:

```bash
conda env create -f environment.yml
conda activate {env_name}
jupyter lab notebooks/
```

Open `notebooks/{first}/{first}.ipynb` first: it checks your environment, tours the datasets and explains how
exercises work.

**Google Colab.** Upload a notebook from `notebooks/`. Its first cell installs the course kit when it runs on
Colab and does nothing elsewhere. For a GPU: *Runtime → Change runtime type*.

**FAST mode.** `COURSE_FAST=1 jupyter lab notebooks/` (on Colab: `%env COURSE_FAST=1`, then run the setup cell
again) runs every notebook with tiny settings in seconds, for debugging. The default, FULL, gives real results.

## How exercises work

An exercise is a function whose body says `raise NotImplementedError("Not solved yet: ...")`: replace it with
your code. The read-only cell after it runs the visible checks and prints a line starting with ✔ when they pass,
or says what was expected and what came back. When your notebook is graded, hidden tests run in the same cells.
Later cells use your functions, so you see your own code train the models. Before you submit, run
*Kernel → Restart Kernel and Run All Cells*.

Some functions in `course_utils` are the course's own answers to exercises. Until an assignment is due, they
keep their signature and docstring but raise `ReferenceNotReleased`; they come with a later update of this
repository. Use your own solutions until then.

## Notebooks

| notebook | |
|---|---|
{rows}
"""

GITIGNORE = ".venv/\n__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\nbuild/\n"


def student_readme(root: Path, names: list[str]) -> str:
    """The bundle's README.md."""
    readme = root / "README.md"
    lines = readme.read_text(encoding="utf-8").splitlines() if readme.exists() else []
    title = next((line[2:].strip() for line in lines if line.startswith("# ")), "Course notebooks")
    env_name = "course-kit"
    env = root / "environment.yml"
    if env.exists():
        match = re.search(r"^name:\s*(\S+)", env.read_text(encoding="utf-8"), re.M)
        env_name = match.group(1) if match else env_name
    rows = "\n".join(f"| [`{n}`](notebooks/{n}/{n}.ipynb) | {_title(root / RELEASE / n / f'{n}.ipynb')} |"
                     for n in names)
    return STUDENT_README.format(title=title, last=names[-1], first=names[0], env_name=env_name,
                                 rows=rows)


# ---------------------------------------------------------------------------------------------------
# Building, verifying and writing the bundle


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _text(path: Path) -> str | None:
    """A file's text for the leak checks (a notebook's cell sources), None for binary files."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, ValueError):
        return None
    if path.suffix == ".ipynb":
        cells = nbformat.reads(raw, as_version=4).cells
        return raw + "\n" + "\n".join(c.source for c in cells)
    return raw


def verify(stage: Path, unreleased: dict[str, str], allowed_text: str) -> None:
    """Raise BundleError unless the bundle in ``stage`` leaks nothing.

    ``unreleased``: assignment -> the original text of its answer file. A non-trivial line of one of their
    solution regions counts as leaked when it is anywhere in the bundle's text (notebooks included), unless
    the package has the same line outside those regions (``allowed_text``): students get that line anyway.
    """
    texts = {rel: t for rel in _files(stage) if (t := _text(stage / rel)) is not None}
    problems = [f"{rel} contains the marker {m!r}" for rel, text in texts.items() for m in MARKERS if m in text]
    for assignment, original in unreleased.items():
        for line in answers.solution_lines(original):
            if line not in allowed_text:
                problems += [f"{rel} contains {line!r}, an answer of {assignment}" for rel, t in texts.items()
                             if line in t]
    if problems:
        raise BundleError("The bundle is not safe to hand out:\n  " + "\n  ".join(problems[:20]))


def _previous_bundle(out: Path, root: Path) -> list[str] | None:
    """The files an earlier bundle in ``out`` wrote; None when ``out`` is new or empty. Refuses anything else."""
    resolved = out.resolve()
    for forbidden in (root / PACKAGE, root / RELEASE, root / SOURCE):
        if resolved == forbidden.resolve() or forbidden.resolve() in resolved.parents:
            raise BundleError(f"{out} is inside {forbidden}: write the bundle somewhere else")
    if resolved == root.resolve() or resolved in root.resolve().parents:
        raise BundleError(f"{out} holds the course repository itself: write the bundle somewhere else")
    if not out.exists():
        return None
    if not out.is_dir():
        raise BundleError(f"{out} exists and is not a folder")
    if not any(out.iterdir()):
        return None
    marker = out / MARKER_FILE
    if not marker.is_file():
        raise BundleError(f"{out} is not empty and is not an earlier bundle (it has no {MARKER_FILE} file): "
                          "choose a new or empty folder")
    try:
        files = json.loads(marker.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError) as err:
        raise BundleError(f"{marker} cannot be read ({err}); remove {out} by hand if it is an old bundle") from err
    for f in files:
        if not isinstance(f, str) or Path(f).is_absolute() or ".." in Path(f).parts:
            raise BundleError(f"{marker} lists {f!r}, which is not a file inside the bundle; remove {out} by hand")
    return files


def _install(stage: Path, out: Path, previous: list[str] | None) -> None:
    """Put the staged bundle in ``out``, removing only the files of the bundle it replaces."""
    previous = set(previous or [])
    new = _files(stage)
    clashes = [f for f in new if f not in previous and f != MARKER_FILE and (out / f).exists()]
    if clashes:
        raise BundleError(f"{out} has files the earlier bundle did not write, where the new one writes: "
                          + ", ".join(clashes[:10]))
    for f in sorted(previous | {MARKER_FILE}):
        path = out / f
        if path.is_file() or path.is_symlink():
            path.unlink()
    for folder in sorted({p for f in previous for p in (out / f).parents if out in p.parents},
                         key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    out.mkdir(parents=True, exist_ok=True)
    for f in new:  # the marker first: if this is interrupted, the next bundle still knows what to replace
        (out / f).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(stage / MARKER_FILE, out / MARKER_FILE)
    for f in new:
        if f != MARKER_FILE:
            shutil.copy2(stage / f, out / f)


def bundle(root: Path, through: str, out: Path, solutions_through: str | None = None) -> Path:
    """Write the students' repository with assignments up to ``through`` to ``out``; returns ``out``.

    ``solutions_through`` is the last assignment whose reference answers are released (by default the one
    before ``through``; "none" for none). Raises BundleError, writing nothing, when the bundle cannot be made,
    would leak an answer, or ``out`` is neither new, empty, nor an earlier bundle.
    """
    root, out = Path(root).resolve(), Path(out).absolute()
    names = assignments_through(root, through)
    cutoff = _solutions_cutoff(root, names, solutions_through)
    previous = _previous_bundle(out, root)
    for name in names:
        if not (root / RELEASE / name / f"{name}.ipynb").exists():
            raise BundleError(f"{RELEASE}/{name}/{name}.ipynb is missing: run `course release {name[:2]}` first")
    package = root / PACKAGE
    files = answers.answer_files(package)
    unreleased = {a: f.read_text(encoding="utf-8") for a, f in files.items() if not is_released(a, cutoff)}

    with tempfile.TemporaryDirectory(prefix="course-bundle-") as tmp:
        stage = Path(tmp) / "bundle"
        for name in names:
            shutil.copytree(root / RELEASE / name, stage / RELEASE / name, ignore=_IGNORE)
        answers.write_students_package(package, stage, lambda a: is_released(a, cutoff))
        allowed = "\n".join(p.read_text(encoding="utf-8") for p in sorted(package.rglob("*.py"))
                             if "__pycache__" not in p.parts and p not in files.values())
        (stage / "pyproject.toml").write_text(student_pyproject((root / "pyproject.toml").read_text(encoding="utf-8")),
                                              encoding="utf-8")
        if (root / "environment.yml").exists():
            shutil.copy2(root / "environment.yml", stage / "environment.yml")
        for license_file in root.glob("LICENSE*"):
            shutil.copy2(license_file, stage / license_file.name)
        (stage / "README.md").write_text(student_readme(root, names), encoding="utf-8")
        (stage / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
        verify(stage, unreleased, allowed)
        manifest = {
            "what": "a student bundle written by `course bundle`; the next bundle written here replaces these files",
            "through": names[-1],
            "solutions_through": cutoff,
            "notebooks": names,
            "stubbed": [f"{answers.ANSWERS}/{files[a].name}" for a in sorted(unreleased)],
            "files": [f for f in _files(stage) if f != MARKER_FILE] + [MARKER_FILE],
        }
        (stage / MARKER_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _install(stage, out, previous)
    return out
