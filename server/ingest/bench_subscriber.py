"""A bare aiomqtt subscriber: the ceiling that ingestion is measured against.

Run as ``python -m server.ingest.bench_subscriber URL CLIENT_ID TOPIC EXPECTED``; prints one JSON
line with the count and the times of the first and last message.
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson

from server.mqtt import make_client


async def drain(url: str, client_id: str, topic: str, expected: int, mqtt5: bool) -> dict[str, float]:
    count = 0
    first = last = 0.0
    async with make_client(url, client_id, persistent=True, mqtt5=mqtt5) as client:
        await client.subscribe(topic, qos=1)
        async for _ in client.messages:
            last = time.time()
            if count == 0:
                first = last
            count += 1
            if count >= expected:
                break
    return {"count": count, "first": first, "last": last}


def main() -> None:
    url, client_id, topic, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    mqtt5 = len(sys.argv) > 5 and sys.argv[5] == "v5"
    result = asyncio.run(drain(url, client_id, topic, expected, mqtt5))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
