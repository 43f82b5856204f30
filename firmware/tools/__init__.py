"""Host-side firmware tools: build, sign, provision, flash, run under the MicroPython unix port."""
