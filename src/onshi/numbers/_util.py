"""Shared helpers of the number modules: width normalisation and the 2-1 check digit."""

from __future__ import annotations

import jaconv


def normalise(value: str) -> str:
    """全角 digits/letters → 半角, separators (space, hyphen) removed."""
    text = jaconv.z2h(str(value), kana=False, ascii=True, digit=True)
    for ch in (" ", "-", "\u3000", "－", "‐"):
        text = text.replace(ch, "")
    return text.strip()


def check_digit_21(digits: str) -> str:
    """Modulus 10, weights 2,1,2,1… from the rightmost digit; two-digit products add their digits.

    >>> check_digit_21("0113001")
    '2'
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        p = int(ch) * (2 if i % 2 == 0 else 1)
        total += p // 10 + p % 10
    return str((10 - total % 10) % 10)
