"""Encryption of personal data at rest, key validation and rotation."""

import pytest
from cryptography.fernet import Fernet

from intake.crypto import EncryptionKeyError, PersonalDataCipher, UndecryptableData


def test_round_trip_and_ciphertext_hides_the_value() -> None:
    cipher = PersonalDataCipher([Fernet.generate_key().decode()])
    token = cipher.encrypt("张三 13812345678")
    assert "张三" not in token
    assert "13812345678" not in token
    assert cipher.decrypt(token) == "张三 13812345678"
    assert cipher.encrypt_optional(None) is None
    assert cipher.decrypt_optional(None) is None


def test_same_value_encrypts_differently_each_time() -> None:
    cipher = PersonalDataCipher([Fernet.generate_key().decode()])
    assert cipher.encrypt("张三") != cipher.encrypt("张三")


def test_rotation_new_key_first_still_reads_old_data() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token_old = PersonalDataCipher([old]).encrypt("李四")
    rotated = PersonalDataCipher.from_setting(f"{new},{old}")
    assert rotated.decrypt(token_old) == "李四"
    # New data and re-encrypted data need only the new key.
    only_new = PersonalDataCipher([new])
    assert only_new.decrypt(rotated.encrypt("王五")) == "王五"
    assert only_new.decrypt(rotated.rotate(token_old)) == "李四"
    with pytest.raises(UndecryptableData):
        only_new.decrypt(token_old)


@pytest.mark.parametrize("setting", ["", " , ", ","])
def test_missing_key_is_refused_with_a_clear_message(setting: str) -> None:
    with pytest.raises(EncryptionKeyError, match="INTAKE_ENCRYPTION_KEYS is not set"):
        PersonalDataCipher.from_setting(setting)


def test_invalid_key_is_refused_without_echoing_it() -> None:
    good = Fernet.generate_key().decode()
    with pytest.raises(EncryptionKeyError, match="entry #2 is not a valid Fernet key") as info:
        PersonalDataCipher.from_setting(f"{good},not-a-secret-key-value")
    assert "not-a-secret-key-value" not in str(info.value)
