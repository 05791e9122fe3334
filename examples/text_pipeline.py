"""Text pipeline: fetch -> tokenize -> {word counts over 4 chunks in parallel, TF-IDF topic} -> report.

Documents are generated from topic vocabularies at container start (no downloads); ``topic``'s init fits a TF-IDF
vectorizer and a naive Bayes classifier on a generated corpus (imports + fitting = the cold start).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

TOPICS = {
    "sports": "match team goal player coach season league score win defeat stadium referee transfer",
    "science": "experiment data theory cell energy particle research measure model physics biology lab",
    "finance": "market stock price bank rate investor bond profit loss fund trade inflation currency",
    "travel": "flight hotel beach city tour museum train passport island mountain journey guide",
}
FILLER = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "was",
    "at",
    "by",
    "this",
    "be",
    "from",
    "or",
    "are",
    "an",
]
CHUNKS = 4
_WORD = re.compile(r"[a-z]+")


def _document(rng: np.random.Generator, topic: str, words: int) -> str:
    """``words`` words: 35% from the topic's vocabulary, 10% from other topics', the rest filler."""
    vocab = np.array(TOPICS[topic].split())
    others = np.array([w for t, v in TOPICS.items() if t != topic for w in v.split()])
    draw = rng.random(words)
    out = np.where(
        draw < 0.35,
        vocab[rng.integers(0, vocab.size, words)],
        np.where(
            draw < 0.45,
            others[rng.integers(0, others.size, words)],
            np.array(FILLER)[rng.integers(0, len(FILLER), words)],
        ),
    )
    return " ".join(out.tolist()).capitalize() + "."


def make_corpus(n: int = 16, words: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Init of ``fetch``: ``n`` documents of ``words`` words, topics in turn."""
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    return {"docs": [_document(rng, topics[i % len(topics)], words) for i in range(n)]}


def fetch(request: Any, ctx: Any) -> str:
    """The request's document (the request id picks one; a string input is used as is)."""
    if isinstance(request, str):
        return request
    docs = ctx.state["docs"]
    return str(docs[int(request) % len(docs)])


def tokenize(text: str) -> list[str]:
    """Lower-case words without filler words."""
    stop = set(FILLER)
    return [w for w in _WORD.findall(text.lower()) if w not in stop]


def count_words(tokens: list[str], ctx: Any) -> dict[str, int]:
    """Copy ``k`` counts the words of chunk ``k`` of ``fanout``."""
    n = len(tokens)
    k, parts = ctx.copy, ctx.fanout
    return dict(Counter(tokens[k * n // parts : (k + 1) * n // parts]))


def train_topic_model(n: int = 200, seed: int = 1) -> Any:
    """Init of ``topic``: TF-IDF + multinomial naive Bayes on a generated, labelled corpus."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    labels = [topics[i % len(topics)] for i in range(n)]
    docs = [" ".join(tokenize(_document(rng, t, 200))) for t in labels]
    return make_pipeline(TfidfVectorizer(sublinear_tf=True), MultinomialNB(alpha=0.1)).fit(docs, labels)


def topic(tokens: list[str], ctx: Any) -> dict[str, Any]:
    proba = ctx.state.predict_proba([" ".join(tokens)])[0]
    best = int(np.argmax(proba))
    return {"topic": str(ctx.state.classes_[best]), "confidence": float(proba[best])}


def report(parts: dict[str, Any]) -> dict[str, Any]:
    """Merge the chunk counts (the list from ``count``) and attach the topic."""
    total: Counter[str] = Counter()
    for counts in parts["count"]:
        total.update(counts)
    return {**parts["topic"], "words": sum(total.values()), "top": total.most_common(5)}
