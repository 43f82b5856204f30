# Boot-loop detection. Every boot counts itself as a failure until the firmware has proved itself
# (ran its control loop for a while and reached the broker, or simply stayed up long enough);
# only then is the count cleared. When the count passes the limit the firmware starts in safe
# mode: stored server config, overrides and state are set aside, since one of them is the
# likeliest reason the previous boots died, and the lamp runs its built-in lighting policy while
# staying reachable for a new config, a command or an OTA.

import store

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

LIMIT = const(3)


class BootGuard:
    def __init__(self, path: str, limit: int = LIMIT) -> None:
        self.path = path
        st = store.load(path, {})
        n = int(st.get("n", 0)) if isinstance(st, dict) else 0
        self.failed = n  # consecutive boots that never proved themselves
        self.safe = n >= limit
        self.cleared = False
        store.save(path, {"n": n + 1})

    def proved(self) -> None:
        if not self.cleared:
            self.cleared = True
            store.save(self.path, {"n": 0})
