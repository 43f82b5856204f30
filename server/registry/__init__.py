"""The registry of the physical network: sites, districts, cabinets, gateways and lamps.

Data-access functions here are keyword-only and know nothing about HTTP; they raise the errors of
``server.registry.errors``, which the API maps to status codes.
"""
