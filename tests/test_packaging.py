"""The project installs what it needs, in one consistent way."""
from __future__ import annotations

import re
import sys

import pytest
import yaml

from conftest import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda-forge name, where they differ


def _requirements(items: list[str]) -> dict[str, str]:
    """name -> version range, from 'name>=1.0; marker' strings."""
    found = {}
    for item in items:
        spec = item.split(";")[0].strip()
        name, version = re.match(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec).groups()
        found[name.lower()] = version.replace(" ", "")
    return found


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip = _requirements(project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = _requirements([d for d in env["dependencies"] if isinstance(d, str)])
    expected = {CONDA_NAMES.get(name, name): version for name, version in pip.items()}
    assert "conda-forge" in env["channels"]
    missing = {n: v for n, v in expected.items() if conda.get(n) != v}
    assert not missing, f"environment.yml lacks or disagrees on: {missing}"
    extra = set(conda) - set(expected) - {"python", "pip"}
    assert not extra, f"environment.yml has dependencies pyproject.toml does not: {extra}"
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert any("-e ." in line or "--editable ." in line for line in pip_section)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make run" in readme


def test_torch_and_torchvision_are_a_matched_pair():
    import torch
    import torchvision

    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]])
    kept = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)  # a compiled op
    assert kept.tolist() == [0, 2]


def test_reference_classifier_weights_ship_with_the_package():
    from importlib.resources import files

    assert (files("course_utils") / "assets" / "digits_classifier.pt").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "assets/*.pt" in package_data["course_utils"]


@pytest.mark.parametrize("path", sorted((ROOT / "course_utils").rglob("*.py")), ids=lambda p: p.name)
def test_course_utils_modules_stay_small(path):
    """STYLE.md: one concept per module, readable in one sitting (about 300 lines at most)."""
    assert len(path.read_text().splitlines()) <= 300, f"{path.name} has grown past 300 lines: split it"
