"""The judges of notebook 02's hidden tests.

They run in the grader, outside the student's process: ``mine`` holds what the hidden cell's ``observe()``
computed with the student's functions, ``ref`` what it computes with the answers in
``course_utils/answers/a02_gans.py``. A CheckFailed fails the test; the student is told only the name
of the check, so names say what is checked, never the values.
"""
import torch
import torch.nn.functional as F

from course_utils import checks

# The parameters the gan_step test watches, in the order observe() hands them over: G's, then D's.
WATCHED = [f"G.{k}" for k in ("0.weight", "0.bias", "2.weight", "2.bias")] + \
          [f"D.{k}" for k in ("0.weight", "0.bias", "2.weight", "2.bias")]


def _is_tensor(value) -> bool:
    return type(value) is torch.Tensor


def _nonzero(grad) -> bool:
    return _is_tensor(grad) and bool(grad.abs().sum() > 0)


def check_discriminator_loss_hidden(mine: dict, ref: dict) -> None:
    for trial in range(6):
        checks.check_close(mine[f"random {trial}"], ref[f"random {trial}"],
                           name=f"L_D on random logits {trial + 1} (logits of 1 to 3 dimensions, batches of two sizes)")
        checks.check_close(mine[f"inputs after {trial}"], ref[f"inputs after {trial}"], rtol=0, atol=0,
                           name=f"the logits of random input {trial + 1} after the call (L_D must not change them "
                                "in place)")
    real, fake = ref["BCE pair"]
    by_bce = (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
              + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    checks.check_close(mine["L_D on the BCE pair"], by_bce, name="L_D against binary_cross_entropy_with_logits")
    huge = mine["logits of 500"]
    checks.check_true(_is_tensor(huge) and bool(torch.isfinite(huge).all()),
                      "L_D must be a tensor that stays finite for logits of +-500 (work from the logits)")
    checks.check_close(huge, ref["logits of 500"], name="L_D of a discriminator sure and wrong (logits of +-500)")
    g_real, g_fake = mine["gradient real"], mine["gradient fake"]
    checks.check_true(_is_tensor(g_real) and _is_tensor(g_fake),
                      "gradients must flow back to both the real and the fake logits: no .detach(), no NumPy")
    checks.check_true(bool((g_real < 0).all()) and bool((g_fake > 0).all()),
                      "raising a real logit must lower L_D, raising a fake logit must raise it")
    checks.check_close(g_real, ref["gradient real"], name="the gradient of L_D with respect to the real logits")
    checks.check_close(g_fake, ref["gradient fake"], name="the gradient of L_D with respect to the fake logits")


def check_generator_losses_hidden(mine: dict, ref: dict) -> None:
    logits = torch.tensor([-6.0, 0.0, 6.0])
    closed_forms = {"minimax": (-torch.sigmoid(logits) / 3, "-D / B"),
                    "non-saturating": (-(1 - torch.sigmoid(logits)) / 3, "-(1 - D) / B")}
    for name, (gradient, formula) in closed_forms.items():
        loss = f"generator_loss_{name.replace('-', '_')}"
        for trial in range(5):
            checks.check_close(mine[f"{name} {trial}"], ref[f"{name} {trial}"],
                               name=f"{loss} on random logits {trial + 1} (logits of 1 to 3 dimensions)")
            checks.check_close(mine[f"{name} input after {trial}"], ref[f"{name} input after {trial}"], rtol=0,
                               atol=0, name=f"the logits of random input {trial + 1} after {loss} (a loss must not "
                                             "change its input in place)")
        huge = mine[f"{name} at +-500"]
        checks.check_true(_is_tensor(huge) and bool(torch.isfinite(huge).all()),
                          f"{loss} must be a tensor that stays finite for logits of +-500")
        checks.check_close(huge, ref[f"{name} at +-500"], name=f"{loss} for logits of +-500")
        grad = mine[f"{name} gradient"]
        checks.check_true(_is_tensor(grad), f"gradients must flow back through {loss} to the logits: no .detach()")
        checks.check_close(grad, gradient, name=f"the gradient of {loss} at logits -6, 0, 6 ({formula})")
        checks.check_close(grad, ref[f"{name} gradient"], name=f"the gradient of {loss} against the reference")


def check_gan_step_hidden(mine: dict, ref: dict) -> None:
    g_index = [i for i, k in enumerate(WATCHED) if k.startswith("G.")]
    d_index = [i for i, k in enumerate(WATCHED) if k.startswith("D.")]
    g_left = [None] * len(WATCHED)  # G's gradients left over from the step before (none before the first)
    for step in range(3):
        n = step + 1
        how = " (with generator_loss passed in)" if step == 2 else ""
        g_hint = ("G's step should use the generator_loss passed in" if step == 2
                  else "L_G alone, through the updated D: clear G's old gradients first")
        checks.check_true(mine[f"step {step}: optimizers"] == ["D", "G"],
                          f"at step {n}, each optimizer should step once, D's first, then G's")
        (d_grads, g_grads), (ref_d, ref_g) = mine[f"step {step}: gradients"], ref[f"step {step}: gradients"]
        for i in g_index:  # D's half must add nothing to G's gradients: none, zeros, or what G's step left
            leaked = d_grads[i]
            unchanged = leaked is None or not _nonzero(leaked) or (
                _is_tensor(g_left[i]) and leaked.shape == g_left[i].shape
                and bool(torch.allclose(leaked, g_left[i], rtol=1e-5, atol=1e-7)))
            checks.check_true(unchanged, f"at step {n}, L_D reached G's parameters when D stepped: detach the "
                                         "fakes in the discriminator's half")
        for i in d_index:
            checks.check_true(_nonzero(d_grads[i]), f"at step {n}, when D steps, every parameter of D should "
                                                    "have a gradient")
            checks.check_close(d_grads[i], ref_d[i], atol=1e-5,
                               name=f"the gradient of {WATCHED[i]} when D steps at step {n} (L_D alone: clear D's "
                                    "old gradients first)")
        for i in g_index:
            checks.check_true(_nonzero(g_grads[i]), f"at step {n}, when G steps, every parameter of G should "
                                                    "have a gradient")
            checks.check_close(g_grads[i], ref_g[i], atol=1e-5,
                               name=f"the gradient of {WATCHED[i]} when G steps at step {n} ({g_hint})")
        g_left = g_grads
        for i, name in enumerate(WATCHED):
            checks.check_close(mine[f"step {step}: parameters"][i], ref[f"step {step}: parameters"][i], atol=1e-5,
                               name=f"parameter {name} after step {n}{how}")
        checks.check_true(mine[f"step {step}: returned"] == "dict"
                          and mine.get(f"step {step}: keys") == ["D loss", "G loss"],
                          "gan_step should return a dict with the keys 'D loss' and 'G loss'")
        for key in ("D loss", "G loss"):
            got = mine[f"step {step}: {key}"]
            checks.check_true(_is_tensor(got), f"gan_step should return {key!r} as a tensor (e.g. "
                                               "loss.detach()), not a Python number or anything else")
            checks.check_close(got, ref[f"step {step}: {key}"], atol=1e-5,
                               name=f"the returned {key!r} at step {n}{how}")
