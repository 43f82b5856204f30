# ESP32 entry point (MicroPython runs /main.py after boot.py). The flashed image lives in /app0;
# OTA images in /ota (see fsslots.py and bootsel.py). Any exception that escapes the firmware
# resets the controller: the boot-loop guard and the watchdog take it from there.

import sys

sys.path[:0] = ["/app0"]
import bootsel  # noqa: E402

_run = bootsel.select("/", "/app0")
sys.path[0] = _run
try:
    import app  # noqa: E402

    app.main_esp32(bootsel.SLOT)
except Exception as e:  # noqa: BLE001
    sys.print_exception(e)  # type: ignore[attr-defined]
    import machine  # type: ignore[import-not-found,unused-ignore]

    machine.reset()
