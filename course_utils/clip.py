"""CLIP (notebook 06): contrastive language-image pre-training, from scratch on the captioned shapes.

CLIP (Radford et al., 2021) trains an image encoder and a text encoder together, so that an image and its
caption land on nearby points of one joint embedding space. For a batch of N (image, caption) pairs:

    I = normalise(W_i f(images))      (N, D) image embeddings, unit length
    T = normalise(W_t g(captions))    (N, D) text embeddings, unit length
    logits = s * I @ T^T              (N, N) cosine similarities times the logit scale s = exp(t)

Row i of ``logits`` asks "which of the N captions is image i's?", column j "which image is caption j's?".
The answer is always the diagonal, so the loss is a cross-entropy in both directions (Figure 3 of the paper):

    L = [ CE(logits, arange(N)) + CE(logits^T, arange(N)) ] / 2

The temperature is learned: t is a parameter, initialised to log(1 / 0.07), and s = exp(t) is clamped at 100.

Zero-shot classification needs no classifier training: embed one prompt per class ("a photo of a {label}."),
and predict the class whose text embedding is nearest to the image's. A prompt ensemble averages, for each
class, the normalised embeddings of several prompts, then normalises again (Section 3.1.4 of the paper).

At our scale: the image encoder is SimCLR's small CNN (``simclr.Encoder``), the text encoder a 2-layer
transformer over a word-level vocabulary of the shapes world, instead of a ViT and a 12-layer transformer over
49,152 byte-pair tokens; and 6,000 pairs instead of 400 million. Trained on 25 of the 30 (shape, colour) pairs,
the small CNN tends to tie its shape features to colour, so a green star, never seen, may pass for a triangle.
``recolour`` is the fix: it permutes the RGB channels of some images and hides the colour words of their
captions, which no longer hold, so that shape must be recognised whatever the colour. See ``CLIPConfig`` for
what FULL training reaches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

# The answers to notebook 06's exercises: the loss, and zero-shot classification (re-exported).
from .answers.a06_clip import clip_loss, top_k_accuracy, zero_shot_classifier, zero_shot_predict  # noqa: F401
from .config import pick
from .data.shapes import CLASSES
from .data.words import TYPOGRAPHIC_TEMPLATE  # noqa: F401  (re-exported)
from .similarity import recall_at_k  # noqa: F401  (re-exported: retrieval, section 4 of the notebook)
from .simclr import Encoder, SimCLRConfig
from .tokenizer import Tokenizer
from .train import History, fit

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # clip_loss(I, T, logit_scale) -> ()

# -------------------------------------------------------------------------------------------- model

@dataclass
class CLIPConfig:
    """The two encoders and how they train. Step counts default to FULL, or FAST under ``COURSE_FAST=1``.

    Measured on shapes as notebook 06 trains it (FULL defaults but ``context_length=24``, 1,250 steps, half the
    images with a colour name written on them), 2 CPU threads, ~40 s, seeds 0-2 (``benchmarks/clip_quality.py``):
    zero-shot shape 0.993-0.997 on test and 0.990-0.999 on the held-out pairs, colour 1.000 and 0.951-1.000, with
    the ensembles of ``data.shapes.PROMPTS``. Recall@1 / @5 on the 1,000 test pairs, seed 0: caption to image
    0.08 / 0.35, image to caption 0.20 / 0.46 (captions name only some attributes: an oracle that knows every
    attribute but picks among the captions that fit at random scores 0.07 / 0.34 and 0.21 / 0.67).
    Without ``recolour`` (recolour_p=0; clean captions, 5 seeds) held-out shape fell to 0.55-0.98; with 0.3, to
    0.81 for one seed. FAST (150 steps, ~4 s) learns colour, not yet shape. Plain AdamW (``train.minimise``: no
    warm-up, beta2 0.999, lr 1e-3 to 4e-3) reached only 0.62-0.92 on test shape in the same time.
    """

    embed_dim: int = 64  # D: the joint embedding space
    image_width: int = 16  # the CNN's channels at 16x16 (``simclr.Encoder``'s width)
    image_features: int = 64  # the CNN's output after global average pooling
    text_width: int = 64  # the transformer's width
    text_layers: int = 2
    text_heads: int = 4
    context_length: int = 16  # T: tokens per caption; the longest shapes caption has 14
    init_temperature: float = 0.07  # logit scale starts at 1 / 0.07 (the paper's value)
    max_logit_scale: float = 100.0  # the clamp of the paper
    recolour_p: float = 0.5  # the fraction of pairs ``recolour`` changes at each step (0: none)
    lr: float = 2e-3  # the peak, after warm-up
    weight_decay: float = 0.1  # on weight matrices only
    warmup_steps: int = field(default_factory=lambda: pick(fast=10, full=100))  # linear warm-up of the learning rate
    batch_size: int = field(default_factory=lambda: pick(fast=64, full=128))
    steps: int = field(default_factory=lambda: pick(fast=150, full=1250))


class ImageEncoder(nn.Module):
    """(B, 3, 32, 32) images in [0, 1] -> (B, D) image embeddings (not normalised): a CNN, then W_i."""

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__()
        self.cnn = Encoder(SimCLRConfig(width=config.image_width, feature_dim=config.image_features))
        self.projection = nn.Linear(config.image_features, config.embed_dim, bias=False)  # W_i

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.projection(self.cnn(images))  # (B, F) -> (B, D)


class TextEncoder(nn.Module):
    """(B, T) tokens -> (B, D) text embeddings (not normalised): a causal transformer read at <eot>, then W_t."""

    def __init__(self, config: CLIPConfig, vocab_size: int, eot_id: int) -> None:
        super().__init__()
        width, t = config.text_width, config.context_length
        self.eot_id = eot_id
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(t, width))  # learned, as in CLIP
        layer = nn.TransformerEncoderLayer(width, config.text_heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)  # pre-norm, as in CLIP
        self.transformer = nn.TransformerEncoder(layer, config.text_layers, enable_nested_tensor=False)
        self.ln_final = nn.LayerNorm(width)
        self.projection = nn.Linear(width, config.embed_dim, bias=False)  # W_t
        # Causal mask: position i sees positions <= i only. Then <eot> sees its whole caption but none of the
        # padding after it, so no padding mask is needed (CLIP's text encoder is causal too).
        self.register_buffer("causal_mask", nn.Transformer.generate_square_subsequent_mask(t), persistent=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        b, t = tokens.shape
        x = self.token_embedding(tokens) + self.positional_embedding[:t]  # (B, T, W)
        x = self.ln_final(self.transformer(x, mask=self.causal_mask[:t, :t], is_causal=True))  # (B, T, W)
        eot = (tokens == self.eot_id).int().argmax(dim=1)  # (B,): the position of each caption's <eot>
        return self.projection(x[torch.arange(b, device=tokens.device), eot])  # (B, W) -> (B, D)


class CLIP(nn.Module):
    """The image and text encoders and the learned logit scale s = exp(t).

    ``forward(images, tokens)`` returns the unit-length image embeddings I (B, D), text embeddings T (B', D)
    and the scale s (a scalar tensor, exp(t) clamped at ``config.max_logit_scale``).
    """

    def __init__(self, config: CLIPConfig, vocab_size: int, eot_id: int) -> None:
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(config)
        self.text_encoder = TextEncoder(config, vocab_size, eot_id)
        self.logit_scale = nn.Parameter(torch.tensor(1 / config.init_temperature).log())  # t, stored as a log

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, D) image embeddings, not normalised."""
        return self.image_encoder(images)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, T) tokens -> (B, D) text embeddings, not normalised."""
        return self.text_encoder(tokens)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image_features = F.normalize(self.encode_image(images), dim=-1)  # (B, D), unit rows
        text_features = F.normalize(self.encode_text(tokens), dim=-1)  # (B', D), unit rows
        return image_features, text_features, self.logit_scale.exp().clamp(max=self.config.max_logit_scale)


# -------------------------------------------------------------------------------------------- training
# The loss, ``clip_loss``, and zero-shot classification (``zero_shot_classifier``, ``zero_shot_predict``,
# ``top_k_accuracy``) are notebook 06's exercises: their answers are in ``answers/a06_clip.py``.

#: The five orders of the RGB channels other than RGB itself.
PERMUTATIONS = torch.tensor([[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])


def recolour(images: torch.Tensor, tokens: torch.Tensor, colour_ids: torch.Tensor, unk_id: int,
             p: float, word_id: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Recolour a fraction ``p`` of the pairs, keeping each image consistent with its caption.

    A chosen image gets its RGB channels permuted (a red shape may turn green or blue; black, grey and white stay
    as they are), and its caption's colour words (token ids ``colour_ids``) become ``unk_id``: the caption still
    names the shape, size, place and background, but no longer a colour it might not have. Colour words after the
    token ``word_id`` ("... with the word blue written on it.") stay: they name black or white letters, which the
    permutation leaves as they are.
    Args: images (B, 3, H, W), tokens (B, T). Returns the new images and tokens, same shapes.
    """
    b, device = len(images), images.device
    chosen = torch.rand(b, device=device) < p  # (B,)
    order = PERMUTATIONS.to(device)[torch.randint(len(PERMUTATIONS), (b,), device=device)]  # (B, 3)
    order = torch.where(chosen[:, None], order, torch.arange(3, device=device))  # the others keep RGB
    images = torch.gather(images, 1, order[:, :, None, None].expand_as(images))  # (B, 3, H, W)
    hide = chosen[:, None] & torch.isin(tokens, colour_ids.to(device))  # (B, T): the chosen captions' colours
    if word_id is not None:
        hide &= (tokens == word_id).cumsum(dim=1) == 0  # only before "word": the written word stays
    return images, tokens.masked_fill(hide, unk_id)


def train_clip(images: torch.Tensor, captions: list[str], config: CLIPConfig | None = None,
               tokenizer: Tokenizer | None = None, loss: Loss = clip_loss, progress: bool = True,
               desc: str = "CLIP") -> tuple[CLIP, History]:
    """Train CLIP on images (N, 3, 32, 32) in [0, 1] and their N captions, on the images' device.

    The captions are tokenised once, up front (``tokenizer``, default ``Tokenizer()``). Each step draws a batch of
    distinct pairs, ``recolour``s a fraction ``config.recolour_p`` of them and minimises ``loss(I, T, logit_scale)``:
    pass your own ``clip_loss`` as ``loss``. The optimiser is the paper's: AdamW with beta2 = 0.98, weight decay on
    weight matrices only (not on biases, norms or the logit scale), a linear warm-up, then a cosine decay to 0.
    Returns the model, in eval mode, and the History of the loss.
    """
    config = config or CLIPConfig()
    tokenizer = tokenizer or Tokenizer()
    tokens = tokenizer.encode(captions, config.context_length).to(images.device)  # (N, T)
    colour_ids = torch.tensor([tokenizer.index[c] for c in CLASSES["colour"]], device=images.device)
    model = CLIP(config, len(tokenizer), tokenizer.eot_id).to(images.device).train()
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    others = [p for p in model.parameters() if p.ndim < 2]  # biases, norm gains, the logit scale
    optimizer = torch.optim.AdamW([{"params": matrices}, {"params": others, "weight_decay": 0.0}], lr=config.lr,
                                  betas=(0.9, 0.98), weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(warmup_cosine, warmup=config.warmup_steps,
                                                                    total=config.steps))

    def batch() -> tuple[torch.Tensor, torch.Tensor]:  # B distinct pairs: a repeated image would be its own negative
        rows = torch.randperm(len(images), device=images.device)[:config.batch_size]
        x, t = recolour(images[rows], tokens[rows], colour_ids, tokenizer.unk_id, config.recolour_p,
                        word_id=tokenizer.index["word"])
        return x, t  # (B, 3, H, W), (B, T)

    def step(pairs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        value = loss(*model(*pairs))  # loss(I, T, logit_scale)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        schedule.step()
        return value

    history = fit(step, batch, steps=config.steps, desc=desc, progress=progress)
    return model.eval(), history


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The learning rate's factor at ``step``: rising linearly to 1 over ``warmup`` steps, then a cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@torch.no_grad()
def embed_images(model: CLIP, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Unit-length image embeddings (N, D) of images (N, 3, H, W), in eval mode and batches, on the model's device."""
    model.eval()
    device = model.logit_scale.device
    return torch.cat([F.normalize(model.encode_image(images[i:i + batch_size].to(device)), dim=-1)
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def embed_texts(model: CLIP, tokenizer: Tokenizer, texts: list[str], batch_size: int = 500) -> torch.Tensor:
    """Unit-length text embeddings (M, D) of M texts, on the model's device."""
    model.eval()
    tokens = tokenizer.encode(texts, model.config.context_length).to(model.logit_scale.device)  # (M, T)
    return torch.cat([F.normalize(model.encode_text(tokens[i:i + batch_size]), dim=-1)
                      for i in range(0, len(tokens), batch_size)])
