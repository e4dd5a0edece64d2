"""Differently written correct solutions of notebook 06's exercises (they must pass every check), and the
mutants of the reference answers that no check can kill because they are equivalent."""
import torch  # whatever the alternatives need is taken from the notebook's namespace anyway
import torch.nn.functional as F

EQUIVALENT = {
    ("zero_shot_classifier", "return F.normalize(means, dim=1).detach()"):
        "embed_texts runs under torch.no_grad, so the embeddings and all computed from them carry no graph: "
        "detaching changes nothing",
    ("zero_shot_classifier", "return F.normalize(means)"):
        "F.normalize's default dim is 1, the rows of the (C, D) means",
    ("zero_shot_classifier", "means = embeddings.view(len(class_names), len(templates), -1).sum(dim=1)"):
        "the sum is K times the mean, K > 0, and normalising removes the factor (F.normalize's eps only acts on "
        "a mean of unit vectors that cancels to below 1e-12)",
    ("zero_shot_predict", "return (image_features @ classifier.T).argmax(dim=1).detach()"):
        "argmax returns int64 indices, which never carry a gradient: detaching changes nothing",
    ("zero_shot_predict", "top = scores.topk(k).indices"):
        "topk's default dim is the last one, dim 1 of the (N, C) scores",
}


# %% clip_loss by hand: the diagonal of log-softmaxes over rows and over columns
def clip_loss(image_features, text_features, logit_scale):
    logits = image_features @ text_features.T * logit_scale  # (N, N)
    images_to_captions = -logits.log_softmax(dim=1).diagonal().mean()  # row i: which caption is image i's?
    captions_to_images = -logits.log_softmax(dim=0).diagonal().mean()  # column j: which image is caption j's?
    return 0.5 * (images_to_captions + captions_to_images)


# %% clip_loss with two logit matrices, as open_clip writes it
def clip_loss(image_features, text_features, logit_scale):
    logits_per_image = logit_scale * image_features @ text_features.t()  # (N, N)
    logits_per_text = logit_scale * text_features @ image_features.t()  # (N, N), the transpose
    labels = torch.arange(image_features.shape[0], device=image_features.device, dtype=torch.long)
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


# %% zero_shot_classifier with a loop over the classes, the model put in eval mode, normalised by hand
def zero_shot_classifier(model, tokenizer, class_names, templates):
    model.eval()
    rows = []
    for name in class_names:
        embeddings = embed_texts(model, tokenizer, [template.format(label=name) for template in templates])  # (K, D)
        total = embeddings.sum(dim=0)  # (D,): K times the mean, which normalising does not see
        rows.append(total / total.norm())
    return torch.stack(rows)  # (C, D)


# %% zero_shot_classifier with the prompts template by template, reshaped to (K, C, D)
def zero_shot_classifier(model, tokenizer, class_names, templates):
    prompts = [template.format(label=name) for template in templates for name in class_names]  # K * C texts
    embeddings = embed_texts(model, tokenizer, prompts).reshape(len(templates), len(class_names), -1)  # (K, C, D)
    means = embeddings.mean(dim=0)  # (C, D)
    return means / means.norm(dim=-1, keepdim=True)


# %% zero_shot_predict with einsum and max, top_k_accuracy by the label's rank
def zero_shot_predict(image_features, classifier):
    similarities = torch.einsum("nd,cd->nc", image_features, classifier)  # (N, C)
    return similarities.max(dim=1).indices  # (N,)


def top_k_accuracy(scores, labels, k=1):
    labels = labels.to(scores.device)
    label_scores = scores.gather(1, labels[:, None])  # (N, 1): the score of each row's label
    rank = (scores > label_scores).sum(dim=1)  # (N,): how many classes score higher than the label
    return (rank < k).double().mean().item()


# %% zero_shot_predict on cosine similarities, top_k_accuracy with a loop over the rows of a sort
def zero_shot_predict(image_features, classifier):
    return F.normalize(image_features, dim=-1).matmul(F.normalize(classifier, dim=-1).T).argmax(-1)


def top_k_accuracy(scores, labels, k=1):
    order = scores.argsort(dim=1, descending=True)  # (N, C), the best class first
    labels = labels.to(order.device)
    hits = sum(bool((order[i, :k] == labels[i]).any()) for i in range(len(scores)))
    return hits / len(scores)
