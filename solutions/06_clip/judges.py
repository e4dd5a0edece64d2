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
    # probe's tensor arguments 1, 2, 3: the image features, the text features, the logit scale
    checks.check_probe(mine, ref, "watched", "clip_loss on 16 pairs, its gradients to the image features, the "
                       "text features and the logit scale (arguments 1 to 3), and on another device", atol=1e-6)
    checks.check_probe(mine, ref, "one pair", "clip_loss on a batch of one pair", atol=1e-6)
    checks.check_probe(mine, ref, "float64", "clip_loss on float64 features with a float64 scale", atol=1e-10)


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
    checks.check_close(mine["one class"], ref["one class"], atol=1e-5, name="zero_shot_classifier with one class")
    checks.check_close(mine["float64"], ref["float64"], atol=1e-10,
                       name="zero_shot_classifier of a float64 model (the classifier in the model's dtype)")
    checks.check_probe(mine, ref, "watched", "zero_shot_classifier of a model on another device", gradients=False,
                       atol=1e-5)


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
    checks.check_probe(mine, ref, "predict float64", "zero_shot_predict on float64 features", gradients=False)
    checks.check_probe(mine, ref, "predict one", "zero_shot_predict on a batch of one image", gradients=False)
    scores, labels = ref["scores float64"], ref["labels float64"]
    for key, rows, k, name in (("top 2 float64", 12, 2, "top_k_accuracy on float64 scores, k = 2"),
                               ("top 1 of one", 1, 1, "top_k_accuracy on a batch of one, k = 1"),
                               ("top 2 of one", 1, 2, "top_k_accuracy on a batch of one, k = 2")):
        checks.check_true(type(mine[key]) is float, "top_k_accuracy should return a Python float")
        rank = (scores[:rows] > scores[:rows].gather(1, labels[:rows, None])).sum(dim=1)
        checks.check_close(mine[key], float((rank < k).double().mean()), atol=1e-6, name=name)
    for key, name in (("top_k device", "top_k_accuracy should keep to its inputs' device (another device than "
                                       "the CPU's in this test)"),
                      ("top_k device, CPU labels", "top_k_accuracy with the scores on another device and the labels "
                                                   "on the CPU (move the labels to the scores' device)")):
        checks.check_true(type(mine[key]) is str and mine[key] == "", name)
