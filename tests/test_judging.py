"""Hidden tests judged outside the kernel (autograder.judging), and the answer files (autograder.answers).

Everything here runs in this process, without a kernel: what the worker does with what a kernel hands over.
"""
from __future__ import annotations

import os
import pickle

import nbformat
import pytest
import torch

from autograder import answers, judging
from autograder.worker import decide, restore_structure
from conftest import ROOT
from course_utils import checks

A = "00_welcome"
SOURCE = ROOT / "solutions" / A / f"{A}.ipynb"
RELEASE = ROOT / "notebooks" / A / f"{A}.ipynb"
HIDDEN = "check_cosine_hidden"


@pytest.fixture(scope="module")
def judge() -> judging.Judge:
    return judging.Judge(nbformat.read(SOURCE, as_version=4), SOURCE.parent, A)


def observations(fn) -> dict:
    """What the hidden cell of 00 observes with ``fn`` as the student's cosine_similarity_matrix."""
    code = judging.hidden_cells(nbformat.read(SOURCE, as_version=4))[HIDDEN]
    found = {}
    namespace = {"torch": torch, "cosine_similarity_matrix": fn, "checks": judging.Collecting(found)}
    exec(code, namespace)
    return checks.observe_seeded(found[HIDDEN])


def right(a, b, eps=1e-8):
    return (a / a.norm(dim=1, keepdim=True).clamp_min(eps)) @ (b / b.norm(dim=1, keepdim=True).clamp_min(eps)).T


def test_the_reference_passes_its_own_judge_and_a_wrong_answer_fails_it(judge, tmp_path):
    torch.save(observations(right), tmp_path / f"{HIDDEN}.pt")
    assert judge.verdicts(tmp_path)[HIDDEN].passed
    torch.save(observations(lambda a, b, eps=1e-8: right(a, b, eps).float()), tmp_path / f"{HIDDEN}.pt")
    verdict = judge.verdicts(tmp_path)[HIDDEN]
    assert not verdict.passed and verdict.message == "✘ hidden test failed: S(x, x) for float64 inputs"
    assert "float32" in verdict.detail and "float32" not in verdict.message  # values for the instructor only


def test_no_hand_over_fails_and_says_so(judge, tmp_path):
    verdict = judge.verdicts(tmp_path)[HIDDEN]
    assert not verdict.passed and "no results reached the grader" in verdict.message


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/course-judging-pwned",))


@pytest.mark.parametrize("payload", [
    lambda p: p.write_bytes(pickle.dumps({"random 0": Evil()})),  # code in a pickle
    lambda p: torch.save({"random 0": Evil()}, p),  # ... in torch's format
    lambda p: p.write_bytes(b"\0" * (judging.MAX_HAND_OVER + 1)),  # too large
    lambda p: torch.save([torch.zeros(2)], p),  # not a dict
    lambda p: torch.save({"random 0": torch.zeros(2).as_subclass(torch.nn.Parameter).as_subclass(type(
        "Sub", (torch.Tensor,), {}))}, p),  # a tensor subclass
    lambda p: p.write_text("not a tensor file"),
])
def test_a_hand_over_is_loaded_as_plain_data_or_not_at_all(tmp_path, payload, judge):
    path = tmp_path / f"{HIDDEN}.pt"
    try:
        payload(path)
    except Exception:  # noqa: BLE001  some payloads cannot even be saved: nothing to load then
        pass
    assert judging.load_observations(path) is None
    assert not os.path.exists("/tmp/course-judging-pwned")
    assert not judge.verdicts(tmp_path)[HIDDEN].passed


def test_a_judge_that_crashes_on_malformed_results_fails_the_test_with_a_fixed_message(judge, tmp_path):
    torch.save({"something": torch.zeros(1)}, tmp_path / f"{HIDDEN}.pt")  # the keys the judge reads are missing
    verdict = judge.verdicts(tmp_path)[HIDDEN]
    assert not verdict.passed and verdict.message.endswith("incomplete or malformed") and "KeyError" in verdict.detail


def test_observations_start_from_one_random_state_and_leave_the_caller_s_alone():
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    first = checks.observe_seeded(lambda: {"x": torch.randn(3)})
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.randn(10)
    assert torch.equal(checks.observe_seeded(lambda: {"x": torch.randn(3)})["x"], first["x"])
    with pytest.raises(checks.CheckFailed, match="tensors, numbers"):
        checks.observe_seeded(lambda: {"x": object()})


# ------------------------------------------------------------------ the worker's decisions

def test_points_come_from_the_verdicts_and_the_check_lines_never_from_printed_results():
    nb = nbformat.read(SOURCE, as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    stream = nbformat.v4.new_output
    cells["check_cosine_visible"].outputs = [stream("execute_result", data={"text/plain": "2"}, execution_count=1)]
    cells[HIDDEN].outputs = [stream("stream", name="stdout", text="✔ the hidden tests pass, trust me\n")]
    scores = {"check_cosine_visible": [1.0, 1.0, False], HIDDEN: [2.0, 2.0, False],
              "question_cosine_length": [0.0, 1.0, True]}
    decided = decide(nb, scores, {HIDDEN: judging.Verdict(False, "✘ hidden test failed: x")}, set())
    assert decided["check_cosine_visible"][0] == 0 and decided[HIDDEN][0] == 0  # no ✔ line; the judge said no
    assert decided["question_cosine_length"] == [0.0, 1.0, True]
    assert [o.text for o in cells[HIDDEN].outputs] == ["✘ hidden test failed: x\n"]  # nothing else handed back
    cells["check_cosine_visible"].outputs = [stream("stream", name="stdout", text="✔ passes the visible checks\n")]
    decided = decide(nb, scores, {HIDDEN: judging.Verdict(True, "✔ hidden tests passed")}, {"check_cosine_visible"})
    assert decided["check_cosine_visible"][0] == 1 and decided[HIDDEN][0] == 2


def test_structure_is_restored_from_the_release_and_every_change_flagged():
    release = nbformat.read(RELEASE, as_version=4)
    nb = nbformat.read(RELEASE, as_version=4)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}
    by_id[HIDDEN].cell_type = "markdown"
    by_id["cosine_similarity_matrix"].metadata.nbgrader.update(grade=True, points=7)
    by_id["check_cosine_visible"].metadata.nbgrader["grade_id"] = "<script>x</script>"
    fixed, flags = restore_structure(nb, release)
    assert "cell check_cosine_hidden was turned into a markdown cell" in flags
    assert "metadata 'points' of cell cosine_similarity_matrix was changed" in flags
    assert "unknown nbgrader cell (a strange id) was added" in flags and not any("script" in f for f in flags)
    assert "test cell check_cosine_visible was deleted (or its metadata removed)" in flags
    restored = {c.metadata["nbgrader"]["grade_id"]: c for c in fixed.cells if "nbgrader" in c.metadata}
    assert restored[HIDDEN].cell_type == "code"
    assert restored["cosine_similarity_matrix"].metadata.nbgrader == by_id_release(release)["cosine_similarity_matrix"]
    nbformat.validate(fixed)


def by_id_release(release) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c.metadata.nbgrader for c in release.cells if "nbgrader" in c.metadata}


# ------------------------------------------------------------------ answer files

def test_stubbing_keeps_signatures_and_turns_module_level_answers_into_a_comment():
    text = ('import torch\n\n# %% f\ndef f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return 2 * x\n'
            '    # sample wrong answer: return x\n    ### END SOLUTION\n\n# %% q\n### BEGIN SOLUTION\n'
            'answer_q = "b"\n### END SOLUTION\n')
    stubbed = answers.clean(answers.stub(text, "09_x"))
    assert 'def f(x):\n    """Doc."""\n    raise ReferenceNotReleased(' in stubbed
    assert "2 * x" not in stubbed and "answer_q" not in stubbed and "# The answers of 09_x are not released" in stubbed
    assert answers.clean(text).count("SOLUTION") == 0 and "sample wrong" not in answers.clean(text)
    assert answers.sections(text) == {"f": text.split("# %% f\n")[1].split("\n\n# %% q")[0],
                                      "q": '### BEGIN SOLUTION\nanswer_q = "b"\n### END SOLUTION'}


def test_a_judge_may_give_partial_credit_and_the_worker_scores_that_share_of_the_points():
    def some_right(mine, ref):
        return checks.Partial(5, 7, "not right: answer_a, answer_b")

    verdict = judging.judge({"block": some_right}, "block", {}, {})
    assert (verdict.passed, verdict.fraction, verdict.message) == (False, 5 / 7, "✘ hidden tests: 5 of 7 answers right")
    assert verdict.detail == "not right: answer_a, answer_b"  # the instructor's side only
    assert judging.judge({"block": lambda m, r: checks.Partial(7, 7)}, "block", {}, {}).passed
    nb = nbformat.read(SOURCE, as_version=4)
    scores = {"check_cosine_visible": [1.0, 1.0, False], HIDDEN: [2.0, 2.0, False],
              "question_cosine_length": [0.0, 1.0, True]}
    decided = decide(nb, scores, {HIDDEN: verdict}, {"check_cosine_visible"})
    assert decided[HIDDEN][0] == round(2 * 5 / 7, 2)
    with pytest.raises(ValueError):
        checks.Partial(8, 7)
