"""The judges of notebook 04's hidden tests.

They run in the grader, outside the student's process: ``mine`` holds what the hidden cell's ``observe()``
computed with the student's functions, ``ref`` what it computes with the answers in
``course_utils/answers/a04_flows.py``. A CheckFailed fails the test; the student is told only the name
of the check, so names say what is checked, never the values.
"""
import math

import torch

from course_utils import checks


def _path(value, steps: int, what: str) -> list:
    """``value`` if it is a list of ``steps + 1`` tensors; else a CheckFailed."""
    checks.check_true(type(value) is list, f"{what} should be a list of tensors")
    checks.check_true(len(value) == steps + 1, f"{what} should hold steps + 1 states, x0 first")
    for state in value:
        checks.check_tensor(state, f"every state of {what}")
    return value


def check_coupling_hidden(mine: dict, ref: dict) -> None:
    for trial, (batch, dim) in enumerate([(7, 2), (3, 5), (1, 4)]):
        x, mask, case = ref[f"x {trial}"], ref[f"mask {trial}"], f"({batch}, {dim}) inputs"
        kept = mask.bool()
        y = checks.check_tensor(mine[f"y {trial}"], f"coupling_forward's y on {case}")
        checks.check_true(tuple(y.shape) == (batch, dim), f"coupling_forward's y should be shaped like x, on {case}")
        checks.check_close(y[:, kept], x[:, kept], name=f"the kept coordinates (mask 1) of y, unchanged, on {case}")
        checks.check_close(y, ref[f"y {trial}"], name=f"coupling_forward's y on {case}")
        checks.check_close(mine[f"log_det {trial}"], ref[f"log_det {trial}"],
                           name=f"coupling_forward's log-determinant (one per example) on {case}")
        checks.check_close(mine[f"inverse(y) {trial}"], x, atol=1e-5, name=f"inverse(forward(x)) on {case}")
        checks.check_close(mine[f"inverse(x) {trial}"], ref[f"inverse(x) {trial}"],
                           name=f"coupling_inverse on {case}")
        checks.check_close(mine[f"forward(inverse(x)) {trial}"], x, atol=1e-5,
                           name=f"forward(inverse(y)) on {case}")
        checks.check_close(mine[f"x after {trial}"], x, atol=0.0, rtol=0.0,
                           name=f"the input x after the calls on {case} (it must not change in place)")
    for trial in range(3):
        jacobian = checks.check_tensor(mine[f"jacobian {trial}"], "the Jacobian of coupling_forward")
        checks.check_close(jacobian, ref[f"jacobian {trial}"], atol=1e-5,
                           name=f"the Jacobian of coupling_forward at point {trial + 1}")
        log_det = checks.check_tensor(mine[f"point log_det {trial}"], "the log-determinant at one point")
        checks.check_close(log_det, torch.linalg.slogdet(jacobian)[1][None], atol=1e-5,
                           name=f"the log-determinant against the brute-force Jacobian's at point {trial + 1}")
        checks.check_close(log_det, ref[f"point log_det {trial}"], name=f"the log-determinant at point {trial + 1}")
    checks.check_true(mine["gradient of the last layer"] is not None,
                      "gradients must reach the net's parameters: no .detach(), no torch.no_grad() inside the layer")
    checks.check_close(mine["gradient of the last layer"], ref["gradient of the last layer"], atol=1e-5,
                       name="the gradient of a loss of y and the log-determinant with respect to the net's weights")
    checks.check_close(mine["flow z"], ref["flow z"], atol=1e-5, name="a 4-layer flow made of your layers: z = f(x)")
    checks.check_close(mine["flow log_det"], ref["flow log_det"], atol=1e-5,
                       name="a 4-layer flow made of your layers: its log-determinant")
    checks.check_close(mine["flow inverse(forward)"], ref["flow points"], atol=1e-4,
                       name="a 4-layer flow made of your layers: inverse(forward(x))")
    checks.check_probe(mine, ref, "forward probe", "coupling_forward with a module as net", gradients=False)
    checks.check_probe(mine, ref, "inverse probe", "coupling_inverse with a module as net", gradients=False)
    for name, what in [("y", "coupling_forward's y"), ("log_det", "coupling_forward's log-determinant"),
                       ("inverse", "coupling_inverse's result")]:
        for part in ("x", "the net", "the scale"):
            key = f"{name}: gradient of {part}"
            if ref[key] is None:
                continue
            checks.check_true(mine[key] is not None, f"gradients of {what} should reach {part}: no .detach(), "
                              "no torch.no_grad() inside the layer")
            checks.check_close(mine[key], ref[key], atol=1e-5, name=f"the gradient of {what} with respect to {part}")
    checks.check_close(mine["float64 forward"], ref["float64 forward"],
                       name="coupling_forward on float64 inputs with a float64 net (stays float64)")
    checks.check_close(mine["float64 inverse"], ref["float64 inverse"],
                       name="coupling_inverse on float64 inputs with a float64 net (stays float64)")


def check_nll_hidden(mine: dict, ref: dict) -> None:
    for trial in range(3):
        checks.check_close(mine[f"nll {trial}"], ref[f"nll {trial}"],
                           name=f"negative_log_likelihood on random input {trial + 1}")
        checks.check_close(mine[f"z after {trial}"], ref[f"z {trial}"], atol=0.0, rtol=0.0,
                           name=f"z after the call on random input {trial + 1} (it must not change in place)")
        checks.check_close(mine[f"log_det after {trial}"], ref[f"log_det {trial}"], atol=0.0, rtol=0.0,
                           name=f"log_det after the call on random input {trial + 1} (it must not change in place)")
    for dim in (1, 2, 5):
        z, log_det = ref[f"z {dim}-D"], ref[f"log_det {dim}-D"]
        normal = torch.distributions.MultivariateNormal(torch.zeros(dim), torch.eye(dim))
        checks.check_close(mine[f"nll {dim}-D"], -(normal.log_prob(z) + log_det), atol=1e-5,
                           name=f"negative_log_likelihood in {dim}-D against torch.distributions")
        checks.check_close(mine[f"nll {dim}-D"], ref[f"nll {dim}-D"], name=f"negative_log_likelihood in {dim}-D")
    checks.check_close(mine["nll float64"], ref["nll float64"],
                       name="negative_log_likelihood of float64 inputs (stays float64)")
    checks.check_true(mine["gradient z"] is not None and mine["gradient log_det"] is not None,
                      "gradients must flow back to z and log_det: no .detach(), no NumPy")
    checks.check_close(mine["gradient z"], ref["gradient z"],
                       name="the gradient of the NLL with respect to z (should be z)")
    checks.check_close(mine["gradient log_det"], -torch.ones(5),
                       name="the gradient of the NLL with respect to log_det (should be -1)")
    checks.check_probe(mine, ref, "probe", "negative_log_likelihood on a batch of one")
    checks.check_probe(mine, ref, "probe float64", "negative_log_likelihood on float64 inputs")


def check_flow_matching_loss_hidden(mine: dict, ref: dict) -> None:
    checks.check_true(type(mine["spy calls"]) is int and mine["spy calls"] >= 1,
                      "flow_matching_loss should call the model")
    times = checks.check_tensor(mine["spy t"], "the times the model is given")
    checks.check_true(tuple(times.shape) == (5000,), "the model should get one time per example, shape (B,)")
    checks.check_true(bool(times.min() >= 0) and bool(times.max() < 1), "the times should lie in [0, 1)")
    mean, variance = float(times.double().mean()), float(times.double().var())
    checks.check_true(abs(mean - 0.5) < 0.02 and abs(variance - 1 / 12) < 0.01,
                      "the times should be uniform in [0, 1) (their mean and variance)")
    points = checks.check_tensor(mine["spy x_t"], "the points x_t the model is given")
    checks.check_true(tuple(points.shape) == (5000, 2), "the model should get x_t shaped like x1")
    t = times.double()[:, None]
    noise = (points.double() - 2.0 * t) / (1 - t)  # x_t = (1 - t) x0 + t x1 with x1 = 2 gives back x0
    standard = bool((noise.mean(dim=0).abs() < 0.05).all()) and bool(((noise.std(dim=0) - 1).abs() < 0.05).all())
    checks.check_true(standard,
                      "x_t = (1 - t) x0 + t x1 with standard normal noise x0 (t = 0 is noise, t = 1 is data)")
    checks.check_close(times, ref["spy t"], name="the times drawn with a seeded generator (x0 first, then t)")
    checks.check_close(points, ref["spy x_t"], atol=1e-5, name="the points x_t drawn with a seeded generator")
    checks.check_close(mine["spy loss"], ref["spy loss"], name="the loss of a model that answers 0, with data at 2")
    for trial, shape in enumerate(["(16, 2)", "(5, 1, 8, 8)", "(1, 3)", "(12, 2) in float64"]):
        loss = checks.check_tensor(mine[f"loss {trial}"], "flow_matching_loss's result")
        checks.check_true(loss.dim() == 0, "flow_matching_loss should return a scalar (a 0-d tensor)")
        checks.check_close(loss, ref[f"loss {trial}"],
                           name=f"flow_matching_loss on a batch of shape {shape} with a seeded generator")
        checks.check_true(mine[f"gradient {trial}"] is not None,
                          "gradients must reach the model's weights: no .detach()")
        checks.check_close(mine[f"gradient {trial}"], ref[f"gradient {trial}"],
                           name=f"the gradient of the loss with respect to the model's weight, batch of shape {shape}")
        checks.check_close(mine[f"x after {trial}"], ref[f"x after {trial}"], atol=0.0, rtol=0.0,
                           name=f"x1 after the call, batch of shape {shape} (it must not change in place)")
    unseeded = checks.check_tensor(mine["unseeded loss"], "flow_matching_loss without a generator")
    checks.check_true(unseeded.dim() == 0 and bool(torch.isfinite(unseeded)),
                      "flow_matching_loss without a generator should return a finite scalar")
    checks.check_probe(mine, ref, "probe", "flow_matching_loss with a seeded CPU generator", atol=1e-5)
    checks.check_true(mine["generator draws"] in ("as on the CPU", "not run"),
                      "with a CPU generator and the data on another device, the draws should come from the generator "
                      "(device=generator.device, then .to(x1.device))")
    checks.check_true(mine["unseeded draws"] in ("on the data's device", "not run"),
                      "without a generator, flow_matching_loss should draw on x1's device (device=x1.device)")


def check_euler_sample_hidden(mine: dict, ref: dict) -> None:
    for trial, steps in enumerate([1, 7, 50]):
        path = _path(mine[f"path {trial}"], steps, f"euler_sample's path with {steps} steps")
        checks.check_close(path[0], ref[f"path {trial}"][0], atol=0.0, rtol=0.0,
                           name=f"the first state of the path with {steps} steps (x0 itself)")
        checks.check_close(path, ref[f"path {trial}"], atol=1e-5, name=f"euler_sample's path with {steps} steps")
        times = mine[f"times {trial}"]
        checks.check_true(type(times) is list and len(times) == steps,
                          f"euler_sample with {steps} steps should call the model once per step")
        checks.check_close(times, ref[f"times {trial}"], check_dtype=False,
                           name=f"the times t = 0, h, 2h, ... (one per example, shape (B,)) with {steps} steps")
        checks.check_close(mine[f"start after {trial}"], ref[f"start after {trial}"], atol=0.0, rtol=0.0,
                           name=f"x0 after the call with {steps} steps (it must not change in place)")
        checks.check_true(mine[f"needs grad {trial}"] is False,
                          "euler_sample should run under torch.no_grad(): the states should carry no gradient")
    checks.check_close(_path(mine["image path"], 5, "euler_sample's path on images"), ref["image path"], atol=1e-5,
                       name="euler_sample's path with 5 steps on (3, 1, 4, 4) images")
    checks.check_close(mine["decay"], torch.full((1, 1), math.exp(-1)), rtol=1e-3,
                       name="2,000 Euler steps of dx/dt = -x from 1 (should approach e^-1)")
    checks.check_close(mine["decay"], ref["decay"], rtol=1e-5, name="2,000 Euler steps of dx/dt = -x from 1")
    checks.check_probe(mine, ref, "probe", "euler_sample on a batch of one", gradients=False, atol=1e-5)
    checks.check_probe(mine, ref, "probe float64", "euler_sample on float64 states", gradients=False, atol=1e-5)


def check_guidance_hidden(mine: dict, ref: dict) -> None:
    for trial, (shape, w) in enumerate([((5, 8), 0.0), ((3, 1, 8, 8), 2.5), ((1, 2), 0.3), ((4, 8), 7.0)]):
        checks.check_close(mine[f"guided {trial}"], ref[f"guided {trial}"],
                           name=f"classifier_free_guidance on shape {shape} with scale {w}")
    checks.check_close(mine["scale 0"], ref["eps_cond"], atol=0.0, rtol=0.0,
                       name="scale 0 must return eps_cond exactly")
    checks.check_close(mine["equal predictions"], ref["eps_cond"], atol=1e-6,
                       name="equal predictions: guidance changes nothing")
    checks.check_close(mine["eps_cond after"], ref["eps_cond"], atol=0.0, rtol=0.0,
                       name="eps_cond after the calls (it must not change in place)")
    checks.check_close(mine["eps_uncond after"], ref["eps_uncond after"], atol=0.0, rtol=0.0,
                       name="eps_uncond after the calls (it must not change in place)")
    checks.check_true(mine["gradient eps_cond"] is not None and mine["gradient eps_uncond"] is not None,
                      "gradients must flow back to both predictions: no .detach(), no NumPy")
    checks.check_close(mine["gradient eps_cond"], torch.full((2, 3), 2.5),
                       name="the gradient with respect to eps_cond (should be 1 + scale)")
    checks.check_close(mine["gradient eps_uncond"], torch.full((2, 3), -1.5),
                       name="the gradient with respect to eps_uncond (should be -scale)")
    checks.check_probe(mine, ref, "probe", "classifier_free_guidance on float64 predictions")
