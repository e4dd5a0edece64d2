"""nbgrader's configuration for this repository, kept in one place.

The repository is the nbgrader course root: ``solutions/NN_name/NN_name.ipynb`` is
the source (instructor version) and ``notebooks/NN_name/`` the release (student
version). ``nbgrader_config.py`` at the root calls ``configure`` so plain
``nbgrader`` commands see the same settings as ``course``.

The first code cell of every notebook (tagged ``course-setup``) is generated from
``SETUP_CELL`` and the install source in ``pyproject.toml``
(``[tool.course] colab-install``), so the Colab install source is set in one place.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from traitlets.config import Config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "solutions"
RELEASE = "notebooks"
SETUP_TAG = "course-setup"
STUB = ("# YOUR CODE HERE\n"
        "raise NotImplementedError(\"Not solved yet: replace these two lines with your solution.\")")
TEXT_STUB = "YOUR ANSWER HERE"
JUDGES = "judges.py"
ALTERNATIVES = "alternatives.py"  # correct solutions and equivalent mutants (autograder.mutation)

SETUP_CELL = '''\
# Setup. On Google Colab this first installs the course kit; elsewhere it does nothing.
import sys
if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{source}"], check=True)

import course_utils as cu
course = cu.setup(seed=0)  # picks the device once, seeds everything, says FAST or FULL'''


def startup_timeout(timeout: float) -> int:
    """Seconds a grading kernel may take to start: the grader's cost, not the student's.

    On a busy machine importing torch can take over a minute (nbclient's default limit),
    which would mark an honest submission "crashed".
    """
    return max(180, int(timeout))


def colab_install_source(root: Path = ROOT) -> str:
    """The pip requirement Colab installs the kit from (``[tool.course] colab-install``)."""
    with open(root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["course"]["colab-install"]


def setup_cell_source(root: Path = ROOT) -> str:
    """The exact source every notebook's setup cell must have."""
    return SETUP_CELL.format(source=colab_install_source(root))


def use_own_scripts() -> None:
    """Put this Python's scripts folder first on PATH.

    nbgrader runs the ``alembic`` command of its environment as a subprocess; when
    ``course`` is run as ``.venv/bin/course`` without activating the environment,
    that command would not be found.
    """
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = scripts + os.pathsep + os.environ.get("PATH", "")


def configure(c: Config, root: Path = ROOT, db_url: str | None = None) -> Config:
    """Apply the course's nbgrader settings to config ``c`` (and return it)."""
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.source_directory = SOURCE
    c.CourseDirectory.release_directory = RELEASE
    c.CourseDirectory.course_id = "course-kit"
    if db_url:
        c.CourseDirectory.db_url = db_url
    c.ClearSolutions.code_stub = {"python": STUB}
    c.ClearSolutions.text_stub = TEXT_STUB
    c.ClearSolutions.enforce_metadata = True
    # judges.py (the hidden tests' judges, see autograder.judging) and alternatives.py (correct solutions,
    # see autograder.mutation) never leave the instructor's side.
    c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", JUDGES, ALTERNATIVES]
    return c


def nbgrader_config(root: Path = ROOT, db_url: str | None = None) -> Config:
    """A fresh nbgrader Config for ``root``."""
    return configure(Config(), root, db_url)
