"""`course bundle`: the students' repository holds the releases, and no answer before it is due."""
from __future__ import annotations

import ast
import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from autograder.bundle import MARKER_FILE, BundleError, bundle, find_marked, stub_module
from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MESSAGE = ("course_utils.similarity.cosine_similarity_matrix is the reference answer to exercise "
           "'cosine_similarity_matrix' of assignment 00_welcome; it is released after 00_welcome is due.")

FAKE_MODULE = '''\
"""A reference answer of a later, fake assignment."""
from __future__ import annotations

from . import reference


@reference.answers("01_fake", "doubled")
def doubled(
    x: list[int],
) -> list[int]:
    """Every element of x, twice as large."""
    # the hint of the answer key: a list comprehension
    result_of_doubling = [2 * value for value in x]
    return result_of_doubling
    # trailing remark of the answer key


class Halver:
    @reference.answers("01_fake", "halved")
    def halved(self, x: list[float]) -> list[float]:
        halved_values = [value / 2 for value in x]
        return halved_values


KEPT_CONSTANT = "this module line is not an answer"
'''
FAKE_BODY_LINES = ["# the hint of the answer key: a list comprehension", "result_of_doubling = [2 * value for value in x]",
                   "# trailing remark of the answer key", "halved_values = [value / 2 for value in x]"]


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


def body_lines(fn) -> list[str]:
    """The non-trivial lines of a function's body after its docstring (found independently of the bundler)."""
    source = textwrap.dedent(inspect.getsource(fn))
    node = ast.parse(source).body[0]
    lines = source.splitlines()
    start = node.body[0].end_lineno if isinstance(node.body[0], ast.Expr) else node.body[0].lineno - 1
    return [s for s in (line.strip() for line in lines[start:node.end_lineno])
            if len(s) >= 16 and not s.startswith("#")]


@pytest.fixture(scope="module")
def bundle00(tmp_path_factory) -> Path:
    return bundle(ROOT, "00", tmp_path_factory.mktemp("bundle00") / "student-repo")


@pytest.fixture
def course_copy(tmp_path) -> Path:
    """A copy of the course as it was at assignment 00, plus a fake next assignment 01_fake and its fake reference.

    (The package is copied whole: its references of the real 01 are stubbed alongside the fake ones.)
    """
    root = tmp_path / "course"
    ignore = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints")
    for name in ("solutions", "notebooks"):
        shutil.copytree(ROOT / name / "00_welcome", root / name / "00_welcome", ignore=ignore)
    shutil.copytree(ROOT / "course_utils", root / "course_utils", ignore=ignore)
    for name in ("pyproject.toml", "environment.yml", "README.md"):
        shutil.copy(ROOT / name, root / name)
    (root / "course_utils" / "fake.py").write_text(FAKE_MODULE)
    for kind in ("solutions", "notebooks"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Fake: a later assignment"),
                    nbformat.v4.new_code_cell("print('the fake assignment')")]
        (root / kind / "01_fake").mkdir()
        nbformat.write(nb, root / kind / "01_fake" / "01_fake.ipynb")
    return root


def function_source(path: Path, name: str) -> str:
    text = path.read_text()
    node = next(n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef) and n.name == name)
    return "\n".join(text.splitlines()[node.lineno - 1:node.end_lineno])


def stubbed(path: Path, name: str) -> bool:
    node = next(n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef) and n.name == name)
    body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
    return len(body) == 1 and isinstance(body[0], ast.Raise) and "ReferenceNotReleased" in ast.unparse(body[0])


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


def test_no_line_of_an_unreleased_reference_and_no_marker_reaches_the_bundle(bundle00):
    from course_utils import similarity
    from course_utils.reference import REGISTRY

    secrets = [line for (assignment, _), fn in REGISTRY.items() if assignment == "00_welcome" for line in body_lines(fn)]
    assert "a_unit = a / a.norm(dim=1, keepdim=True).clamp_min(eps)  # (N, D)" in secrets
    assert similarity.cosine_similarity_matrix in REGISTRY.values()
    for rel, text in bundle_texts(bundle00).items():
        assert not [s for s in secrets if s in text], f"{rel} holds a line of an unreleased reference"
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, rel
    stub = function_source(bundle00 / "course_utils" / "similarity.py", "cosine_similarity_matrix")
    original = function_source(ROOT / "course_utils" / "similarity.py", "cosine_similarity_matrix")
    docstring_and_signature = original.split('"""')[:2]
    assert stub.split('"""')[:2] == docstring_and_signature  # decorator, signature and docstring kept
    assert stubbed(bundle00 / "course_utils" / "similarity.py", "cosine_similarity_matrix")


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
    original = ROOT / "course_utils" / "similarity.py"
    assert (out / "course_utils" / "similarity.py").read_text() == original.read_text()
    done = run_python(f"""
        import pathlib, torch
        import course_utils.similarity as s
        assert pathlib.Path(s.__file__).is_relative_to({str(out)!r}), s.__file__
        got = s.cosine_similarity_matrix(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 1.0], [0.0, -3.0]]))
        torch.testing.assert_close(got, torch.tensor([[0.5 ** 0.5, 0.0], [0.5 ** 0.5, -1.0]]))
        print("computed")
        """, out, tmp_path)
    assert done.returncode == 0 and "computed" in done.stdout, done.stderr


def test_bundle_through_01_releases_notebook_01_without_its_references(tmp_path):
    from course_utils import autoencoders, pca, vae  # noqa: F401  (importing them fills the registry)
    from course_utils.reference import REGISTRY

    out = bundle(ROOT, "01", tmp_path / "bundle")
    assert [p.name for p in sorted((out / "notebooks").iterdir())] == ["00_welcome", "01_autoencoders"]
    secrets = [line for (assignment, _), fn in REGISTRY.items() if assignment == "01_autoencoders"
               for line in body_lines(fn)]
    assert {e for a, e in REGISTRY if a == "01_autoencoders"} == {
        "pca_fit", "pca_project", "pca_reconstruct", "corrupt", "reparameterise", "kl_to_standard_normal",
        "negative_elbo"}
    for rel, text in bundle_texts(out).items():
        assert not [line for line in secrets if line in text], f"{rel} holds a line of an unreleased reference"
    for module, name in [("pca", "pca_fit"), ("autoencoders", "corrupt"), ("vae", "negative_elbo")]:
        assert stubbed(out / "course_utils" / f"{module}.py", name)
    assert not stubbed(out / "course_utils" / "similarity.py", "cosine_similarity_matrix")  # 00's is released
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
    assert "(3, 64)" in done.stdout and "raised: course_utils.vae.reparameterise" in done.stdout


def test_an_unknown_assignment_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(BundleError, match=r"No assignment '42'.*there are: 00_welcome"):
        bundle(ROOT, "42", tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


# --- a later, fake assignment in a copy of the course --------------------------------------------------


def test_bundle_through_00_leaves_out_notebook_01_and_stubs_both_references(course_copy, tmp_path):
    out = bundle(course_copy, "00", tmp_path / "bundle")
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == ["00_welcome"]
    fake = out / "course_utils" / "fake.py"
    assert stubbed(out / "course_utils" / "similarity.py", "cosine_similarity_matrix")
    assert stubbed(fake, "doubled") and stubbed(fake, "halved")
    text = fake.read_text()
    assert "from . import reference" in text and "raise reference.ReferenceNotReleased(" in text
    assert "course_utils.fake.Halver.halved is the reference answer" in text
    assert 'KEPT_CONSTANT = "this module line is not an answer"' in text
    assert '"""Every element of x, twice as large."""' in text and "x: list[int],\n) -> list[int]:" in text
    for rel, content in bundle_texts(out).items():
        assert not [line for line in FAKE_BODY_LINES if line in content], rel


def test_bundle_through_01_keeps_the_reference_of_00_and_stubs_that_of_01(course_copy, tmp_path):
    out = bundle(course_copy, "01", tmp_path / "bundle")
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == ["00_welcome", "01_fake"]
    assert "01 · Fake: a later assignment" in (out / "README.md").read_text()
    similarity = "course_utils/similarity.py"
    assert (out / similarity).read_text() == (course_copy / similarity).read_text()
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
    assert "raised: course_utils.fake.doubled is the reference answer to exercise 'doubled' of assignment 01_fake" \
        in done.stdout and "raised: course_utils.fake.Halver.halved" in done.stdout

    released = bundle(course_copy, "01_fake", tmp_path / "all", solutions_through="01")
    assert (released / "course_utils" / "fake.py").read_text() == FAKE_MODULE
    with pytest.raises(BundleError, match="later than"):
        bundle(course_copy, "00", tmp_path / "late", solutions_through="01")


def test_a_marker_whose_assignment_is_not_a_literal_fails_loudly(course_copy, tmp_path):
    (course_utils := course_copy / "course_utils" / "fake.py").write_text(
        FAKE_MODULE.replace('@reference.answers("01_fake", "doubled")', '@reference.answers(ASSIGNMENT, "doubled")'))
    with pytest.raises(BundleError, match=r"fake.py:\d+ \(doubled\).*string literal.*not ASSIGNMENT"):
        bundle(course_copy, "01", tmp_path / "bundle")
    assert course_utils.exists() and not (tmp_path / "bundle").exists()


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
    assert stubbed(out / "course_utils" / "fake.py", "doubled")
    assert json.loads((out / MARKER_FILE).read_text())["through"] == "00_welcome"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (bundle(course_copy, "00", empty) / "README.md").exists()


# --- the rewriting of marked functions ----------------------------------------------------------------


@pytest.mark.parametrize("imports, raises", [
    ("from .reference import answers", "from .reference import ReferenceNotReleased, answers"),
    ("from .reference import (\n    answers,\n)", "from .reference import ReferenceNotReleased"),
    ("from .reference import ReferenceNotReleased as NotYet, answers", "raise NotYet("),
    ("from course_utils import reference\nanswers = reference.answers", "raise reference.ReferenceNotReleased("),
    ("import course_utils.reference\nanswers = course_utils.reference.answers",
     "raise course_utils.reference.ReferenceNotReleased("),
])
def test_the_stub_names_the_error_as_the_module_can(tmp_path, imports, raises):
    package = tmp_path / "course_utils"
    package.mkdir()
    text = f'"""A module."""\n{imports}\n\n\n@answers("03_diffusion", "q")\ndef q(x):  # noise\n    return x * 0.5  # the schedule\n'
    (package / "mod.py").write_text(text)
    (marked,) = find_marked(package)
    assert (marked.assignment, marked.exercise, marked.qualname) == ("03_diffusion", "q", "course_utils.mod.q")
    new = stub_module(text, Path("course_utils/mod.py"), [marked])
    assert raises in new and "the schedule" not in new and "def q(x):  # noise" in new
    compile(new, "mod.py", "exec")
