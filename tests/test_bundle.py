"""`course bundle`: the students' repository holds the releases, and no answer before it is due."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from autograder import answers
from autograder.bundle import MARKER_FILE, BundleError, bundle
from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MESSAGE = "This reference answer of 00_welcome is not released yet: use your own solution from the notebook."
A00 = "course_utils/answers/a00_welcome.py"

FAKE_ANSWERS = '''\
"""The answers of a later, fake assignment."""
from __future__ import annotations

from ..reference import ReferenceNotReleased  # noqa: F401

# %% doubled
def doubled(
    x: list[int],
) -> list[int]:
    """Every element of x, twice as large."""
    ### BEGIN SOLUTION
    # the hint of the answer key: a list comprehension
    result_of_doubling = [2 * value for value in x]
    return result_of_doubling
    # sample wrong answer: return result_of_doubling[:1]
    ### END SOLUTION

# %% halved
class Halver:
    def halved(self, x: list[float]) -> list[float]:
        ### BEGIN SOLUTION
        halved_values = [value / 2 for value in x]
        return halved_values
        ### END SOLUTION


KEPT_CONSTANT = "this module line is not an answer"

# %% review
### BEGIN SOLUTION
answer_review_question = "definitely b, said the answer key"
### END SOLUTION
'''
FAKE_BODY_LINES = ["result_of_doubling = [2 * value for value in x]", "halved_values = [value / 2 for value in x]",
                   "answer_review_question"]


def run_python(code: str, path: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports from ``path`` first (the venv's own editable
    install of the kit comes after PYTHONPATH), from a folder outside the repository."""
    env = dict(os.environ, PYTHONPATH=str(path), COURSE_HEADLESS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def bundle_texts(folder: Path) -> dict[str, str]:
    """Every text file of a bundle (notebooks as their raw JSON and their cell sources)."""
    texts = {}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if path.suffix == ".ipynb":
            text += "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        texts[path.relative_to(folder).as_posix()] = text
    return texts


@pytest.fixture(scope="module")
def bundle00(tmp_path_factory) -> Path:
    return bundle(ROOT, "00", tmp_path_factory.mktemp("bundle00") / "student-repo")


@pytest.fixture
def course_copy(tmp_path) -> Path:
    """A copy of the course as it was at assignment 00, plus a fake next assignment 01_fake and its answer file.

    (The package is copied whole: the answers of the real 01 ... 07 are stubbed alongside the fake ones.)
    """
    root = tmp_path / "course"
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    for name in ("solutions", "notebooks"):
        shutil.copytree(ROOT / name / "00_welcome", root / name / "00_welcome", ignore=ignore)
    shutil.copytree(ROOT / "course_utils", root / "course_utils", ignore=ignore)
    for name in ("pyproject.toml", "environment.yml", "README.md"):
        shutil.copy(ROOT / name, root / name)
    (root / "course_utils" / "answers" / "a01_fake.py").write_text(FAKE_ANSWERS)
    (root / "course_utils" / "fake.py").write_text("from .answers.a01_fake import Halver, doubled  # noqa: F401\n")
    for kind in ("solutions", "notebooks"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Fake: a later assignment"),
                    nbformat.v4.new_code_cell("print('the fake assignment')")]
        (root / kind / "01_fake").mkdir()
        nbformat.write(nb, root / kind / "01_fake" / "01_fake.ipynb")
    return root


def function_source(path: Path, name: str) -> str:
    """The lines of the def of ``name`` up to its docstring's end (signature and docstring)."""
    text = path.read_text()
    start = text.index(f"def {name}(")
    docstring = text.index('"""', start)
    return text[start:text.index('"""', docstring + 3) + 3]


def stubbed(path: Path, name: str) -> bool:
    """Whether the body of ``name`` after its docstring is one raise of ReferenceNotReleased."""
    text = path.read_text()
    start = text.index(f"def {name}(")
    after = text[start:].split('"""', 2)[2] if '"""' in text[start:start + 400] else "\n" + text[start:].split(":\n", 1)[1]
    body = []
    for line in after.splitlines()[1:]:
        if line.strip() and not line.startswith((" ", "\t")):
            break
        if line.strip():
            body.append(line.strip())
    return len(body) == 1 and body[0].startswith("raise ReferenceNotReleased(")


# --- the real repository ---------------------------------------------------------------------------


def test_bundle_through_00_holds_the_release_and_the_package_only(bundle00):
    release = ROOT / "notebooks" / "00_welcome" / "00_welcome.ipynb"
    assert (bundle00 / "notebooks" / "00_welcome" / "00_welcome.ipynb").read_bytes() == release.read_bytes()
    assert sorted(p.name for p in (bundle00 / "notebooks").iterdir()) == ["00_welcome"]
    weights = "course_utils/assets/digits_classifier.pt"
    assert (bundle00 / weights).read_bytes() == (ROOT / weights).read_bytes()
    assert (bundle00 / "environment.yml").read_text() == (ROOT / "environment.yml").read_text()
    top = {p.name for p in bundle00.iterdir()}
    assert top == {"notebooks", "course_utils", "pyproject.toml", "environment.yml", "README.md", ".gitignore", MARKER_FILE}
    files = [p.relative_to(bundle00).as_posix() for p in bundle00.rglob("*")]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or ".egg-info" in f]
    assert not [f for f in files if f.split("/")[0] in ("solutions", "tests", "autograder", "build", ".venv", ".git")]
    readme = (bundle00 / "README.md").read_text()
    assert "pip install -e ." in readme and "jupyter lab notebooks/" in readme and "Colab" in readme
    assert "notebooks/00_welcome/00_welcome.ipynb" in readme and "NotImplementedError" in readme
    manifest = json.loads((bundle00 / MARKER_FILE).read_text())
    assert manifest["through"] == "00_welcome" and manifest["solutions_through"] is None


def test_student_pyproject_packages_only_course_utils(bundle00):
    original = tomllib.loads((ROOT / "pyproject.toml").read_text())
    student = tomllib.loads((bundle00 / "pyproject.toml").read_text())
    for key in ("name", "version", "dependencies", "requires-python"):
        assert student["project"][key] == original["project"][key]
    assert student["project"]["optional-dependencies"]["test"] == original["project"]["optional-dependencies"]["test"]
    assert "scripts" not in student["project"]
    assert student["build-system"] == original["build-system"]
    assert set(student["tool"]) == {"setuptools"}
    assert student["tool"]["setuptools"]["packages"]["find"]["include"] == ["course_utils*"]
    assert student["tool"]["setuptools"]["package-data"] == original["tool"]["setuptools"]["package-data"]


def test_no_line_of_an_unreleased_answer_and_no_marker_reaches_the_bundle(bundle00):
    secrets = answers.solution_lines((ROOT / A00).read_text())
    assert "a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)  # (N, D)" in secrets
    for rel, text in bundle_texts(bundle00).items():
        assert not [s for s in secrets if s in text], f"{rel} holds a line of an unreleased answer"
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "sample wrong answer" not in text, rel
    assert function_source(bundle00 / A00, "cosine_similarity_matrix") == function_source(ROOT / A00,
                                                                                         "cosine_similarity_matrix")
    assert stubbed(bundle00 / A00, "cosine_similarity_matrix")
    assert (bundle00 / "course_utils/similarity.py").read_text() == (ROOT / "course_utils/similarity.py").read_text()
    for later in sorted((ROOT / "course_utils" / "answers").glob("a0[1-9]_*.py")):  # every later answer too
        secrets = answers.solution_lines(later.read_text())
        assert secrets and not [s for s in secrets if s in (bundle00 / "course_utils/answers" / later.name).read_text()]


def test_the_bundle_installs_and_its_stub_raises_reference_not_released(bundle00, tmp_path):
    source, target = tmp_path / "source", tmp_path / "site"
    shutil.copytree(bundle00, source)  # pip builds in the source tree; keep the shared bundle clean
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(source)]
    import setuptools

    if int(setuptools.__version__.split(".")[0]) >= 77:  # what the build-system asks for: no download needed
        pip.insert(5, "--no-build-isolation")
    subprocess.run(pip, check=True, capture_output=True, timeout=300, cwd=tmp_path)
    assert not (target / "autograder").exists() and not (target / "bin").exists()
    done = run_python(f"""
        import importlib.metadata, pathlib
        import torch
        import course_utils
        from course_utils import data
        from course_utils.reference import ReferenceNotReleased
        from course_utils.similarity import cosine_similarity_matrix
        assert pathlib.Path(course_utils.__file__).is_relative_to({str(target)!r}), course_utils.__file__
        assert importlib.metadata.version("course-kit") == course_utils.__version__ != "0+unknown"
        digits = data.load("digits")
        assert len(digits) == 1442 and tuple(digits.x.shape[1:]) == (1, 8, 8), digits
        assert (pathlib.Path(course_utils.__file__).parent / "assets" / "digits_classifier.pt").is_file()
        try:
            cosine_similarity_matrix(torch.ones(2, 3), torch.ones(4, 3))
        except ReferenceNotReleased as err:
            print("raised:", err)
        """, target, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "raised: " + MESSAGE in done.stdout


def test_with_solutions_through_00_the_reference_is_intact_and_computes(tmp_path):
    out = bundle(ROOT, "00", tmp_path / "bundle", solutions_through="00")
    assert (out / A00).read_text() == answers.clean((ROOT / A00).read_text())
    assert "a_unit = a / a.norm" in (out / A00).read_text() and "sample wrong answer" not in (out / A00).read_text()
    done = run_python(f"""
        import pathlib, torch
        import course_utils.similarity as s
        assert pathlib.Path(s.__file__).is_relative_to({str(out)!r}), s.__file__
        got = s.cosine_similarity_matrix(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, -3.0]]))
        torch.testing.assert_close(got, torch.tensor([[0.5 ** 0.5, 0.0], [0.5 ** 0.5, -1.0]]))
        print("computed")
        """, out, tmp_path)
    assert done.returncode == 0 and "computed" in done.stdout, done.stderr


def test_bundle_through_01_releases_notebook_01_without_its_answers(tmp_path):
    out = bundle(ROOT, "01", tmp_path / "bundle")
    assert [p.name for p in sorted((out / "notebooks").iterdir())] == ["00_welcome", "01_autoencoders"]
    a01 = "course_utils/answers/a01_autoencoders.py"
    secrets = answers.solution_lines((ROOT / a01).read_text())
    assert len(secrets) >= 7
    for rel, text in bundle_texts(out).items():
        assert not [line for line in secrets if line in text], f"{rel} holds a line of an unreleased answer"
    for name in ("pca_fit", "corrupt", "reparameterise", "negative_elbo"):
        assert stubbed(out / a01, name), name
    assert not stubbed(out / A00, "cosine_similarity_matrix")  # 00's is released
    done = run_python("""
        import torch
        from course_utils.reference import ReferenceNotReleased
        from course_utils.vae import VAE, VAEConfig, reparameterise
        vae = VAE(VAEConfig(latent_dim=2, steps=1))
        print(tuple(vae.sample(3).shape))  # what the notebook uses besides the exercises still works
        try:
            reparameterise(torch.zeros(1, 2), torch.zeros(1, 2))
        except ReferenceNotReleased as err:
            print("raised:", err)
        """, out, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(3, 64)" in done.stdout and "raised: This reference answer of 01_autoencoders" in done.stdout


def test_an_unknown_assignment_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(BundleError, match=r"No assignment '42'.*there are: 00_welcome"):
        bundle(ROOT, "42", tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


# --- a later, fake assignment in a copy of the course --------------------------------------------------


def test_bundle_through_00_leaves_out_notebook_01_and_stubs_both_answers(course_copy, tmp_path):
    out = bundle(course_copy, "00", tmp_path / "bundle")
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == ["00_welcome"]
    fake = out / "course_utils" / "answers" / "a01_fake.py"
    assert stubbed(out / A00, "cosine_similarity_matrix")
    assert stubbed(fake, "doubled") and stubbed(fake, "halved")
    text = fake.read_text()
    assert 'KEPT_CONSTANT = "this module line is not an answer"' in text
    assert '"""Every element of x, twice as large."""' in text and "x: list[int],\n) -> list[int]:" in text
    assert "# The answers of 01_fake are not released yet." in text  # the module-level answer: a comment
    for rel, content in bundle_texts(out).items():
        assert not [line for line in FAKE_BODY_LINES if line in content], rel
    done = run_python("from course_utils import fake\nprint(fake.Halver.__name__)", out, tmp_path)
    assert done.returncode == 0 and "Halver" in done.stdout, done.stderr


def test_bundle_through_01_keeps_the_answers_of_00_and_stubs_those_of_01(course_copy, tmp_path):
    out = bundle(course_copy, "01", tmp_path / "bundle")
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == ["00_welcome", "01_fake"]
    assert "01 · Fake: a later assignment" in (out / "README.md").read_text()
    assert (out / A00).read_text() == answers.clean((course_copy / A00).read_text())
    done = run_python("""
        import torch
        from course_utils import fake, similarity
        from course_utils.reference import ReferenceNotReleased
        print(f"{float(similarity.cosine_similarity_matrix(torch.ones(1, 2), torch.ones(1, 2))):.5f}")
        for call in (lambda: fake.doubled([1]), lambda: fake.Halver().halved([1.0])):
            try:
                call()
            except ReferenceNotReleased as err:
                print("raised:", err)
        """, out, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1.00000")
    assert done.stdout.count("raised: This reference answer of 01_fake is not released yet") == 2

    released = bundle(course_copy, "01_fake", tmp_path / "all", solutions_through="01")
    text = (released / "course_utils" / "answers" / "a01_fake.py").read_text()
    assert text == answers.clean(FAKE_ANSWERS) and "result_of_doubling[:1]" not in text
    assert 'answer_review_question = "definitely b' in text
    with pytest.raises(BundleError, match="later than"):
        bundle(course_copy, "00", tmp_path / "late", solutions_through="01")


def test_a_body_line_elsewhere_in_the_bundle_stops_it(course_copy, tmp_path):
    path = course_copy / "notebooks" / "00_welcome" / "00_welcome.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Hint: `result_of_doubling = [2 * value for value in x]`"))
    nbformat.write(nb, path)
    with pytest.raises(BundleError, match=r"(?s)not safe.*00_welcome.ipynb contains 'result_of_doubling = \[2"):
        bundle(course_copy, "01", tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()
    nb.cells[-1].source = "### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"
    nbformat.write(nb, path)
    with pytest.raises(BundleError, match=r"(?s)not safe.*00_welcome.ipynb contains the marker 'BEGIN HIDDEN TESTS'"):
        bundle(course_copy, "01", tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


# --- where the bundle is written ---------------------------------------------------------------------


def test_refuses_a_folder_that_is_not_an_earlier_bundle(course_copy, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my own notes")
    with pytest.raises(BundleError, match=r"not empty and is not an earlier bundle"):
        bundle(course_copy, "00", out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    with pytest.raises(BundleError, match="inside"):
        bundle(course_copy, "00", course_copy / "notebooks" / "student")


def test_replaces_an_earlier_bundle_and_keeps_what_it_did_not_write(course_copy, tmp_path):
    out = tmp_path / "student-repo"
    bundle(course_copy, "01", out)
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert (out / "notebooks" / "01_fake" / "01_fake.ipynb").exists()
    bundle(course_copy, "00", out)
    assert not (out / "notebooks" / "01_fake").exists()  # the earlier bundle's files are gone
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert stubbed(out / "course_utils" / "answers" / "a01_fake.py", "doubled")
    assert json.loads((out / MARKER_FILE).read_text())["through"] == "00_welcome"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (bundle(course_copy, "00", empty) / "README.md").exists()


# --- the answer files -----------------------------------------------------------------------------


def test_every_solution_cell_is_its_answer_files_section():
    for notebook in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        assert answers.stamp(notebook, answers.path(ROOT, notebook.stem), write=False) == [], notebook.name


def test_a_section_without_its_cell_or_a_cell_without_its_section_is_refused(course_copy, tmp_path):
    notebook = course_copy / "solutions" / "00_welcome" / "00_welcome.ipynb"
    extra = tmp_path / "a00_welcome.py"
    extra.write_text((ROOT / A00).read_text() + "\n# %% not_a_cell\ndef f():\n    pass\n")
    with pytest.raises(answers.AnswersError, match="section not_a_cell has no solution cell"):
        answers.stamp(notebook, extra)
    missing = tmp_path / "none.py"
    with pytest.raises(answers.AnswersError, match="no section '# %% cosine_similarity_matrix'"):
        answers.stamp(notebook, missing)
