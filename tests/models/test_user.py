import pytest
from cryptography.fernet import Fernet

from app.crypto import TokenDecryptError
from app.models import User
from tests.conftest import make_test_app


def test_password_is_hashed(app):
    user = User(email="u@example.com")
    user.set_password("correct horse")
    assert "correct horse" not in user.password_hash
    assert user.check_password("correct horse")
    assert not user.check_password("wrong")


def test_token_round_trip_and_hint(app):
    user = User(email="u@example.com")
    user.canvas_token = "abc-secret-wxyz"
    assert "abc-secret" not in user.canvas_token_encrypted
    assert user.canvas_token == "abc-secret-wxyz"
    assert user.canvas_token_hint == "wxyz"
    assert "abc-secret" not in repr(user)


def test_key_rotation_decrypts_old_tokens():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with make_test_app("sqlite://", TOKEN_ENCRYPTION_KEY=old).app_context():
        user = User(email="u@example.com")
        user.canvas_token = "token-1234"
        ciphertext = user.canvas_token_encrypted
    with make_test_app("sqlite://", TOKEN_ENCRYPTION_KEY=f"{new},{old}").app_context():
        user = User(email="u@example.com", canvas_token_encrypted=ciphertext)
        assert user.canvas_token == "token-1234"
    with make_test_app("sqlite://", TOKEN_ENCRYPTION_KEY=new).app_context():
        user = User(email="u@example.com", canvas_token_encrypted=ciphertext)
        with pytest.raises(TokenDecryptError, match="Save the token again"):
            _ = user.canvas_token
