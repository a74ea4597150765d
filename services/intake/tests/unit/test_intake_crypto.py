"""Encryption of personal data at rest: AES-GCM values bound to their field, key ids, rotation."""

import base64
import os

import pytest

from intake.crypto import (
    EncryptionKeyError,
    PersonalDataCipher,
    UndecryptableData,
    UnknownKeyId,
    key_id_of,
)

NAME = "intake/petitioners/case-1/0/name"


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def test_round_trip_and_ciphertext_hides_the_value() -> None:
    cipher = PersonalDataCipher.from_setting(f"2025a:{new_key()}")
    token = cipher.encrypt("张三 13812345678", context=NAME)
    assert token.startswith("v1.2025a.")
    assert "张三" not in token
    assert "13812345678" not in token
    assert cipher.decrypt(token, context=NAME) == "张三 13812345678"
    assert cipher.encrypt_optional(None, context=NAME) is None
    assert cipher.decrypt_optional(None, context=NAME) is None


def test_bare_key_as_made_by_make_up_runs_as_key_id_k0() -> None:
    cipher = PersonalDataCipher.from_setting(new_key())
    assert cipher.current_key_id == "k0"
    assert key_id_of(cipher.encrypt("李四", context=NAME)) == "k0"


def test_nonces_are_fresh_for_every_value() -> None:
    cipher = PersonalDataCipher.from_setting(f"k1:{new_key()}")
    tokens = [cipher.encrypt("张三", context=NAME) for _ in range(10_000)]
    nonces = {base64.urlsafe_b64decode(t.split(".")[2] + "==")[:12] for t in tokens}
    assert len(nonces) == len(tokens)


def test_rotation_new_key_first_still_reads_old_data() -> None:
    old, new = f"2025a:{new_key()}", f"2026a:{new_key()}"
    token_old = PersonalDataCipher.from_setting(old).encrypt("李四", context=NAME)
    rotated = PersonalDataCipher.from_setting(f"{new},{old}")
    assert rotated.current_key_id == "2026a"
    assert rotated.key_ids == ("2026a", "2025a")
    assert rotated.decrypt(token_old, context=NAME) == "李四"
    token_new = rotated.encrypt("王五", context=NAME)
    assert key_id_of(token_new) == "2026a"
    assert rotated.needs_reencryption(token_old)
    assert not rotated.needs_reencryption(token_new)
    # Once everything is re-encrypted, the old key can go.
    reencrypted = rotated.rotate(token_old, context=NAME)
    assert not rotated.needs_reencryption(reencrypted)
    only_new = PersonalDataCipher.from_setting(new)
    assert only_new.decrypt(token_new, context=NAME) == "王五"
    assert only_new.decrypt(reencrypted, context=NAME) == "李四"


def test_unknown_key_id_is_named_but_no_key_is_shown() -> None:
    old_key = new_key()
    token_old = PersonalDataCipher.from_setting(f"2025a:{old_key}").encrypt("李四", context=NAME)
    only_new = PersonalDataCipher.from_setting(f"2026a:{new_key()}")
    with pytest.raises(UnknownKeyId, match="key id '2025a', which is not in INTAKE_ENCRYPTION_KEYS") as info:
        only_new.decrypt(token_old, context=NAME)
    assert info.value.key_id == "2025a"
    assert old_key not in str(info.value)


def test_tampered_ciphertext_fails_authentication() -> None:
    cipher = PersonalDataCipher.from_setting(f"k1:{new_key()}")
    token = cipher.encrypt("张三", context=NAME)
    header, payload = token.rsplit(".", 1)
    blob = bytearray(base64.urlsafe_b64decode(payload + "=="))
    blob[-1] ^= 0x01
    tampered = f"{header}.{base64.urlsafe_b64encode(bytes(blob)).decode().rstrip('=')}"
    with pytest.raises(UndecryptableData, match=r"key id 'k1'.* failed authentication"):
        cipher.decrypt(tampered, context=NAME)


@pytest.mark.parametrize(
    "other_context",
    [
        "intake/petitioners/case-2/0/name",  # same field of another case
        "intake/petitioners/case-1/1/name",  # another petitioner of the same case
        "intake/petitioners/case-1/0/phone",  # another field of the same petitioner
    ],
)
def test_value_copied_to_another_row_or_field_does_not_decrypt(other_context: str) -> None:
    cipher = PersonalDataCipher.from_setting(f"k1:{new_key()}")
    token = cipher.encrypt("张三", context=NAME)
    with pytest.raises(UndecryptableData, match="belongs to another record or field"):
        cipher.decrypt(token, context=other_context)


def test_relabelled_key_id_does_not_decrypt() -> None:
    key = new_key()
    cipher = PersonalDataCipher.from_setting(f"a:{key},b:{key}")
    token = cipher.encrypt("张三", context=NAME)
    with pytest.raises(UndecryptableData, match="failed authentication"):
        cipher.decrypt(token.replace("v1.a.", "v1.b.", 1), context=NAME)


@pytest.mark.parametrize(
    "token",
    ["", "gAAAAABfernet-token", "v2.k1.AAAA", "v1.k1", "v1.k1.AAAA", "v1.k1.not*base64", "v1.bad id.AAAA"],
)
def test_malformed_stored_values_fail_clearly(token: str) -> None:
    cipher = PersonalDataCipher.from_setting(f"k1:{new_key()}")
    with pytest.raises(UndecryptableData):
        cipher.decrypt(token, context=NAME)


@pytest.mark.parametrize("setting", ["", " , ", ","])
def test_missing_key_is_refused_with_a_clear_message(setting: str) -> None:
    with pytest.raises(EncryptionKeyError, match="INTAKE_ENCRYPTION_KEYS is not set"):
        PersonalDataCipher.from_setting(setting)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("k2:not-a-secret-key-value", r"entry #2 \(key id 'k2'\) is not a valid AES-256 key"),
        ("not-a-secret-key-value", r"entry #2 \(key id 'k0'\) is not a valid AES-256 key"),
        # A 16-byte (AES-128) key is refused: the keyring is AES-256 only.
        ("k2:" + base64.urlsafe_b64encode(b"not-a-secret-key").decode(), "is not a valid AES-256 key"),
        ("k2:not+a/secret+key+value+in+standard+base64+aaa=", "is not a valid AES-256 key"),
        # Random keys get fixed ids: the test ids must not change between collections (xdist).
        pytest.param("not a secret id:" + new_key(), "entry #2 has an invalid key id", id="spaces-in-id"),
        pytest.param(
            "not-a-secret-id-longer-than-32-chars:" + new_key(),
            "entry #2 has an invalid key id",
            id="id-too-long",
        ),
        pytest.param(":" + new_key(), "entry #2 has an invalid key id", id="empty-id"),
        pytest.param(
            "k1:" + new_key(), "entry #2 repeats key id 'k1'; key ids must be unique", id="repeated-id"
        ),
    ],
)
def test_invalid_keyring_is_refused_without_echoing_secrets(entry: str, message: str) -> None:
    with pytest.raises(EncryptionKeyError, match=message) as info:
        PersonalDataCipher.from_setting(f"k1:{new_key()},{entry}")
    # Only a valid key id may be echoed: anything else in an entry may be secret.
    for part in entry.split(":"):
        assert part in ("", "k1", "k2") or part not in str(info.value)


def test_two_bare_keys_collide_on_k0_with_a_hint() -> None:
    hint = r"repeats key id 'k0' \(an entry without an id gets 'k0'\)"
    with pytest.raises(EncryptionKeyError, match=hint):
        PersonalDataCipher.from_setting(f"{new_key()},{new_key()}")


def test_context_is_required() -> None:
    cipher = PersonalDataCipher.from_setting(f"k1:{new_key()}")
    with pytest.raises(ValueError, match="context"):
        cipher.encrypt("张三", context="")
