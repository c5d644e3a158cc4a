"""Goodreads genres from user shelves: the documented shelf-name -> genre mapping.

Goodreads books carry `popular_shelves`, the shelves users filed them on with counts
(e.g. {"count": "312", "name": "fantasy"}, {"count": "3", "name": "to-read"}). UCSD's own
genre labels (Wan & McAuley, 2018) are the ten genres below, derived from shelf names by
keyword; we do the same so the Goodreads profile categories match the paper's (A.2.8).

Rule: a shelf name is lower-cased and split into words at any non-alphanumeric character
("Young-Adult_Fantasy" -> young adult fantasy). Each genre has a list of phrases (word
sequences); the shelf votes, with its count, for the FIRST genre in GENRE_RULES order with a
phrase occurring in it as consecutive words. The order resolves overlaps: "young-adult-
fantasy" is Young Adult, "non-fiction" is Non-fiction (not Fiction), "historical-fiction"
is History & Biography (as in UCSD's "history, historical fiction, biography"),
"science-fiction" is Fantasy & Paranormal (speculative fiction; not Non-fiction's
"science"). Shelves matching no phrase ("to-read", "owned", "kindle", "favorites") do not
vote. A book's genre scores are the summed counts of its voting shelves (shelves with a
count below `min_shelf` are ignored); its genre is the top score, ties broken by
GENRE_RULES order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

GENRE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Young Adult", ("young adult", "ya", "teen", "teens", "juvenile")),
    ("Children's", ("children", "childrens", "children s", "kids", "picture book", "picture books", "chapter books")),
    ("Comics & Graphic", ("comics", "comic", "graphic novel", "graphic novels", "manga")),
    ("Poetry", ("poetry", "poems", "poem", "verse")),
    (
        "History & Biography",
        ("history", "historical", "biography", "biographies", "memoir", "memoirs", "autobiography"),
    ),
    ("Mystery, Thriller & Crime", ("mystery", "mysteries", "thriller", "thrillers", "crime", "suspense", "detective")),
    ("Romance", ("romance", "romantic", "chick lit", "love story")),
    (
        "Fantasy & Paranormal",
        (
            "fantasy",
            "paranormal",
            "urban fantasy",
            "vampires",
            "vampire",
            "supernatural",
            "science fiction",
            "sci fi",
            "scifi",
            "dystopian",
            "dystopia",
        ),
    ),
    (
        "Non-fiction",
        (
            "non fiction",
            "nonfiction",
            "self help",
            "science",
            "philosophy",
            "psychology",
            "business",
            "religion",
            "politics",
            "essays",
        ),
    ),
    ("Fiction", ("fiction", "literary fiction", "novels", "novel", "classics", "literature", "contemporary")),
)
GENRES: tuple[str, ...] = tuple(g for g, _ in GENRE_RULES)
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_PHRASES: tuple[tuple[int, tuple[str, ...]], ...] = tuple(
    (gi, tuple(p.split())) for gi, (_, phrases) in enumerate(GENRE_RULES) for p in phrases
)


def shelf_words(name: str) -> tuple[str, ...]:
    """A shelf name as lower-case words: "Young-Adult_Fantasy" -> ("young", "adult", "fantasy")."""
    return tuple(w for w in _WORD_SPLIT.split(name.lower()) if w)


def _contains(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


def shelf_genre(name: str) -> str | None:
    """The genre a shelf name votes for (first matching rule), or None if it names no genre."""
    words = shelf_words(name)
    for gi, phrase in _PHRASES:  # grouped by genre in GENRE_RULES order: the first hit is the first rule
        if _contains(words, phrase):
            return GENRES[gi]
    return None


class GenreMapper:
    """Books' genres from their shelves, remembering each distinct shelf name's genre.

    Shelf names repeat across millions of books; the memo makes mapping one dict look-up.
    """

    def __init__(self, min_shelf: int = 1) -> None:
        self.min_shelf = min_shelf
        self._memo: dict[str, int] = {}  # shelf name -> genre index, -1 for none

    def _index(self, name: str) -> int:
        gi = self._memo.get(name)
        if gi is None:
            genre = shelf_genre(name)
            gi = self._memo[name] = -1 if genre is None else GENRES.index(genre)
        return gi

    def scores(self, shelves: Iterable[tuple[str, int]]) -> np.ndarray:
        """(len(GENRES),) summed shelf counts per genre; shelves with count < min_shelf ignored."""
        scores = np.zeros(len(GENRES), dtype=np.int64)  # (G,)
        for name, count in shelves:
            if count >= self.min_shelf:
                gi = self._index(name)
                if gi >= 0:
                    scores[gi] += count
        return scores

    def top_genre(self, shelves: Iterable[tuple[str, int]]) -> str | None:
        """The genre with the highest summed count (ties: GENRE_RULES order); None if no shelf votes."""
        scores = self.scores(shelves)
        if scores.max(initial=0) <= 0:
            return None
        return GENRES[int(np.argmax(scores))]  # argmax returns the first maximum: rule order breaks ties
