"""Canvas access tokens are encrypted at rest with Fernet (cryptography)."""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app


class TokenDecryptError(Exception):
    """The stored token cannot be decrypted with the configured keys."""

    def __init__(self) -> None:
        super().__init__(
            "The stored Canvas token cannot be decrypted (the encryption key changed). "
            "Save the token again in Settings."
        )


def _derive_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(f"canvasflow-token:{secret}".encode()).digest())


def build_cipher(config: dict) -> MultiFernet:
    keys = [k.strip() for k in (config.get("TOKEN_ENCRYPTION_KEY") or "").split(",") if k.strip()]
    if not keys:
        keys = [_derive_key(config["SECRET_KEY"]).decode()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


def init_app(app: Flask) -> None:
    app.extensions["token_cipher"] = build_cipher(app.config)


def encrypt_token(token: str) -> str:
    return current_app.extensions["token_cipher"].encrypt(token.encode()).decode()


def decrypt_token(ciphertext: str) -> str:
    try:
        return current_app.extensions["token_cipher"].decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptError() from exc
