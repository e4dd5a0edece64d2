"""The judges of notebook 07's hidden tests.

They run in the grader, outside the student's process: ``mine`` holds what the hidden cell's ``observe()``
computed with the student's functions (or, for the review questions, the student's answers), ``ref`` what it
computes with the answers in ``course_utils/answers/a07_review.py``. A CheckFailed fails the test; the student
is told only the name of the check, so names say what is checked, never the values.

The PyTorch results the exercises are held against (nn.Conv2d's output sizes, torch.optim's steps, autograd's
gradients) are taken from ``ref``: computed in the grader, not in the student's process.
"""
import torch

from course_utils import checks


def _unchanged(mine: dict, key: str, what: str) -> None:
    """The inputs the function was given, after the call, are what they were before it (both in ``mine``:
    recomputing them in the grader could differ in the last bit)."""
    before, after = mine[f"{key} inputs before"], mine[f"{key} inputs after"]
    checks.check_true(type(after) is list and type(before) is list and len(after) == len(before)
                      and all(type(a) is torch.Tensor and type(b) is torch.Tensor and a.shape == b.shape
                              and a.dtype == b.dtype and torch.equal(a.nan_to_num(), b.nan_to_num())
                              for a, b in zip(after, before)),
                      f"{what} must not change its inputs in place: compute new tensors instead")


def _sequence(value, length: int, what: str) -> list:
    checks.check_true(type(value) is list and len(value) == length, f"{what} should return {length} tensors")
    return value


# ---------------------------------------------------------------- the MLP by hand

def check_mlp_forward_hidden(mine: dict, ref: dict) -> None:
    for case in range(4):
        for trial in range(2):
            key, number = f"case {case} trial {trial}", 2 * case + trial + 1
            if case < 3:
                checks.check_close(mine[key], ref[key], atol=1e-5, name=f"(z1, h, logits) on random input {number}")
            else:
                checks.check_close(mine[key], ref[key], name=f"(z1, h, logits) on random float64 input {trial + 1}")
            _unchanged(mine, key, "mlp_forward")
    outputs = _sequence(mine["the same network"], 3, "mlp_forward")
    checks.check_close(outputs[2], ref["nn.Linear and nn.ReLU"], atol=1e-5, name="logits against nn.Linear and nn.ReLU")
    _device(mine, "mlp_forward")


def check_mlp_backward_hidden(mine: dict, ref: dict) -> None:
    for case in range(3):
        for trial in range(2):
            key = f"case {case} trial {trial}"
            checks.check_close(mine[key], ref[key], atol=1e-5,
                               name=f"(dW1, db1, dW2, db2) on random input {2 * case + trial + 1}")
            _unchanged(mine, key, "mlp_backward")
    for case, dtype in enumerate(("float64", "float32")):
        grads = _sequence(mine[f"by hand {case}"], 4, "mlp_backward")
        for name, grad, autograd in zip(("dW1", "db1", "dW2", "db2"), grads, ref[f"autograd {case}"]):
            checks.check_close(grad, autograd, rtol=1e-4, atol=1e-6, name=f"{name} against autograd ({dtype})")
    grads = _sequence(mine["by hand at z1 = 0"], 4, "mlp_backward")
    for name, grad, autograd in zip(("dW1", "db1", "dW2", "db2"), grads, ref["autograd at z1 = 0"]):
        checks.check_close(grad, autograd, rtol=1e-6, atol=1e-12,
                           name=f"{name} against autograd where z1 is exactly 0 (the ReLU passes no gradient at 0)")
    _device(mine, "mlp_backward")


def _device(mine: dict, what: str) -> None:
    if mine["device"] != "":
        raise checks.CheckFailed(f"{what}: {mine['device']}", f"{what} should keep to its inputs' device")


# ---------------------------------------------------------------- output sizes

def check_conv_output_size_hidden(mine: dict, ref: dict) -> None:
    # Compared as Python compares numbers (as before: 28.0 == 28); the last check asks for an int.
    for ours, theirs, layer in [("conv_output_size", "nn.Conv2d", "nn.Conv2d's output height and width"),
                                ("pooling", "nn.MaxPool2d", "nn.MaxPool2d's output size"),
                                ("2x2 pooling", "nn.MaxPool2d(2)", "2x2 max pooling's output size")]:
        got, expected = mine[ours], ref[theirs]
        checks.check_true(type(got) is list and len(got) == len(expected), f"conv_output_size against {layer}")
        for trial, (size, torch_size) in enumerate(zip(got, expected)):
            checks.check_true(bool(size == torch_size), f"conv_output_size against {layer}, random setting {trial + 1}")
    checks.check_true(mine["types"] == ["builtins.int"] * len(ref["types"]), "conv_output_size returns a Python int")


# ---------------------------------------------------------------- optimisers

_SGD_SETTINGS = ("with momentum", "without momentum (plain SGD)", "with momentum and weight decay",
                 "with heavy momentum and weight decay")
_ADAM_SETTINGS = ("with the default betas", "with other betas and eps", "with beta1 = 0")


def check_sgd_momentum_step_hidden(mine: dict, ref: dict) -> None:
    for setting, label in enumerate(_SGD_SETTINGS):
        for trial in range(2):
            key = f"setting {setting} trial {trial}"
            checks.check_close(mine[key], ref[key], name=f"(param, velocity) on random input {trial + 1}, {label}")
            _unchanged(mine, key, "sgd_momentum_step")
        steps, torch_steps = mine[f"setting {setting} steps"], ref[f"setting {setting} torch.optim.SGD"]
        checks.check_true(type(steps) is list and len(steps) == len(torch_steps), "ten steps of sgd_momentum_step")
        for step, (param, theirs) in enumerate(zip(steps, torch_steps)):
            checks.check_close(param, theirs, rtol=1e-5, atol=1e-6,
                               name=f"the parameter after {step + 1} steps, against torch.optim.SGD {label}")
    _device(mine, "sgd_momentum_step")


def check_adam_step_hidden(mine: dict, ref: dict) -> None:
    for setting, label in enumerate(_ADAM_SETTINGS):
        for trial in range(2):
            key = f"setting {setting} trial {trial}"
            checks.check_close(mine[key], ref[key], rtol=1e-5,
                               name=f"(param, m, v) at step 3 on random input {trial + 1}, {label}")
            _unchanged(mine, key, "adam_step")
        steps, torch_steps = mine[f"setting {setting} steps"], ref[f"setting {setting} torch.optim.Adam"]
        checks.check_true(type(steps) is list and len(steps) == len(torch_steps), "fifteen steps of adam_step")
        for step, (param, theirs) in enumerate(zip(steps, torch_steps)):
            checks.check_close(param, theirs, rtol=1e-5, atol=1e-6,
                               name=f"the parameter after {step + 1} steps, against torch.optim.Adam {label}")
        checks.check_close(mine[f"setting {setting} m"], ref[f"setting {setting} exp_avg"], rtol=1e-5, atol=1e-7,
                           name=f"m after 15 steps against Adam's exp_avg, {label}")
    checks.check_close(mine["zero gradient"], ref["zero gradient"],
                       name="(param, m, v) where the gradient is 0 from the start (eps keeps 0 / 0 away)")
    _device(mine, "adam_step")


# ---------------------------------------------------------------- the review questions
# Partial credit: each right answer earns its share of the block's points. A letter is right when it is a
# string that is the reference's letter once stripped and lower-cased; a number when it is within the
# tolerance of the reference's (a Python or NumPy number, or a one-element tensor or array): half a unit
# for whole numbers, 0.002 for the others, which the markdown asks to 3 decimal places (rounding to 3
# places is off by at most 0.0005; log 256 for log 255 is off by 0.004).

_LETTER, _WHOLE, _DECIMAL = None, 0.5, 0.002
_BLOCK_A = {"answer_task_type": _LETTER, "answer_conv_params": _WHOLE, "answer_overfitting": _LETTER,
            "answer_dropout_scale": _DECIMAL, "answer_batchnorm_eval": _LETTER, "answer_receptive_field": _WHOLE,
            "answer_initial_loss": _DECIMAL}
_BLOCK_B = {"answer_generative": _LETTER, "answer_linear_autoencoder": _LETTER, "answer_vae_kl": _DECIMAL,
            "answer_reparameterisation": _LETTER, "answer_optimal_discriminator": _DECIMAL,
            "answer_mode_collapse": _LETTER}
_BLOCK_C = {"answer_pretext": _LETTER, "answer_triplet_loss": _DECIMAL, "answer_cosine": _DECIMAL,
            "answer_nt_xent_constant": _DECIMAL, "answer_projection_head": _LETTER, "answer_temperature": _LETTER,
            "answer_clip_zero_shot": _LETTER, "answer_typographic": _LETTER}


def _as_float(value) -> float | None:
    if type(value) is bool:
        return None
    try:
        return float(checks.as_real(value))
    except (checks.CheckFailed, TypeError, ValueError, RuntimeError):  # not a number, or not one number
        return None


def _review(mine: dict, ref: dict, block: dict) -> checks.Partial:
    wrong = []
    for name, tolerance in block.items():
        value = mine[name]
        if tolerance is _LETTER:
            right = type(value) is str and value.strip().lower() == ref[name].strip().lower()
        else:
            number = _as_float(value)
            right = number is not None and abs(number - float(ref[name])) <= tolerance
        if not right:
            wrong.append(name)
    return checks.Partial(len(block) - len(wrong), len(block), f"not right: {', '.join(wrong) or 'none'}")


def check_answers_fundamentals_hidden(mine: dict, ref: dict) -> checks.Partial:
    return _review(mine, ref, _BLOCK_A)


def check_answers_generative_hidden(mine: dict, ref: dict) -> checks.Partial:
    return _review(mine, ref, _BLOCK_B)


def check_answers_contrastive_hidden(mine: dict, ref: dict) -> checks.Partial:
    return _review(mine, ref, _BLOCK_C)
