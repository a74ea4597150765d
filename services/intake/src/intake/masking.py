"""Masked forms of personal data, for views that must not reveal who the petitioner is."""

from __future__ import annotations

import phonenumbers


def mask_name(name: str) -> str:
    """Keep the first character (usually the surname): 张三 -> 张*, 欧阳娜娜 -> 欧***."""
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def mask_id_number(id_number: str) -> str:
    """Keep the first 6 (region) and last 4 characters: 110101********123X."""
    if len(id_number) <= 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_phone(phone: str) -> str:
    """Keep the first 3 and last 4 digits of the national number: 138****5678."""
    try:
        digits = phonenumbers.national_significant_number(phonenumbers.parse(phone, "CN"))
    except phonenumbers.NumberParseException:
        digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 8:
        return "*" * max(len(digits) - 2, 0) + digits[-2:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
