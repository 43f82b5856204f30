"""Lamp controller firmware: device code (``firmware/device``, MicroPython) and host tools."""
