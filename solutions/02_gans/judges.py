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
    checks.check_probe(mine, ref, "float64", name="L_D on float64 logits (a batch of one real, three fakes)")


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
        checks.check_probe(mine, ref, f"{name} float64", name=f"{loss} on float64 logits (a batch of one)")


RUNS = {"run 1": ("run 1 (float32, batches of 16)", [" (non-saturating loss passed in)"] * 2
                  + [" (minimax loss passed in)"]),
        "run 2": ("run 2 (float64, batches of one)", [" (minimax loss passed in)", " (non-saturating loss passed in)"]),
        "run 3": ("run 3 (three seeds at once, data of shape (seeds, batch, features))",
                  [" (non-saturating loss passed in)"] * 2)}


def check_gan_step_hidden(mine: dict, ref: dict) -> None:
    g_index = [i for i, k in enumerate(WATCHED) if k.startswith("G.")]
    d_index = [i for i, k in enumerate(WATCHED) if k.startswith("D.")]
    for run, (described, passed_in) in RUNS.items():
        g_left = [None] * len(WATCHED)  # G's gradients left over from the step before (none before the first)
        for step, loss in enumerate(passed_in):
            at, where = f"{run} step {step}", f"at step {step + 1} of {described}"
            raised = mine.get(f"{at}: raised")
            checks.check_true(raised is None, f"gan_step should run without an error {where} (it raised {raised})")
            checks.check_true(mine[f"{at}: optimizers"] == ["D", "G"],
                              f"{where}, each optimizer should step once, D's first, then G's")
            (d_grads, g_grads), (ref_d, ref_g) = mine[f"{at}: gradients"], ref[f"{at}: gradients"]
            for i in g_index:  # D's half must add nothing to G's gradients: none, zeros, or what G's step left
                leaked = d_grads[i]
                unchanged = leaked is None or not _nonzero(leaked) or (
                    _is_tensor(g_left[i]) and leaked.shape == g_left[i].shape
                    and bool(torch.allclose(leaked, g_left[i], rtol=1e-5, atol=1e-7)))
                checks.check_true(unchanged, f"{where}, L_D reached G's parameters when D stepped: detach the "
                                             "fakes in the discriminator's half")
            for i in d_index:
                checks.check_true(_nonzero(d_grads[i]), f"{where}, when D steps, every parameter of D should "
                                                        "have a gradient")
                checks.check_close(d_grads[i], ref_d[i], atol=1e-5,
                                   name=f"the gradient of {WATCHED[i]} when D steps {where} (L_D alone: clear D's "
                                        "old gradients first)")
            g_hint = "L_G alone, through the updated D: clear G's old gradients first, use the generator_loss passed in"
            for i in g_index:
                checks.check_true(_nonzero(g_grads[i]), f"{where}, when G steps, every parameter of G should "
                                                        "have a gradient")
                checks.check_close(g_grads[i], ref_g[i], atol=1e-5,
                                   name=f"the gradient of {WATCHED[i]} when G steps {where}{loss} ({g_hint})")
            g_left = g_grads
            for i, name in enumerate(WATCHED):
                checks.check_close(mine[f"{at}: parameters"][i], ref[f"{at}: parameters"][i], atol=1e-5,
                                   name=f"parameter {name} after step {step + 1} of {described}{loss}")
            checks.check_true(mine[f"{at}: returned"] == "dict" and mine.get(f"{at}: keys") == ["D loss", "G loss"],
                              "gan_step should return a dict with the keys 'D loss' and 'G loss'")
            for key in ("D loss", "G loss"):
                got = mine[f"{at}: {key}"]
                checks.check_true(_is_tensor(got), f"gan_step should return {key!r} as a tensor (e.g. "
                                                   "loss.detach()), not a Python number or anything else")
                checks.check_true(mine[f"{at}: {key} requires grad"] is False,
                                  f"gan_step should return {key!r} detached from the graph (loss.detach())")
                checks.check_close(got, ref[f"{at}: {key}"], atol=1e-5,
                                   name=f"the returned {key!r} {where}{loss}")
    report = mine["device"]
    checks.check_true(type(report) is str, "the device check of gan_step should report back")
    if report:
        raise checks.CheckFailed(report, "gan_step should keep to the device of its networks and data (another "
                                         "device than the CPU's in this test)")
