"""The fault types, what each is about and how urgent it is: one list, used everywhere."""

from __future__ import annotations

from typing import Literal

FaultType = Literal[
    "lamp_failure", "day_burner", "cycling", "power_anomaly", "over_voltage", "under_voltage",
    "low_power_factor", "energy_anomaly", "comm_loss", "device_fault", "cabinet_outage", "gateway_down",
]

# Lamp-level detectors, in the row order of the engine's condition matrix.
LAMP_TYPES: tuple[str, ...] = (
    "lamp_failure", "day_burner", "cycling", "power_anomaly", "over_voltage", "under_voltage",
    "low_power_factor", "energy_anomaly", "comm_loss", "device_fault",
)
CABINET_TYPES: tuple[str, ...] = ("cabinet_outage", "over_voltage", "under_voltage")
GATEWAY_TYPES: tuple[str, ...] = ("gateway_down",)
ALL_TYPES: tuple[str, ...] = (*LAMP_TYPES, "cabinet_outage", "gateway_down")

# A dark street is worse than a wasted kWh: severity decides escalation time and who is woken.
SEVERITY: dict[str, str] = {
    "cabinet_outage": "critical",
    "gateway_down": "major",
    "lamp_failure": "major",
    "comm_loss": "major",
    "over_voltage": "major",
    "under_voltage": "minor",
    "device_fault": "major",
    "day_burner": "minor",
    "cycling": "minor",
    "power_anomaly": "minor",
    "low_power_factor": "minor",
    "energy_anomaly": "minor",
}
SEVERITY_RANK = {"minor": 0, "major": 1, "critical": 2}

# Lamp faults a cabinet outage or a gateway down explains: the lamp is dark or silent because its
# supply or its radio path is gone, not because the lamp broke.
EXPLAINED_BY_OUTAGE: frozenset[str] = frozenset({"lamp_failure", "comm_loss"})
EXPLAINED_BY_GATEWAY: frozenset[str] = frozenset({"comm_loss"})
# What a lamp's own flagged relay or driver failure also shows.
EXPLAINED_BY_DEVICE: frozenset[str] = frozenset({"lamp_failure", "power_anomaly", "day_burner"})
# Lamp faults a cabinet alert of the same type explains (the supply, not the lamp).
SUPPLY_TYPES: frozenset[str] = frozenset({"over_voltage", "under_voltage"})
