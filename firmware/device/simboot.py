# Entry point of the firmware under the MicroPython unix port (terang firmware run-sim):
#
#   MICROPYPATH=<factory image dir>:.frozen micropython -m simboot <state dir> <factory image dir>
#
# The state dir plays the controller's flash (config, journal, OTA slots); the factory dir is the
# image flashed at the factory (the source tree or a build of .mpy files). The boot selector picks
# the image to run, exactly as main.py does on the ESP32.

import sys


def main() -> None:
    state = sys.argv[1]
    factory = sys.argv[2]
    if not state.endswith("/"):
        state += "/"
    sys.path[:] = [factory, ".frozen"]
    import bootsel

    run = bootsel.select(state, factory)
    # The chosen image must be self-contained: nothing may come from the factory dir any more.
    sys.path[:] = [run, ".frozen"]
    import app

    app.main_sim(state, bootsel.SLOT)


main()
