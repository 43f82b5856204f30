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


def test_housekeeping_removes_old_sessions_and_failures_only(database_url: str, server: object) -> None:
    import psycopg

    from server.auth import housekeeping

    with psycopg.connect(database_url, autocommit=True) as conn:
        user_id = conn.execute("INSERT INTO users (username, password_hash, roles) VALUES"
                               " ('housekeeping-test', 'x', ARRAY['viewer']) RETURNING id").fetchone()
        assert user_id is not None
        conn.execute("INSERT INTO api_tokens (user_id, kind, name, token_hash, prefix, expires_at) VALUES"
                     " (%s, 'session', 'old', 'h-old', 'p', now() - interval '30 days'),"
                     " (%s, 'session', 'new', 'h-new', 'p', now() - interval '1 hour')", (user_id[0], user_id[0]))
        conn.execute("INSERT INTO login_failures (at, username, client) VALUES"
                     " (now() - interval '2 hours', 'housekeeping-test', 'x'), (now(), 'housekeeping-test', 'x')")
        housekeeping.purge(conn, login_window_s=900)
        names = [r[0] for r in conn.execute("SELECT t.name FROM api_tokens t JOIN users u ON u.id = t.user_id"
                                            " WHERE u.username = 'housekeeping-test'")]
        failures = conn.execute("SELECT count(*) FROM login_failures WHERE username = 'housekeeping-test'").fetchone()
        conn.execute("DELETE FROM users WHERE username = 'housekeeping-test'")
    assert names == ["new"]
    assert failures == (1,)
