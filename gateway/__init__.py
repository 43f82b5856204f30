"""Edge gateway: LoRa and local MQTT in, disk-backed store-and-forward to the central broker."""
