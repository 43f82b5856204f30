"""Password hashing, password rules and token format."""

from __future__ import annotations

import pytest

from server.auth import passwords, tokens


def test_password_hash_is_argon2id_and_verifies() -> None:
    h = passwords.hash_password("correct horse battery")
    assert h.startswith("$argon2id$")
    assert passwords.verify(h, "correct horse battery")
    assert not passwords.verify(h, "correct horse batterz")


def test_verify_against_garbage_hash_is_false_not_an_error() -> None:
    assert passwords.verify("not-a-hash", "whatever-password") is False


@pytest.mark.parametrize(("password", "rule"), [("short1", "at least"), ("a" * 300, "at most"),
                                                 ("abababababab", "repeat")])
def test_weak_passwords_are_refused_naming_the_rule(password: str, rule: str) -> None:
    with pytest.raises(passwords.WeakPassword, match=rule):
        passwords.check_strength(password)


def test_tokens_are_random_prefixed_and_digested() -> None:
    a, b = tokens.new_token("api"), tokens.new_token("api")
    assert a != b and a.startswith("tra_") and tokens.new_token("session").startswith("trs_")
    assert tokens.digest(a) != tokens.digest(b) and len(tokens.digest(a)) == 32
    assert tokens.looks_like_token(a) and not tokens.looks_like_token("Bearer xyz")
