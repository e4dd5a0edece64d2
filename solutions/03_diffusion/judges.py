"""The judges of notebook 03's hidden tests.

They run in the grader, outside the student's process: ``mine`` holds what the hidden cell's ``observe()``
computed with the student's functions, ``ref`` what it computes with the answers in
``course_utils/answers/a03_diffusion.py``. A CheckFailed fails the test; the student is told only the name
of the check, so names say what is checked, never the values.
"""
import torch

from course_utils import checks

IN_PLACE = "{} must not change its inputs in place: compute a new tensor instead"
FLOAT64 = {"rtol": 1e-12, "atol": 1e-12}  # float64 inputs: a float64 computation, not float32 precision in disguise


def _gradients_to(ref: dict, key: str, keep: tuple[int, ...]) -> dict:
    """``ref`` with the gradients of probe ``key`` kept only for the tensor arguments at positions ``keep``
    (among the tensor arguments): ``check_probe`` then requires and compares those alone."""
    given = ref[f"{key} gradients"]
    if type(given) is not list:
        return ref
    return {**ref, f"{key} gradients": [g if i in keep else None for i, g in enumerate(given)]}


def _device(report, name: str, check: str) -> None:
    """A device report (``checks.device_report``) must be empty."""
    if report != "":
        raise checks.CheckFailed(f"{name}: {report}", check)


def check_noise_schedule_hidden(mine: dict, ref: dict) -> None:
    for case in range(3):
        checks.check_close(mine[f"linear_betas {case}"], ref[f"linear_betas {case}"],
                           name=f"linear_betas on hidden input {case + 1}")
    betas = checks.check_tensor(mine["default betas"], "linear_betas(1000)")
    checks.check_close(betas, ref["default betas"], name="linear_betas(1000) with the default beta_start and beta_end")
    checks.check_close(betas.sum(), torch.tensor(10.05), rtol=1e-4, name="the sum of the 1,000 default betas")
    made = checks.check_tensor(mine["alpha_bar of the default betas"], "alpha_bar of the default betas")
    checks.check_true(made.shape == (1000,), "alpha_bar of 1,000 betas should have shape (1000,)")
    checks.check_true(bool((made > 0).all() and (made < 1).all()), "alpha_bar must stay strictly inside (0, 1)")
    checks.check_true(bool((made[1:] < made[:-1]).all()), "alpha_bar must fall at every step")
    checks.check_close(made, ref["alpha_bar of the default betas"], name="alpha_bar of the 1,000 default betas")
    for trial in range(4):
        checks.check_close(mine[f"alpha_bar {trial}"], ref[f"alpha_bar {trial}"],
                           name=f"alpha_bar on random input {trial + 1} of 4")
        checks.check_close([mine[f"alpha_bar input {trial}"]], [ref[f"alpha_bar input {trial}"]],
                           rtol=0, atol=0, name=IN_PLACE.format("alpha_bar"))
    # The result, the input afterwards, the gradients to betas (no .detach()) and the device contract.
    for case, label in enumerate(["20 random betas", "a single beta", "30 random float64 betas"]):
        checks.check_probe(mine, ref, f"probe {case}", f"alpha_bar of {label}", **(FLOAT64 if case == 2 else {}))


def check_q_sample_hidden(mine: dict, ref: dict) -> None:
    for trial in range(6):
        checks.check_close(mine[f"random {trial}"], ref[f"random {trial}"],
                           name=f"q_sample on random input {trial + 1} of 6 (each example at its own step)")
        checks.check_close(mine[f"inputs {trial}"], ref[f"inputs {trial}"],
                           rtol=0, atol=0, name=IN_PLACE.format("q_sample"))
    # Over many draws, x_t has mean sqrt(alpha_bar_t) x0 and variance 1 - alpha_bar_t (the closed form).
    drawn_all = checks.check_tensor(mine["many x_t"], "q_sample on many draws")
    checks.check_true(drawn_all.shape == (200_000, 1), "q_sample on many draws should keep x0's shape")
    t = ref["many t"]
    for step, ab in enumerate([0.9, 0.5, 0.1]):
        drawn = drawn_all[t == step, 0].double()
        checks.check_close(drawn.mean(), torch.tensor(2.0 * ab ** 0.5, dtype=torch.float64), atol=0.02, rtol=0.0,
                           name=f"the mean of x_t over many draws at step {step + 1} of 3 (sqrt(alpha_bar) x0)")
        checks.check_close(drawn.var(), torch.tensor(1 - ab, dtype=torch.float64), atol=0.02, rtol=0.0,
                           name=f"the variance of x_t over many draws at step {step + 1} of 3 (1 - alpha_bar)")
    checks.check_close(drawn_all, ref["many x_t"], name="q_sample on many draws")
    # The result, the inputs afterwards, the gradients to x0, noise and alpha_bar, the device contract.
    for case, label in enumerate(["(4, 2) points", "a batch of one (1, 1, 8, 8) image", "float64 (3, 5) inputs"]):
        checks.check_probe(mine, ref, f"probe {case}", f"q_sample on {label}", **(FLOAT64 if case == 2 else {}))
        _device(mine[f"schedule on the CPU {case}"], f"q_sample on {label} with alpha_bar on the CPU",
                "q_sample should move alpha_bar to x0's device (alpha_bar on the CPU, x0 on another device in "
                "this test)")
        _device(mine[f"t on the CPU {case}"], f"q_sample on {label} with t on the CPU",
                "q_sample should work with t on the CPU and x0 on another device")


def check_ddpm_loss_hidden(mine: dict, ref: dict) -> None:
    for case in range(3):
        loss = mine[f"loss {case}"]
        checks.check_close(loss, ref[f"loss {case}"],
                           name=f"ddpm_loss on random batch {case + 1} of 3 with a seeded generator")
        checks.check_true(mine[f"gradient {case}"] is not None,
                          "gradients must flow from ddpm_loss back to the model's parameters: no .item(), no .detach()")
        checks.check_close(mine[f"gradient {case}"], ref[f"gradient {case}"],
                           name=f"the gradient of ddpm_loss with respect to a model parameter (batch {case + 1})")
        checks.check_close([mine[f"x0 after {case}"]], [ref[f"x0 after {case}"]],
                           rtol=0, atol=0, name=IN_PLACE.format("ddpm_loss"))
    schedule = torch.cumprod(1 - torch.linspace(0.01, 0.3, 50), 0)  # the hidden cell's, T = 50
    for label, what in [("spy", "with a seeded generator"), ("unseeded", "without a generator")]:
        seen = mine[f"{label} saw"]
        checks.check_true(type(seen) is list and len(seen) == 2,
                          f"ddpm_loss {what} should call the model once, on the whole batch")
        noisy = checks.check_tensor(seen[0], "the x_t the model gets")
        steps = checks.check_tensor(seen[1], "the steps the model gets")
        checks.check_true(steps.shape == (3000,) and steps.dtype in (torch.int64, torch.int32),
                          f"the model should get one integer step per example ({what})")
        checks.check_true(int(steps.min()) == 0 and int(steps.max()) == 49 and len(steps.unique()) == 50,
                          f"the steps should cover [0, T) uniformly, T = len(alpha_bar) ({what})")
        checks.check_true(noisy.shape == (3000, 2), f"the model should get x_t of x0's shape ({what})")
        noise = noisy.double() / (1 - schedule.double()[steps.long()]).sqrt()[:, None]  # x0 = 0: x_t = sqrt(1 - ab) eps
        checks.check_close(noise.mean(), torch.tensor(0.0, dtype=torch.float64), atol=0.08, rtol=0.0,
                           name=f"the mean of the noise in x_t ({what}), which should be standard normal")
        checks.check_close(noise.var(), torch.tensor(1.0, dtype=torch.float64), atol=0.1, rtol=0.0,
                           name=f"the variance of the noise in x_t ({what}), which should be standard normal")
        checks.check_close(mine[f"{label} loss"], torch.tensor(1.0), atol=0.1, rtol=0.0,
                           name=f"the loss of a model that always predicts 0 noise ({what})")
    seen, theirs = mine["spy saw"], ref["spy saw"]
    checks.check_close(seen[1], theirs[1], check_dtype=False,
                       name="the steps drawn with a seeded generator (draw t first, then the noise)")
    checks.check_close(seen[0], theirs[0], name="x_t with a seeded generator (draw t first, then the noise)")
    checks.check_close(mine["spy loss"], ref["spy loss"],
                       name="ddpm_loss with a seeded generator, a model predicting 0")
    checks.check_close(mine["float64 loss"], ref["float64 loss"], atol=1e-10,
                       name="ddpm_loss on float64 data with a model that knows the noise (0, in float64)")
    checks.check_probe(mine, ref, "probe", "ddpm_loss with a seeded generator on the CPU")
    _device(mine["device without a generator"], "ddpm_loss without a generator",
            "ddpm_loss without a generator should keep to x0's device (another device than the CPU's in this test)")
    checks.check_true(mine["drew on the CPU without a generator"] is False,
                      "ddpm_loss without a generator should draw t and the noise on x0's device (device=x0.device), "
                      "not on the CPU")


def check_ddpm_step_hidden(mine: dict, ref: dict) -> None:
    names = ["ddpm_step at the last step", "ddpm_step at a middle step on images", "ddpm_step at t = 1",
             "ddpm_step at t = 0 without noise (noise is None)",
             "ddpm_step at t = 0 given noise (no noise should be added at t == 0, even when it is given)",
             "ddpm_step at t = 0 on images given noise (no noise should be added at t == 0)",
             "ddpm_step on a batch of one in float64"]
    for case, name in enumerate(names):
        # The gradients to x_t, eps and noise (tensor arguments 1, 2 and 5): a step is differentiable in them.
        # Not those to betas and alpha_bar: a step may read beta_t from either, for a consistent schedule.
        checks.check_probe(mine, _gradients_to(ref, f"step {case}", (0, 1, 4)), f"step {case}", name,
                           **(FLOAT64 if case == 6 else {}))
    checks.check_close(mine["step 4"], mine["step 3"],
                       name="ddpm_step at t = 0 with and without noise given, which should be the same")


def check_ddim_step_hidden(mine: dict, ref: dict) -> None:
    names = ["ddim_step from the last step to a middle one", "ddim_step by one step on images",
             "ddim_step to t_prev = -1 (the predicted x0)", "ddim_step from the last step to t_prev = 0",
             "ddim_step on a batch of one in float64 to t_prev = -1", "ddim_step on float64 images"]
    for case, name in enumerate(names):
        # The gradients to x_t and eps (tensor arguments 1 and 2): the step is differentiable in them.
        checks.check_probe(mine, _gradients_to(ref, f"step {case}", (0, 1)), f"step {case}", name,
                           **(FLOAT64 if case >= 4 else {}))
    clean = ref["clean"]
    for number, t in enumerate((0, 50, 99)):
        checks.check_close(mine[f"jump {t} -1"], clean, atol=1e-4,
                           name=f"ddim_step to t_prev = -1 given the true noise, from step {number + 1} of 3 "
                                "(should recover x0)")
    checks.check_close(mine["jump 99 20"], ref["true x_20"], atol=1e-4,
                       name="ddim_step given the true noise to an earlier step (should land on x at that step)")
    checks.check_close(mine["jump 50 0"], ref["true x_0"], atol=1e-4,
                       name="ddim_step given the true noise to t_prev = 0 (should land on x at step 0)")
    checks.check_close(mine["two jumps"], mine["one jump"], atol=1e-5,
                       name="two ddim_steps with the same eps, which should equal one jump")
    checks.check_close(mine["one jump"], ref["one jump"], name="ddim_step from the last step to t_prev = -1")
