# Small files that must never be half-written: JSON written to a temporary name and renamed over
# the old one. LittleFS (the ESP32 default) and POSIX both replace the target atomically, so after
# a power cut the file holds either the old or the new content, never a mix.

import json
import os


def load(path: str, default: object = None) -> object:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        # Missing, or unreadable garbage: the caller's default is the safe answer either way.
        return default


def save(path: str, obj: object) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
    os.rename(tmp, path)


def remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False
