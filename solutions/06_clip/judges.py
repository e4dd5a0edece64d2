"""The judges of notebook 06's hidden tests.

They run in the grader, outside the student's process: ``mine`` holds what the hidden cell's ``observe()``
computed with the student's functions, ``ref`` what it computes with the answers in
``course_utils/answers/a06_clip.py``. A CheckFailed fails the test; the student is told only the name
of the check, so names say what is checked, never the values.
"""
import torch

from course_utils import checks

LOSS_CASES = {4: 14.3, 9: 1.0, 16: 100.0}  # N -> the logit scale s of check_clip_loss_hidden's batches
ZERO_SHOT_CASES = (3, 2, 1)  # templates per case of check_zero_shot_classifier_hidden
PREDICT_CASES = (5, 6)  # classes per case of check_zero_shot_predict_hidden


def _tensor(value, name: str) -> torch.Tensor:
    checks.check_true(type(value) is torch.Tensor, f"{name} should be a torch.Tensor")
    return value


def _loops(image: torch.Tensor, text: torch.Tensor, s: float) -> torch.Tensor:
    """CLIP's loss with a loop over the rows (images to captions) and one over the columns (captions to images)."""
    n = len(image)
    rows = [-torch.log_softmax(torch.stack([s * image[i] @ text[j] for j in range(n)]), 0)[i] for i in range(n)]
    cols = [-torch.log_softmax(torch.stack([s * image[i] @ text[j] for i in range(n)]), 0)[j] for j in range(n)]
    return (sum(rows) / n + sum(cols) / n) / 2


def check_clip_loss_hidden(mine: dict, ref: dict) -> None:
    for n, s in LOSS_CASES.items():
        for trial in range(2):
            key = f"N={n} trial {trial}"
            name = f"clip_loss on a random batch of {n} pairs (trial {trial + 1})"
            _tensor(mine[key], name)
            checks.check_true(mine[key].dim() == 0, f"{name} should be a scalar (a 0-d tensor)")
            checks.check_close(mine[key], ref[key], atol=1e-5, name=name)
            checks.check_close(mine[f"{key} swapped"], mine[key], atol=1e-5,
                               name=f"clip_loss with the two modalities swapped, batch of {n} (the loss is symmetric)")
            checks.check_close(mine[f"{key} inputs after"], ref[f"{key} inputs after"], rtol=0, atol=0,
                               name="the features after clip_loss (it must not change its inputs in place)")
        image, text = ref[f"N={n} float64 inputs"]  # the grader's own copy of the inputs
        checks.check_close(mine[f"N={n} float64"], _loops(image, text, s), atol=1e-8,
                           name=f"clip_loss on float64 features against a loop over rows and columns (N={n})")
    checks.check_close(mine["aligned"], ref["aligned"], atol=1e-5, name="clip_loss on captions near their images")
    checks.check_close(mine["shuffled"], ref["shuffled"], atol=1e-5, name="clip_loss on shuffled captions")
    checks.check_true(float(mine["aligned"]) < float(mine["shuffled"]),
                      "matching captions must cost less than shuffled ones")
    gradients = ("gradient image", "gradient text", "gradient scale")
    checks.check_true(all(mine[g] is not None for g in gradients),
                      "gradients must reach both encoders' features and the logit scale")
    for g, what in zip(gradients, ("the image features", "the text features", "the logit scale")):
        checks.check_close(mine[g], ref[g], atol=1e-6, name=f"the gradient for {what}")


def check_zero_shot_classifier_hidden(mine: dict, ref: dict) -> None:
    for case, k in enumerate(ZERO_SHOT_CASES):
        key, name = f"case {case}", f"zero_shot_classifier, hidden case {case + 1} ({k} templates)"
        classifier = _tensor(mine[key], name)
        checks.check_true(tuple(classifier.shape) == tuple(ref[key].shape), f"{name} should be (classes, D)")
        checks.check_close(classifier.norm(dim=1), torch.ones(len(classifier)), atol=1e-5,
                           name=f"the norms of the rows of {name} (unit length)")
        checks.check_close(classifier, ref[key], atol=1e-5, name=name)
        for j in range(k):  # the ensemble of one template is that template's prompts, embedded
            checks.check_close(mine[f"{key} template {j}"], ref[f"{key} template {j} prompts"], atol=1e-5,
                               name=f"zero_shot_classifier with one template: its prompts' embeddings, "
                                    f"hidden case {case + 1} (template {j + 1})")
        checks.check_close(mine[f"{key} reversed"], classifier, atol=1e-5,
                           name=f"zero_shot_classifier with the templates in another order, hidden case {case + 1}")


def check_zero_shot_predict_hidden(mine: dict, ref: dict) -> None:
    for case, c in enumerate(PREDICT_CASES):
        for trial in range(3):
            key = f"predict {case} trial {trial}"
            name = f"zero_shot_predict on random features, case {case + 1} trial {trial + 1}"
            checks.check_close(mine[key], ref[key], name=name)  # an int64 tensor of class indices
            checks.check_close(mine[f"{key} inputs after"], ref[f"{key} inputs after"], rtol=0, atol=0,
                               name="the features after zero_shot_predict (it must not change its inputs in place)")
        scores, labels = ref[f"scores {case}"], ref[f"labels {case}"]  # the grader's own copy of the inputs
        for k in range(1, c + 1):
            value = mine[f"top {k} of case {case}"]
            checks.check_true(type(value) is float, "top_k_accuracy should return a Python float")
            checks.check_close(value, ref[f"top {k} of case {case}"], atol=1e-6,
                               name=f"top_k_accuracy with k = {k}, case {case + 1}")
            rank = (scores > scores.gather(1, labels[:, None])).sum(dim=1)  # classes scored above the label
            checks.check_close(value, float((rank < k).double().mean()), atol=1e-6,
                               name=f"top_k_accuracy with k = {k} against the label's rank, case {case + 1}")
        checks.check_close(mine[f"top 1 of case {case}"], float((scores.argmax(1) == labels).double().mean()),
                           atol=1e-6, name=f"top-1 accuracy against the argmax, case {case + 1}")
        checks.check_close(mine[f"top {c} of case {case}"], 1.0, name="top-C accuracy (every class is in the top C)")
        checks.check_close(mine[f"default k of case {case}"], mine[f"top 1 of case {case}"],
                           name="top_k_accuracy with k left out (k = 1 by default)")
