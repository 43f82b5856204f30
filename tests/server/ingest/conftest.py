from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RUN_TAG
from tests.support.mqtt import Publisher


@pytest.fixture
def publisher(mqtt_url: str) -> Iterator[Publisher]:
    pub = Publisher(mqtt_url, f"pub-{RUN_TAG}-{id(object())}")
    yield pub
    pub.close()
