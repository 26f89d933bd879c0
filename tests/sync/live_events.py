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


def sign_event(payload: dict, key, kid: str = KID, algorithm: str = "RS256", **claims) -> bytes:
    """``payload`` as Canvas pushes it: a JWT issued now, valid 5 minutes, its header naming the
    signing key. ``claims`` add or replace registered claims; a claim given as None is left out."""
    now = int(time.time())
    body = {**payload, "iat": now, "exp": now + 300, **claims}
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid}).encode()
