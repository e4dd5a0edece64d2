"""Tests for course_utils.config: mode, device, seeding, data folder, setup()."""
import random
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from course_utils import config
from course_utils.config import Course, data_dir, environment, fast_mode, get_device, pick, seed_everything, setup


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("COURSE_FAST", "COURSE_DEVICE", "COURSE_DATA"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def keep_rcparams():
    with matplotlib.rc_context():
        yield


# ---------------------------------------------------------------- fast_mode / pick

def test_fast_mode_off_when_unset():
    assert fast_mode() is False


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "True"])
def test_fast_mode_on(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    assert fast_mode() is True


@pytest.mark.parametrize("value", ["0", "false", "", "no", "2"])
def test_fast_mode_off(monkeypatch, value):
    monkeypatch.setenv("COURSE_FAST", value)
    assert fast_mode() is False


def test_fast_mode_reads_environment_at_call_time(monkeypatch):
    assert fast_mode() is False
    monkeypatch.setenv("COURSE_FAST", "1")
    assert fast_mode() is True
    monkeypatch.setenv("COURSE_FAST", "0")
    assert fast_mode() is False


def test_pick_follows_mode(monkeypatch):
    fast, full = object(), object()
    assert pick(fast=fast, full=full) is full
    monkeypatch.setenv("COURSE_FAST", "1")
    assert pick(fast=fast, full=full) is fast
    assert pick(fast=50, full=5000) == 50


def test_pick_is_keyword_only():
    with pytest.raises(TypeError):
        pick(1, 2)


# ---------------------------------------------------------------- get_device

needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
no_accelerator = pytest.mark.skipif(
    torch.cuda.is_available() or (getattr(torch.backends, "mps", None) is not None
                                  and torch.backends.mps.is_available()),
    reason="an accelerator is present")


@no_accelerator
def test_get_device_defaults_to_cpu_here():
    device = get_device()
    assert isinstance(device, torch.device)
    assert device.type == "cpu"


def test_get_device_prefer_cpu():
    assert get_device(prefer="cpu") == torch.device("cpu")
    assert get_device("cpu").type == "cpu"


def test_get_device_env_cpu(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_prefer_overrides_environment(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    assert get_device(prefer="cpu") == torch.device("cpu")


@needs_no_gpu
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_env_cuda_without_gpu_raises_with_fix(monkeypatch, name):
    monkeypatch.setenv("COURSE_DEVICE", name)
    with pytest.raises(RuntimeError) as info:
        get_device()
    message = str(info.value)
    assert name in message
    assert "COURSE_DEVICE" in message and "Unset" in message  # names the fix


@needs_no_gpu
def test_prefer_cuda_without_gpu_raises():
    with pytest.raises(RuntimeError, match="CUDA"):
        get_device(prefer="cuda")


# ---------------------------------------------------------------- seed_everything

def _draws():
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist(), torch.randint(0, 10**6, (2,)).tolist()


def test_seed_everything_repeats_every_generator():
    seed_everything(123)
    first = _draws()
    seed_everything(123)
    second = _draws()
    assert first == second
    seed_everything(124)
    third = _draws()
    # each generator gives different values for another seed
    for a, b in zip(first, third):
        assert a != b


def test_seed_everything_matches_individual_seeding():
    seed_everything(7)
    got = _draws()
    random.seed(7)
    np.random.seed(7)
    torch.manual_seed(7)
    assert got == _draws()


# ---------------------------------------------------------------- data_dir

def test_data_dir_default_under_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_dir() == Path.home() / ".cache" / "course-kit" / "data"
    assert data_dir() == tmp_path / ".cache" / "course-kit" / "data"


def test_data_dir_empty_env_means_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_DATA", "")
    assert data_dir() == tmp_path / ".cache" / "course-kit" / "data"


def test_data_dir_honours_course_data(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "somewhere"))
    assert data_dir() == tmp_path / "somewhere"
    assert not (tmp_path / "somewhere").exists()  # not created


def test_data_dir_expands_tilde(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_DATA", "~/datasets")
    assert data_dir() == tmp_path / "datasets"
    assert "~" not in str(data_dir())


# ---------------------------------------------------------------- setup / environment

def test_setup_returns_course_and_prints_one_line(capsys, keep_rcparams):
    course = setup(seed=5)
    assert isinstance(course, Course)
    assert course.seed == 5
    assert course.fast is False and course.mode == "FULL"
    assert course.device == get_device()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert f"device {course.device}" in lines[0]
    assert "FULL mode" in lines[0]
    assert "seed 5" in lines[0]


def test_setup_fast_mode_and_device(monkeypatch, capsys, keep_rcparams):
    monkeypatch.setenv("COURSE_FAST", "1")
    course = setup(seed=1, device="cpu")
    assert course.fast is True and course.mode == "FAST"
    assert course.device == torch.device("cpu")
    out = capsys.readouterr().out
    assert "FAST mode" in out and "device cpu" in out


def test_setup_seeds_everything(keep_rcparams):
    setup(seed=11, quiet=True)
    first = _draws()
    setup(seed=11, quiet=True)
    assert _draws() == first


def test_setup_quiet_prints_nothing(capsys, keep_rcparams):
    setup(seed=0, quiet=True)
    assert capsys.readouterr().out == ""


def test_setup_applies_style(keep_rcparams):
    from course_utils import viz

    matplotlib.rcParams["axes.titleweight"] = "normal"
    setup(quiet=True)
    assert matplotlib.rcParams["axes.titleweight"] == viz.STYLE["axes.titleweight"]


def test_course_is_frozen():
    course = Course(device=torch.device("cpu"), fast=True, seed=0)
    with pytest.raises(Exception):
        course.seed = 1  # type: ignore[misc]


def test_environment_report(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    report = environment()
    for key in ("torch", "torchvision", "device", "mode"):
        assert key in report
    assert report["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert report["device"] == str(get_device())
    assert report["mode"] == "FAST"
    monkeypatch.setenv("COURSE_FAST", "0")
    assert config.environment()["mode"] == "FULL"
