from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from tests.simulator.fake_ingest import FakeIngest

_sites = itertools.count(1)


@pytest.fixture
def sim_site(run_tag: str) -> str:
    """A site id of its own per test, so retained acks of one test never reach another."""
    return f"sim{run_tag}{next(_sites)}"


@pytest.fixture
def fake_ingest(mqtt_url: str, sim_site: str) -> Iterator[Callable[..., FakeIngest]]:
    made: list[FakeIngest] = []

    def make(*, ack: bool = True) -> FakeIngest:
        ingest = FakeIngest(mqtt_url, sim_site, f"fake-ingest-{sim_site}-{len(made)}", ack=ack)
        made.append(ingest)
        return ingest

    yield make
    for ingest in made:
        ingest.close()
