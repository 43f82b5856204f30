# A/B application slots on the file system, for a controller that runs stock MicroPython with
# this firmware as a bundle of .mpy files (what `terang flash` installs). Layout under <root>ota/:
#
#   a.bin, b.bin       downloaded bundles (the OTA writes into the one not running)
#   run_a/, run_b/     their unpacked modules, made by the boot selector (bootsel.py)
#   otadata.json       {"boot": "a"|"b"|"factory", "state": "new"|"pending"|"valid",
#                       "prev": slot to fall back to, "rolled_back": slot that failed its trial}
#
# The rules are ESP-IDF's for app partitions: a new image boots once on trial ("pending"); if the
# controller resets before the image marks itself valid, the selector boots the previous one.
# The factory image (<root>app0 on the ESP32, the source tree in the simulation) is never
# overwritten, so there is always something to fall back to.

import os

import hal
import store


class FileSlots(hal.Slots):
    def __init__(self, root: str, running: str) -> None:
        self._dir = root + "ota/"
        self.running = running
        try:
            os.mkdir(root + "ota")
        except OSError:
            pass
        d = store.load(self._dir + "otadata.json", {})
        self._data: dict[str, object] = d if isinstance(d, dict) else {}

    def target(self) -> str:
        return "b" if self.running == "a" else "a"

    def begin(self, size: int) -> int:
        with open(self._dir + self.target() + ".bin", "wb"):
            pass
        return 4096

    def write(self, offset: int, buf: bytes) -> None:
        with open(self._dir + self.target() + ".bin", "r+b") as f:
            f.seek(offset)
            f.write(buf)

    def readinto(self, offset: int, buf: bytearray) -> int:
        with open(self._dir + self.target() + ".bin", "rb") as f:
            f.seek(offset)
            return f.readinto(buf) or 0

    def activate(self) -> None:
        self._data = {"boot": self.target(), "state": "new", "prev": self.running}
        store.save(self._dir + "otadata.json", self._data)

    def pending(self) -> bool:
        d = self._data
        return d.get("boot") == self.running and d.get("state") == "pending"

    def mark_valid(self) -> None:
        d = self._data
        if d.get("boot") == self.running:
            d["state"] = "valid"
            store.save(self._dir + "otadata.json", d)

    def rollback(self) -> None:
        d = self._data
        if d.get("boot") == self.running:
            self._data = {"boot": d.get("prev", "factory"), "state": "valid", "prev": self.running,
                          "rolled_back": self.running}
            store.save(self._dir + "otadata.json", self._data)
