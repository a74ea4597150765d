"""Encryption of petitioners' personal data at rest (Fernet, with key rotation)."""

from __future__ import annotations

import binascii
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEYS_ENV = "INTAKE_ENCRYPTION_KEYS"
_HOW_TO_MAKE_ONE = (
    "generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


class EncryptionKeyError(RuntimeError):
    """The configured encryption keys are missing or malformed; the service must not start."""


class UndecryptableData(RuntimeError):
    """A stored value cannot be decrypted with any configured key (a key was dropped too early)."""


class PersonalDataCipher:
    """Encrypts with the first key and decrypts with any of them (MultiFernet)."""

    def __init__(self, keys: Sequence[str]) -> None:
        keys = [key.strip() for key in keys if key.strip()]
        if not keys:
            raise EncryptionKeyError(
                f"{KEYS_ENV} is not set: it must hold at least one Fernet key; {_HOW_TO_MAKE_ONE}"
            )
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, binascii.Error) as exc:
                # Never echo the key itself: it is a secret even when malformed.
                raise EncryptionKeyError(
                    f"{KEYS_ENV} entry #{position} is not a valid Fernet key "
                    f"(32 bytes, url-safe base64 encoded); {_HOW_TO_MAKE_ONE}"
                ) from exc
        self._multi = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, value: str) -> PersonalDataCipher:
        """Build from the comma-separated key list of ``INTAKE_ENCRYPTION_KEYS``."""
        return cls(value.split(","))

    def encrypt(self, plaintext: str) -> str:
        """Encrypt with the primary key; the token is ASCII and carries its own timestamp."""
        return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token made with any configured key."""
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as exc:
            raise UndecryptableData(
                "stored personal data cannot be decrypted with the configured keys"
            ) from exc

    def encrypt_optional(self, plaintext: str | None) -> str | None:
        """Encrypt a value that may be absent."""
        return None if plaintext is None else self.encrypt(plaintext)

    def decrypt_optional(self, token: str | None) -> str | None:
        """Decrypt a value that may be absent."""
        return None if token is None else self.decrypt(token)

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the primary key (for a key-rotation job)."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise UndecryptableData(
                "stored personal data cannot be decrypted with the configured keys"
            ) from exc
