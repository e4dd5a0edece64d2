"""The judges of notebook 00's hidden tests.

They run in the grader, outside the student's process: ``mine`` holds what the hidden cell's ``observe()``
computed with the student's functions, ``ref`` what it computes with the answers in
``course_utils/answers/a00_welcome.py``. A CheckFailed fails the test; the student is told only the name
of the check, so names say what is checked, never the values.
"""
import torch

from course_utils import checks


def check_cosine_hidden(mine: dict, ref: dict) -> None:
    for trial in range(5):
        checks.check_close(mine[f"random {trial}"], ref[f"random {trial}"], name=f"S on random input {trial + 1}")
    s = mine["S(x, x)"]
    checks.check_close(s, ref["S(x, x)"], name="S(x, x) for float64 inputs")
    checks.check_close(s, s.T, name="S(x, x), which should be symmetric")
    checks.check_close(torch.diagonal(s), torch.ones(6, dtype=torch.float64), name="the diagonal of S(x, x)")
    checks.check_close(mine["S(5x, 0.1x)"], s, name="S(5x, 0.1x), which should not depend on scale")
    checks.check_true(bool((s.abs() <= 1 + 1e-9).all()), "cosine similarities must lie in [-1, 1]")
    checks.check_close(mine["zero rows"], torch.zeros(2, 4), name="the similarity of zero vectors")
    checks.check_close(mine["zero rows of b"], torch.zeros(4, 2), name="the similarity to zero vectors (rows of b)")
    if mine["device"] != "":
        raise checks.CheckFailed(mine["device"], "cosine_similarity_matrix should keep to its inputs' device")
    checks.check_true(mine["gradient"] is not None, "gradients must flow back to the inputs: no .detach(), no NumPy")
    checks.check_close(mine["gradient"], ref["gradient"], name="the gradient with respect to the inputs")
