"""CLIP's byte-level BPE tokenizer, reading the operator's merges file.

The same algorithm as OpenAI's `simple_tokenizer.py` (lower-cased text, CLIP's pre-token
regex, byte-to-unicode mapping, BPE by merge rank, `<|startoftext|>` … `<|endoftext|>`,
padded or cut to the context length); the vocabulary is built from the merges file
(`bpe_simple_vocab_16e6.txt.gz` for the published CLIP models), which the operator provides
next to the text encoder — nothing is downloaded.
"""

from __future__ import annotations

import gzip
import html
from functools import lru_cache
from pathlib import Path

import numpy as np
import regex
from numpy.typing import NDArray

START, END = "<|startoftext|>", "<|endoftext|>"
_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes), strict=True))


class ClipTokenizer:
    def __init__(self, merges_path: Path, context_length: int = 77) -> None:
        raw = merges_path.read_bytes()
        if merges_path.suffix == ".gz":
            raw = gzip.decompress(raw)
        lines = raw.decode("utf-8").split("\n")
        merges = [tuple(line.split()) for line in lines[1:] if len(line.split()) == 2]
        byte_chars = list(bytes_to_unicode().values())
        vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
        vocab += [START, END]
        self.encoder = {token: index for index, token in enumerate(vocab)}
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.context_length = context_length
        self._cache: dict[str, list[str]] = {START: [START], END: [END]}

    def _bpe(self, token: str) -> list[str]:
        if token in self._cache:
            return self._cache[token]
        word = [*token[:-1], token[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        self._cache[token] = word
        return word

    def encode(self, text: str) -> list[int]:
        cleaned = " ".join(html.unescape(html.unescape(text)).split()).lower()
        mapping = bytes_to_unicode()
        ids: list[int] = []
        for token in _PATTERN.findall(cleaned):
            unicode_token = "".join(mapping[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[piece] for piece in self._bpe(unicode_token))
        return ids

    def __call__(self, texts: list[str]) -> NDArray[np.int64]:
        """[N, context_length] token ids, start and end tokens included, zero-padded."""
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.encoder[START], *self.encode(text)][: self.context_length - 1]
            ids.append(self.encoder[END])
            out[row, : len(ids)] = ids
        return out
