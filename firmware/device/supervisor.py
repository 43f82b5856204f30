# The watchdog is fed only while every task shows signs of life. A task that dies (uncaught
# exception) or hangs (stuck awaiting something that never comes) stops its heartbeat; the
# supervisor then stops feeding and the hardware watchdog resets the controller, which is the
# one recovery that works for every kind of hang.
#
# Heartbeats are in real milliseconds (time.ticks_ms), never the simulation's accelerated time,
# because the watchdog that enforces them is real.

import asyncio
import time

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

WDT_TIMEOUT_MS = const(30000)
CHECK_MS = const(1000)


class Supervisor:
    def __init__(self, feed: object) -> None:
        self._feed = feed  # callable that feeds the hardware watchdog
        self.names: list[str] = []
        self._limit: list[int] = []
        self._last = [time.ticks_ms()][:0]
        self.period_ms = CHECK_MS
        self.starved = ""  # the first task found silent; "" while all are alive
        self.dead = ""  # a task that ended with an exception

    def register(self, name: str, limit_ms: int) -> int:
        """A task that must beat at least every `limit_ms`; returns its handle for beat()."""
        self.names.append(name)
        self._limit.append(limit_ms)
        self._last.append(time.ticks_ms())
        return len(self.names) - 1

    def beat(self, handle: int) -> None:
        self._last[handle] = time.ticks_ms()

    def healthy(self) -> bool:
        if self.dead:
            return False
        now = time.ticks_ms()
        for k in range(len(self._last)):
            if time.ticks_diff(now, self._last[k]) > self._limit[k]:
                if not self.starved:
                    self.starved = self.names[k]
                return False
        return True

    def spawn(self, name: str, coro: object) -> object:
        """Runs `coro` as a task whose exception is recorded (and stops the watchdog)."""
        return asyncio.create_task(self._guard(name, coro))

    async def _guard(self, name: str, coro: object) -> None:
        try:
            await coro  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of a task means the same thing
            self.dead = name
            print("task", name, "died:", repr(e))
            try:
                import sys

                sys.print_exception(e)  # type: ignore[attr-defined]
            except Exception:
                pass

    async def run(self) -> None:
        while True:
            if self.healthy():
                self._feed()  # type: ignore[operator]
            await asyncio.sleep_ms(self.period_ms)
