"""Encryption of petitioners' personal data at rest: AES-256-GCM with key ids, so keys can rotate.

Keyring (``INTAKE_ENCRYPTION_KEYS``): comma-separated ``<key id>:<base64url 32-byte key>``
entries; the first encrypts, all decrypt. A bare key without an id gets the id ``k0``.

Stored value: ``v1.<key id>.<base64url(nonce || ciphertext || tag)>`` (base64url without
padding), with a fresh random 96-bit nonce per value. The associated data is the value's
header (``v1.<key id>.``) followed by a caller-given context naming its row and field, so a
ciphertext copied to another row or field does not decrypt.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEYS_ENV = "INTAKE_ENCRYPTION_KEYS"
FORMAT_VERSION = "v1"
DEFAULT_KEY_ID = "k0"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_HOW_TO_MAKE_ONE = (
    "generate a key with: python -c 'import base64, os; "
    "print(base64.urlsafe_b64encode(os.urandom(32)).decode())' "
    "and configure it as <key id>:<key>, e.g. 2025a:<key>"
)


class EncryptionKeyError(RuntimeError):
    """The configured encryption keys are missing or malformed; the service must not start."""


class UndecryptableData(RuntimeError):
    """A stored value cannot be decrypted: malformed, altered, or bound to another row or field."""


class UnknownKeyId(UndecryptableData):
    """A stored value was encrypted with a key id that is not in the keyring (dropped too early)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"stored personal data was encrypted with key id {key_id!r}, which is not in {KEYS_ENV}; "
            f"put that key back (after the current one) until the data is re-encrypted"
        )
        self.key_id = key_id


def _b64url_decode(text: str) -> bytes:
    """Strict base64url decoding, padding optional; raises ValueError on anything else."""
    if not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def parse_keyring(entries: Sequence[str]) -> list[tuple[str, bytes]]:
    """(key id, key) pairs from keyring entries, current key first; errors never echo a key."""
    keyring: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for position, raw in enumerate((e.strip() for e in entries if e.strip()), start=1):
        if ":" in raw:
            key_id, _, material = raw.partition(":")
            if not _KEY_ID.fullmatch(key_id):
                # Not echoed: a malformed id may be a pasted key.
                raise EncryptionKeyError(
                    f"{KEYS_ENV} entry #{position} has an invalid key id: it must be 1-32 characters "
                    f"of A-Z a-z 0-9 _ - before the ':'"
                )
        else:
            key_id, material = DEFAULT_KEY_ID, raw
        try:
            key = _b64url_decode(material)
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            # Never echo the key itself: it is a secret even when malformed.
            raise EncryptionKeyError(
                f"{KEYS_ENV} entry #{position} (key id {key_id!r}) is not a valid AES-256 key "
                f"(32 bytes, url-safe base64 encoded); {_HOW_TO_MAKE_ONE}"
            )
        if key_id in seen:
            hint = f" (an entry without an id gets {DEFAULT_KEY_ID!r})" if key_id == DEFAULT_KEY_ID else ""
            raise EncryptionKeyError(
                f"{KEYS_ENV} entry #{position} repeats key id {key_id!r}{hint}; key ids must be unique"
            )
        seen.add(key_id)
        keyring.append((key_id, key))
    if not keyring:
        raise EncryptionKeyError(
            f"{KEYS_ENV} is not set: it must hold at least one <key id>:<key> entry; {_HOW_TO_MAKE_ONE}"
        )
    return keyring


def _split(token: str) -> tuple[str, str]:
    """The key id and payload of a stored value; UndecryptableData if it is not a v1 value."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != FORMAT_VERSION or not _KEY_ID.fullmatch(parts[1]):
        raise UndecryptableData(f"stored personal data is not in the {FORMAT_VERSION}.<key id>.<data> format")
    return parts[1], parts[2]


def key_id_of(token: str) -> str:
    """The id of the key a stored value was encrypted with."""
    return _split(token)[0]


class PersonalDataCipher:
    """Encrypts with the first key of the keyring and decrypts with any of them (AES-256-GCM)."""

    def __init__(self, keys: Sequence[str]) -> None:
        keyring = parse_keyring(keys)
        self._current_key_id = keyring[0][0]
        self._aeads = {key_id: AESGCM(key) for key_id, key in keyring}

    @classmethod
    def from_setting(cls, value: str) -> PersonalDataCipher:
        """Build from the comma-separated keyring of ``INTAKE_ENCRYPTION_KEYS``."""
        return cls(value.split(","))

    @property
    def current_key_id(self) -> str:
        """The id of the key new values are encrypted with."""
        return self._current_key_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id that can be decrypted, current first."""
        return tuple(self._aeads)

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """Encrypt under the current key, bound to ``context`` (the value's row and field)."""
        if not context:
            raise ValueError("context must name the value's row and field")
        header = f"{FORMAT_VERSION}.{self._current_key_id}."
        # Random 96-bit nonces: safe for far more values per key than intake will ever store
        # (NIST SP 800-38D allows 2**32 per key); rotate keys long before that.
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aeads[self._current_key_id].encrypt(
            nonce, plaintext.encode("utf-8"), (header + context).encode("utf-8")
        )
        return header + _b64url_encode(nonce + sealed)

    def decrypt(self, token: str, *, context: str) -> str:
        """Decrypt a value made with any key of the keyring for this same ``context``."""
        key_id, payload = _split(token)
        aead = self._aeads.get(key_id)
        if aead is None:
            raise UnknownKeyId(key_id)
        try:
            blob = _b64url_decode(payload)
        except ValueError:
            blob = b""
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise UndecryptableData(f"stored personal data (key id {key_id!r}) is truncated or malformed")
        header = f"{FORMAT_VERSION}.{key_id}."
        try:
            plaintext = aead.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], (header + context).encode("utf-8")
            )
        except InvalidTag as exc:
            raise UndecryptableData(
                f"stored personal data (key id {key_id!r}) failed authentication: it was altered, "
                f"or it belongs to another record or field"
            ) from exc
        return plaintext.decode("utf-8")

    def encrypt_optional(self, plaintext: str | None, *, context: str) -> str | None:
        """Encrypt a value that may be absent."""
        return None if plaintext is None else self.encrypt(plaintext, context=context)

    def decrypt_optional(self, token: str | None, *, context: str) -> str | None:
        """Decrypt a value that may be absent."""
        return None if token is None else self.decrypt(token, context=context)

    def needs_reencryption(self, token: str) -> bool:
        """Whether a stored value was encrypted with a key other than the current one."""
        return key_id_of(token) != self._current_key_id

    def rotate(self, token: str, *, context: str) -> str:
        """The value under the current key (unchanged if it already is), for a rotation job."""
        if not self.needs_reencryption(token):
            return token
        return self.encrypt(self.decrypt(token, context=context), context=context)
