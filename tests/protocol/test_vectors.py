"""Golden vectors (tests/vectors/*.json) give the same bytes and the same reasons on CPython and on
MicroPython; a damaged-payload corpus gives the same results on both."""

from __future__ import annotations

from typing import Any

import pytest

from tests.protocol.conftest import expected, load_vectors
from tests.protocol.vector_runner import FNS, run_vector

VECTORS = load_vectors()
DEAD_LETTER_REASONS = {
    "not_utf8", "bad_json", "non_finite", "wrong_shape", "missing_key", "unknown_key", "wrong_type",
    "out_of_range", "future_timestamp", "empty_batch", "batch_too_large", "bad_topic", "bad_frame",
    "bad_payload", "no_reference", "base_mismatch",
}


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_on_cpython(vector: dict[str, Any]) -> None:
    assert run_vector(vector) == expected(vector)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_on_micropython(vector: dict[str, Any], mpy_results: dict[str, Any]) -> None:
    assert mpy_results[vector["name"]] == expected(vector)


def test_vectors_have_unique_names() -> None:
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names))


def test_every_vector_states_its_expectation() -> None:
    assert [v["name"] for v in VECTORS if len(expected(v)) != 1] == []


def test_every_dead_letter_reason_has_a_vector() -> None:
    assert {v["error"] for v in VECTORS if "error" in v} >= DEAD_LETTER_REASONS


def test_vectors_exercise_every_runner_function() -> None:
    assert {v["fn"] for v in VECTORS} == set(FNS)


def test_damaged_payloads_get_the_same_result_on_both_interpreters(
    corpus: list[dict[str, Any]], mpy_results: dict[str, Any]
) -> None:
    differ = [(v, run_vector(v), mpy_results[v["name"]]) for v in corpus if run_vector(v) != mpy_results[v["name"]]]
    assert differ == []


def test_damaged_payloads_raise_only_codec_errors(corpus: list[dict[str, Any]], mpy_results: dict[str, Any]) -> None:
    crashes = [(v["name"], r) for v in corpus for r in (run_vector(v), mpy_results[v["name"]]) if "crash" in r]
    assert crashes == []


def test_corpus_reaches_most_rejection_reasons(corpus: list[dict[str, Any]]) -> None:
    # The corpus is only worth its run time if damaged payloads land on many different paths.
    reasons = {run_vector(v).get("error") for v in corpus}
    assert reasons >= {"not_utf8", "bad_json", "non_finite", "wrong_shape", "missing_key", "unknown_key",
                       "wrong_type", "out_of_range", "bad_payload", "bad_frame"}
