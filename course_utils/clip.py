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

At our scale: 8,000 pairs instead of 400 million; a word-level vocabulary of the shapes world instead of 49,152
byte-pair tokens, read by a 2-layer transformer instead of 12 layers; and instead of a ViT, an image encoder with
two streams (``ImageEncoder``): SimCLR's small CNN over the image's outline, and a pixel-by-pixel colour stream.
Trained on 25 of the 30 (shape, colour) pairs, a plain CNN over RGB learns what its data say, that no circle is
cyan, and takes a cyan circle for another shape; the two streams cannot tie shape to colour. ``recolour``
turns the colour wheel of half of every batch and hides the colour words of those captions, which no longer
hold, but only by angles that keep the five held-out pairs out of training (module ``recolour``). See
``CLIPConfig`` for what FULL training reaches.
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
from .augment import blur
from .config import pick
from .data.shapes import CLASSES
from .data.words import TEXT_TEMPLATES  # noqa: F401  (re-exported)
from .similarity import recall_at_k  # noqa: F401  (re-exported: retrieval, section 4 of the notebook)
from .recolour import caption_pairs, recolour
from .simclr import Encoder, SimCLRConfig
from .tokenizer import Tokenizer
from .train import History, fit

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # clip_loss(I, T, logit_scale) -> ()

# -------------------------------------------------------------------------------------------- model

@dataclass
class CLIPConfig:
    """The two encoders and how they train. Step counts default to FULL, or FAST under ``COURSE_FAST=1``.

    Measured on shapes as notebook 06 trains it (FULL defaults, 1,250 steps; 30% of the shapes with a colour name
    written on them and 2,000 images of a word alone, all captioned by the word), 2 CPU threads, 51-54 s, seeds
    0-2 (``benchmarks/clip_quality.py``, 2026-12-04): zero-shot shape 0.999 on test and 1.000 on the held-out
    pairs, colour 1.000 and 1.000, with the ensembles of ``data.shapes.PROMPTS``; another colour's name written
    on a test shape wins 0.61-0.94 of the time (mean 0.76), and 0.000 once ``words.cover_words`` paints the words
    over. Without ``blur_p`` (0.0), a PCA round trip of a test image (notebook 06's decoder) was recognised 0.75-0.77
    of the time instead of 0.99. With a plain CNN over RGB instead of ``ImageEncoder``'s two streams, held-out
    shape fell to 0.15-0.71 (see there). FAST (150 steps) learns colour, not yet shape. Plain AdamW
    (``train.minimise``: no warm-up, beta2 0.999, lr 1e-3 to 4e-3) reached only 0.62-0.92 on test shape in the
    same time (measured with the earlier, plain CNN encoder).
    """

    embed_dim: int = 64  # D: the joint embedding space
    image_width: int = 16  # the CNN's channels at 16x16 (``simclr.Encoder``'s width)
    image_features: int = 64  # the outline CNN's output after global average pooling
    colour_features: int = 16  # the colour stream's output, after max pooling
    text_width: int = 64  # the transformer's width
    text_layers: int = 2
    text_heads: int = 4
    context_length: int = 16  # T: tokens per caption; the longest shapes caption has 14
    init_temperature: float = 0.07  # logit scale starts at 1 / 0.07 (the paper's value)
    max_logit_scale: float = 100.0  # the clamp of the paper
    recolour_p: float = 0.5  # the fraction of pairs ``recolour`` changes at each step (0: none)
    blur_p: float = 0.3  # the fraction of shapes then blurred (``augment.blur``, sigma ``blur_sigma``, 5 x 5)
    blur_sigma: tuple[float, float] = (0.5, 1.5)
    lr: float = 2e-3  # the peak, after warm-up
    weight_decay: float = 0.1  # on weight matrices only
    warmup_steps: int = field(default_factory=lambda: pick(fast=10, full=100))  # linear warm-up of the learning rate
    batch_size: int = field(default_factory=lambda: pick(fast=64, full=128))
    steps: int = field(default_factory=lambda: pick(fast=150, full=1250))


class ImageEncoder(nn.Module):
    """(B, 3, 32, 32) images in [0, 1] -> (B, D) image embeddings (not normalised): two streams, then W_i.

    A plain CNN over RGB ties shape to colour: in training no circle is ever cyan, so "cyan" becomes evidence
    against "circle", and a cyan circle is taken for another shape. Measured with the held-out pairs kept out of
    training (FULL, 11 single runs over variants of the data: written words or not, recolouring by channel orders
    or hue turns, 30% of the batch greyed or not): zero-shot shape on the held-out pairs 0.15 to 0.71, never the
    goal's 0.85. So the encoder is built to keep shape and colour apart, a choice of architecture, no extra data:
    - the **outline** stream, the CNN, sees only ``outline(images)``: how far each pixel's colour is from the
      background's, whatever the colour: shape, size, place and written words, but no hue;
    - the **colour** stream sees each pixel's colour alone (1x1 convolutions), max-pooled over the image: which
      colours are there, not where or in what shape.
    """

    def __init__(self, config: CLIPConfig) -> None:
        super().__init__()
        self.cnn = Encoder(SimCLRConfig(width=config.image_width, feature_dim=config.image_features))
        c = config.colour_features
        self.colour = nn.Sequential(nn.Conv2d(3, c, 1), nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU())  # pixel by pixel
        self.projection = nn.Linear(config.image_features + c, config.embed_dim, bias=False)  # W_i

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        shape = self.cnn(outline(images).expand(-1, 3, -1, -1))  # (B, F): the CNN takes 3 channels; give it 3 copies
        colour = self.colour(F.avg_pool2d(images, 2)).amax(dim=(2, 3))  # (B, c): at 16 x 16, pooled to one vector
        return self.projection(torch.cat([shape, colour], dim=1))  # (B, F + c) -> (B, D)


#: ``outline``'s ramp: a pixel this far from the background's colour (Euclidean, in RGB) is 0, this far or more 1.
#: Pixel noise (about 0.035) and the faint ripples of a PCA round trip stay under the first; every shape on every
#: background (0.5 or more) and every written word is past the second.
OUTLINE_RAMP = (0.2, 0.35)


def outline(images: torch.Tensor) -> torch.Tensor:
    """What an image shows without its colours: (B, 3, H, W) -> (B, 1, H, W) in [0, 1].

    Each pixel's distance from the background's colour (the median of the top row and the side columns; the bottom
    rows may hold a written word), through the ramp ``OUTLINE_RAMP``: a shape of any colour, or a word, is 1 on a
    background of 0.
    """
    border = torch.cat([images[:, :, 0], images[:, :, :, 0], images[:, :, :, -1]], dim=2)  # (B, 3, W + 2H)
    background = border.median(dim=2).values[:, :, None, None]  # (B, 3, 1, 1)
    distance = (images - background).square().sum(dim=1, keepdim=True).sqrt()  # (B, 1, H, W)
    low, high = OUTLINE_RAMP
    return ((distance - low) / (high - low)).clamp(0, 1)


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

def training_batches(images: torch.Tensor, captions: list[str], config: CLIPConfig,
                     tokenizer: Tokenizer) -> Callable[[], tuple[torch.Tensor, torch.Tensor]]:
    """What ``train_clip`` feeds its encoders: a function that draws one batch, (B, 3, H, W) images, (B, T) tokens.

    The captions are tokenised once, up front. Each call draws ``config.batch_size`` distinct pairs (a repeated
    image would be its own negative), ``recolour``s a fraction ``config.recolour_p`` of them and blurs a fraction
    ``config.blur_p`` of the shapes (``augment.blur``, 5 x 5 pixels, sigma ``config.blur_sigma``), so that CLIP
    still knows a shape whose edges are soft, as in a sample of notebook 06's decoder. The captions still hold:
    blur changes no attribute, and images of written words, whose captions are the words, stay sharp.
    """
    tokens = tokenizer.encode(captions, config.context_length).to(images.device)  # (N, T)
    pairs = caption_pairs(tokens, tokenizer)  # (N, 2)
    colour_ids = torch.tensor([tokenizer.index[c] for c in CLASSES["colour"]], device=images.device)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.randperm(len(images), device=images.device)[:config.batch_size]
        x, t = recolour(images[rows], tokens[rows], pairs[rows], colour_ids, tokenizer.unk_id, config.recolour_p)
        if not config.blur_p:
            return x, t
        # Blur only images whose caption names a shape: a blurred 3 x 5-pixel word could not be read, and the
        # caption of an image with a word on it is the word.
        chosen = (torch.rand(len(x), device=x.device) < config.blur_p) & (pairs[rows] >= 0).all(dim=1)
        return torch.where(chosen[:, None, None, None], blur(x, sigma=config.blur_sigma, kernel_size=5), x), t

    return batch


def train_clip(images: torch.Tensor, captions: list[str], config: CLIPConfig | None = None,
               tokenizer: Tokenizer | None = None, loss: Loss = clip_loss, progress: bool = True,
               desc: str = "CLIP") -> tuple[CLIP, History]:
    """Train CLIP on images (N, 3, 32, 32) in [0, 1] and their N captions, on the images' device.

    Each step draws a batch from ``training_batches`` (``tokenizer`` defaults to ``Tokenizer()``): distinct pairs,
    a fraction ``config.recolour_p`` of them ``recolour``ed; and minimises ``loss(I, T, logit_scale)``:
    pass your own ``clip_loss`` as ``loss``. The optimiser is the paper's: AdamW with beta2 = 0.98, weight decay on
    weight matrices only (not on biases, norms or the logit scale), a linear warm-up, then a cosine decay to 0.
    Returns the model, in eval mode, and the History of the loss and of the temperature 1 / s at each step.
    """
    config = config or CLIPConfig()
    tokenizer = tokenizer or Tokenizer()
    batch = training_batches(images, captions, config, tokenizer)
    model = CLIP(config, len(tokenizer), tokenizer.eot_id).to(images.device).train()
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    others = [p for p in model.parameters() if p.ndim < 2]  # biases, norm gains, the logit scale
    optimizer = torch.optim.AdamW([{"params": matrices}, {"params": others, "weight_decay": 0.0}], lr=config.lr,
                                  betas=(0.9, 0.98), weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, partial(warmup_cosine, warmup=config.warmup_steps,
                                                                    total=config.steps))

    def step(pairs: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        image_features, text_features, scale = model(*pairs)
        value = loss(image_features, text_features, scale)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        schedule.step()
        return {"loss": value, "temperature": 1 / scale.detach()}  # the temperature the step trained with, 1 / s

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
