"""The tiny tokenizer's vocabulary comes from train titles (and the relation texts) only; held-out words are [UNK]."""

from __future__ import annotations

from rcml_core.model.tokenizer import UNK, build_word_level_tokenizer, tokenize_with
from rcml_core.train.inputs import NEUTRAL_RELATION_TEXT
from rcml_core.train.run_config import resolve_run_config
from rcml_core.train.session import tokenizer_corpus
from tests.train.fake_dataset import fake_dataset


def _dataset():
    data = fake_dataset(n_items=4, edges=[(0, 1, 1)])
    items = data.items.copy()
    items["text"] = ["walnut crib", "oak crib", "zebra rattle", "unicorn blanket"]
    items["split"] = ["train", "train", "val", "test"]
    return type(data)(data.root, data.manifest, items, data.relations, data.edges, {}, {}, {})


def test_the_vocabulary_holds_train_titles_and_relation_texts_but_no_held_out_title() -> None:
    data = _dataset()
    corpus = tokenizer_corpus(data, resolve_run_config("tiny"))
    assert "walnut crib" in corpus and "oak crib" in corpus
    assert "zebra rattle" not in corpus and "unicorn blanket" not in corpus
    assert set(data.relations["text"]) <= set(corpus) and NEUTRAL_RELATION_TEXT in corpus


def test_a_held_out_word_is_the_unknown_token_and_the_text_still_ends_with_eos() -> None:
    tok = build_word_level_tokenizer(tokenizer_corpus(_dataset(), resolve_run_config("tiny")), 16)
    ids = tokenize_with(tok, ["zebra crib"], 16).input_ids[0].tolist()
    unk, crib = tok.convert_tokens_to_ids(UNK), tok.convert_tokens_to_ids("crib")
    assert ids == [tok.bos_token_id, unk, crib, tok.eos_token_id]
