# Boot selector: picks which application image to run, before anything else is imported.
# Plays the part of ESP-IDF's boot loader for the file-system slots described in fsslots.py:
#
#   state "new"      first boot of a freshly staged image: unpack it, mark it "pending", run it
#   state "pending"  the image on trial was reset before it marked itself valid: fall back to
#                    the previous image and remember which one failed ("rolled_back")
#   otherwise        run the image "boot" names; "factory" (or no otadata) is the flashed image
#
# Returns the directory to put first on sys.path. Keep this module tiny and dependency-free: a
# bug here is the one thing an OTA cannot repair.

import json
import os

SLOT = "factory"


def _load(path: str) -> dict[str, object]:
    try:
        with open(path) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(path: str, d: dict[str, object]) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(d, f)
    os.rename(path + ".tmp", path)


def _unpack(ota: str, slot: str) -> str:
    import bundle

    run = ota + "run_" + slot
    try:
        os.mkdir(run)
    except OSError:
        for name in os.listdir(run):
            os.remove(run + "/" + name)
    bundle.extract(ota + slot + ".bin", run)
    return run


def select(root: str, factory: str) -> str:
    global SLOT
    ota = root + "ota/"
    path = ota + "otadata.json"
    d = _load(path)
    boot = d.get("boot", "factory")
    state = d.get("state", "valid")
    if boot not in ("a", "b"):
        SLOT = "factory"
        return factory
    if state == "pending":
        prev = d.get("prev", "factory")
        _save(path, {"boot": prev, "state": "valid", "prev": boot, "rolled_back": boot})
        boot = prev
        if boot not in ("a", "b"):
            SLOT = "factory"
            return factory
    elif state == "new":
        try:
            run = _unpack(ota, boot)
        except Exception as e:  # a bad image must never stop the controller from booting
            print("bootsel: cannot unpack slot", boot, repr(e))
            _save(path, {"boot": d.get("prev", "factory"), "state": "valid", "prev": boot,
                         "rolled_back": boot})
            return select(root, factory)
        d["state"] = "pending"
        _save(path, d)
        SLOT = boot
        return run
    run = ota + "run_" + boot
    try:
        os.stat(run + "/app.mpy")
    except OSError:
        try:
            run = _unpack(ota, boot)
        except Exception as e:
            print("bootsel: cannot unpack slot", boot, repr(e))
            _save(path, {"boot": "factory", "state": "valid", "prev": boot, "rolled_back": boot})
            SLOT = "factory"
            return factory
    SLOT = boot
    return run
