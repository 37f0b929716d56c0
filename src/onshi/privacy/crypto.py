"""My Number at rest (個人番号の保管): AES-256-GCM encryption and a keyed lookup hash.

The plain number never leaves this module except through :func:`reveal`, which
only the document renderer (last 4 digits) and the linkage check use.  The
hash is HMAC-SHA256 with its own key, so equal numbers can be found without
decrypting and without the hash being a dictionary-attackable SHA of 10¹² values.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from onshi.config import get_settings

_NONCE = 12


@dataclass(frozen=True)
class MyNumberVault:  # noqa: PLW1641 - keys compare by value
    """Encrypts, decrypts and hashes My Numbers with keys from configuration."""

    enc_key: bytes
    hash_key: bytes

    @classmethod
    def from_settings(cls) -> "MyNumberVault":
        s = get_settings()
        return cls(s.key_bytes("my_number_key"), s.key_bytes("my_number_hash_key"))

    @property
    def _aead(self) -> AESGCM:
        aead = self.__dict__.get("_aead_obj")
        if aead is None:
            aead = AESGCM(self.enc_key)
            object.__setattr__(self, "_aead_obj", aead)
        return aead

    def lookup_hash(self, my_number: str) -> str:
        return hmac.digest(self.hash_key, my_number.encode(), "sha256").hex()  # one call into OpenSSL

    def encrypt(self, my_number: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, my_number.encode(), b"my_number")

    def encrypter(self, batch: int = 4096):
        """:meth:`encrypt` for many numbers in a row: the same random nonces, read from the OS in blocks of *batch*
        rather than one system call each (the bulk intake encrypts a million numbers)."""
        aead, pool, at = self._aead, b"", 0

        def encrypt(my_number: str) -> bytes:
            nonlocal pool, at
            if at == len(pool):
                pool, at = os.urandom(_NONCE * batch), 0
            nonce = pool[at:at + _NONCE]
            at += _NONCE
            return nonce + aead.encrypt(nonce, my_number.encode(), b"my_number")

        return encrypt

    def reveal(self, blob: bytes) -> str:
        return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], b"my_number").decode()

    def last4(self, blob: bytes | None) -> str | None:
        return None if blob is None else self.reveal(blob)[-4:]

    # Rows that are not My Numbers but may contain one (quarantined raw rows).
    def seal(self, data: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, data, b"sealed")

    def unseal(self, blob: bytes) -> bytes:
        return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], b"sealed")


_vault: MyNumberVault | None = None


def vault() -> MyNumberVault:
    global _vault
    if _vault is None:
        _vault = MyNumberVault.from_settings()
    return _vault


def reset_vault() -> None:
    """Forget cached keys (tests switch settings)."""
    global _vault
    _vault = None
