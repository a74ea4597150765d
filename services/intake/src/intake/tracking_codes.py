"""Tracking codes (查询码): the bearer secret a petitioner uses to follow a case."""

from __future__ import annotations

import hashlib
import secrets

# Crockford base32 without the letters people confuse with digits or each other (I, L, O, U).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENTROPY_BITS = 80
LENGTH = ENTROPY_BITS // 5
GROUP = 4

# Crockford decoding: what a person may type for what they read.
_TYPO_MAP = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_tracking_code() -> str:
    """A fresh code: 80 random bits as 16 Crockford characters, shown XXXX-XXXX-XXXX-XXXX."""
    value = secrets.randbits(ENTROPY_BITS)
    chars = [ALPHABET[(value >> (5 * i)) & 0x1F] for i in reversed(range(LENGTH))]
    return "-".join("".join(chars[i : i + GROUP]) for i in range(0, LENGTH, GROUP))


def normalize_tracking_code(code: str) -> str:
    """The canonical 16 characters of a code as typed: case, hyphens, spaces and O/I/L forgiven."""
    compact = code.strip().upper().replace("-", "").replace(" ", "").translate(_TYPO_MAP)
    if len(compact) != LENGTH or any(ch not in ALPHABET for ch in compact):
        raise ValueError(f"a tracking code has {LENGTH} characters from {ALPHABET}, e.g. 7K3M-Q9XA-2BHT-CW4R")
    return compact


def hash_tracking_code(code: str) -> str:
    """SHA-256 (hex) of the canonical code; only this is stored.

    No salt is needed: with 80 random bits, guessing a code from its hash is as hard as
    guessing the code.
    """
    return hashlib.sha256(normalize_tracking_code(code).encode("ascii")).hexdigest()
