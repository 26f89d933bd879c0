"""Canvas Live Events for tests: an RSA key pair Canvas would sign with, its JWKS, and signed JWTs.

``keys`` is a module-scoped fixture (import it into the test module): ``good`` signs, ``other``
is a stranger's key, ``jwks`` publishes ``good`` as kid ``instructure-1``.
"""
from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

KID = "instructure-1"


@pytest.fixture(scope="module")
def keys():
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(good.public_key()))
    return {"good": good, "other": other, "jwks": {"keys": [{**public, "kid": KID, "alg": "RS256"}]}}


def sign_event(payload: dict, key, kid: str = KID, algorithm: str = "RS256") -> bytes:
    """``payload`` as Canvas pushes it: a JWT issued now, its header naming the signing key."""
    return jwt.encode({**payload, "iat": int(time.time())}, key, algorithm=algorithm, headers={"kid": kid}).encode()
