"""Tokenisation: the tiny preset's offline word-level tokenizer and EOS-terminated batches.

`build_word_level_tokenizer` makes the tokenizer of the tiny preset from a corpus (item titles and
relation texts) with the `tokenizers` library: WordLevel model, lowercase normaliser, whitespace /
punctuation pre-tokenizer, the template "[BOS] $A [EOS]", wrapped in a transformers fast tokenizer so
that it saves and reloads offline like any Hugging Face tokenizer.

`tokenize` turns texts into padded id / mask tensors for the CLIP text tower with any tokenizer
(`Backbone.tokenize` passes the backbone's own). Every sequence ends with EOS, also when cut at
`max_text_tokens`, because the text tower pools at the EOS token (rcml_core.model.encoders.eot_index);
how many texts were cut is returned so that callers count and report it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from torch import Tensor
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from rcml_core.errors import ConfigError

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
# Order fixes the ids: PAD 0, UNK 1, BOS 2, EOS 3. EOS must not be 2: transformers' CLIP text model
# treats eos_token_id == 2 as a legacy OpenAI config and pools at argmax(input_ids) instead.
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, BOS, EOS)


@dataclass
class TokenizedText:
    """A padded batch of token ids for the CLIP text tower.

    input_ids: (N, n) long, n = longest sequence in the batch (<= max_text_tokens); padded with the
        tokenizer's pad id; every row ends (before its padding) with EOS.
    attention_mask: (N, n) long, 1 = real token, 0 = padding.
    truncated: how many of the N texts were longer than max_text_tokens and were cut.
    """

    input_ids: Tensor
    attention_mask: Tensor
    truncated: int

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def build_word_level_tokenizer(
    corpus: Iterable[str], max_text_tokens: int, min_frequency: int = 1
) -> PreTrainedTokenizerFast:
    """Train a WordLevel tokenizer on `corpus` (offline); ids: [PAD] 0, [UNK] 1, [BOS] 2, [EOS] 3, then words."""
    texts = [t for t in corpus if isinstance(t, str) and t.strip()]
    if not texts:
        raise ConfigError(
            "tokenizer corpus is empty: the tiny preset builds its vocabulary from item and relation texts"
        )
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # splits on whitespace and around punctuation: \w+|[^\w\s]+
    trainer = trainers.WordLevelTrainer(special_tokens=list(SPECIAL_TOKENS), min_frequency=min_frequency)
    tok.train_from_iterator(texts, trainer=trainer)
    ids = {name: tok.token_to_id(name) for name in SPECIAL_TOKENS}
    if ids != {PAD: 0, UNK: 1, BOS: 2, EOS: 3}:  # the trainer assigns special tokens first, in order
        raise RuntimeError(f"unexpected special-token ids {ids}")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, ids[BOS]), (EOS, ids[EOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        model_max_length=max_text_tokens,
    )


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_text_tokens: int) -> TokenizedText:
    """Tokenize `texts` with special tokens, cut to `max_text_tokens` keeping EOS last, pad to the longest.

    A text longer than the limit keeps its first max_text_tokens - 1 tokens and gets EOS as its last
    token (what transformers' truncation does for a "[BOS] $A [EOS]" template); it is counted in
    `truncated`.
    """
    if isinstance(texts, str):
        raise TypeError("tokenize expects a sequence of texts, got a single str")
    if len(texts) == 0:
        raise ValueError("tokenize needs at least one text")
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ConfigError(f"tokenizer {type(tokenizer).__name__} has no eos_token: the CLIP text tower pools at EOS")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    # One pass, cut at max + 1: a row of length max + 1 is exactly a text that does not fit.
    rows: list[list[int]] = tokenizer(
        list(texts), add_special_tokens=True, truncation=True, max_length=max_text_tokens + 1
    )["input_ids"]
    truncated = 0
    for i, ids in enumerate(rows):
        if not ids or ids[-1] != eos:
            raise ConfigError(
                f"tokenizer {type(tokenizer).__name__} does not end text {i} ({texts[i][:40]!r}) with EOS "
                f"(id {eos}); it needs a post-processor that appends EOS"
            )
        if len(ids) > max_text_tokens:
            rows[i] = ids[: max_text_tokens - 1] + [eos]
            truncated += 1
    n = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), n), pad, dtype=torch.long)  # (N, n)
    attention_mask = torch.zeros((len(rows), n), dtype=torch.long)  # (N, n)
    for i, ids in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[i, : len(ids)] = 1
    return TokenizedText(input_ids=input_ids, attention_mask=attention_mask, truncated=truncated)

