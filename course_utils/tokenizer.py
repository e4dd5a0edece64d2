"""The tokenizer of notebook 06's CLIP: words to integer tokens, over the shapes world's vocabulary.

CLIP reads byte-pair tokens from a vocabulary of 49,152; the captioned shapes use about 40 words, so a word
list does: lowercase, punctuation split off, four special tokens (padding, start and end of text, unknown).
"""
from __future__ import annotations

import re
from typing import Iterable

import torch

from .data.shapes import CLASSES, PLACES, TEMPLATES
from .data.words import TEXT_TEMPLATES


class Tokenizer:
    """Words to integer tokens. Lowercase, punctuation split off: "A red star." -> a, red, star, "."

    The vocabulary is the shapes world's: every word of its caption templates (those of written words too), class
    names and places, any extra ``words`` (texts, split into words), and four special tokens. CLIP uses byte-pair
    encoding over 49,152 tokens; a world of about 40 words needs no more than a word list.
    """

    SPECIAL = ("<pad>", "<sot>", "<eot>", "<unk>")  # padding, start of text, end of text, unknown word

    def __init__(self, words: Iterable[str] = ()) -> None:
        texts = [re.sub(r"\{\w+\}", " ", t) for t in (*TEMPLATES, *TEXT_TEMPLATES)]  # without their {slots}
        texts += [w for names in CLASSES.values() for w in names] + list(PLACES.values())
        texts += [words] if isinstance(words, str) else list(words)
        vocabulary = sorted({w for text in texts for w in self.split(text)})
        self.vocabulary: list[str] = list(self.SPECIAL) + vocabulary
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.vocabulary)}
        self.pad_id, self.sot_id, self.eot_id, self.unk_id = range(4)

    def __len__(self) -> int:
        return len(self.vocabulary)

    @staticmethod
    def split(text: str) -> list[str]:
        """Lowercase words and single punctuation marks: "A star, left." -> ["a", "star", ",", "left", "."]."""
        return re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower())

    def encode(self, texts: str | list[str], context_length: int = 16) -> torch.Tensor:
        """Texts (B strings, or one) -> (B, T = context_length) int64 tokens: <sot> words <eot> <pad>...

        Unknown words become <unk>; a text too long for the context loses its last words, never its <eot>.
        """
        texts = [texts] if isinstance(texts, str) else texts
        tokens = torch.full((len(texts), context_length), self.pad_id, dtype=torch.long)  # (B, T)
        for row, text in enumerate(texts):  # string work, once per text: not a training hot path
            ids = [self.index.get(w, self.unk_id) for w in self.split(text)][:context_length - 2]
            tokens[row, :len(ids) + 2] = torch.tensor([self.sot_id, *ids, self.eot_id])
        return tokens

    def decode(self, tokens: torch.Tensor) -> list[str]:
        """(B, T) tokens -> B texts, the words between <sot> and <eot>, punctuation attached to its word."""
        texts = []
        for row in tokens.tolist():
            row = row[1:] if row and row[0] == self.sot_id else row
            row = row[:row.index(self.eot_id)] if self.eot_id in row else row
            text = " ".join(self.vocabulary[i] for i in row if i != self.pad_id)
            texts.append(re.sub(r" ([^\sa-z0-9<])", r"\1", text))
        return texts
