"""Fleet simulator: virtual Mimika lamps, gateways, radios, faults and outages."""
