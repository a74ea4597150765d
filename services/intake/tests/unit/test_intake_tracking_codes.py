"""Tracking codes: format, alphabet, entropy, normalisation and hashing."""

import re

import pytest

from intake.tracking_codes import ALPHABET, hash_tracking_code, new_tracking_code, normalize_tracking_code

FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def test_alphabet_is_crockford_without_ambiguous_letters() -> None:
    assert len(ALPHABET) == 32
    assert len(set(ALPHABET)) == 32
    assert not set("ILOU") & set(ALPHABET)


def test_codes_are_grouped_sixteen_characters() -> None:
    for _ in range(200):
        code = new_tracking_code()
        assert FORMAT.match(code), code
        assert len(code.replace("-", "")) == 16


def test_codes_do_not_repeat_and_use_the_whole_alphabet() -> None:
    codes = [new_tracking_code() for _ in range(5000)]
    assert len(set(codes)) == len(codes)
    assert set("".join(codes).replace("-", "")) == set(ALPHABET)


def test_first_character_is_not_biased() -> None:
    # 80 bits in 16 base-32 digits: the leading digit is as random as the others.
    counts = {ch: 0 for ch in ALPHABET}
    for _ in range(6400):
        counts[new_tracking_code()[0]] += 1
    assert min(counts.values()) > 100


def test_typed_variants_normalise_to_the_same_code() -> None:
    code = new_tracking_code()
    typed = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert normalize_tracking_code(typed) == code.replace("-", "")
    assert hash_tracking_code(typed) == hash_tracking_code(code)


def test_hash_is_sha256_hex_and_differs_per_code() -> None:
    a, b = new_tracking_code(), new_tracking_code()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_tracking_code(a))
    assert hash_tracking_code(a) != hash_tracking_code(b)


@pytest.mark.parametrize("bad", ["", "ABCD-EFGH", "ABCD-EFGH-JKMN-PQRU", "ABCD-EFGH-JKMN-PQRS-T"])
def test_malformed_codes_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="16 characters"):
        normalize_tracking_code(bad)
