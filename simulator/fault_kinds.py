"""The fault types the simulator injects (named as the fault engine names them in ``alerts.fault_type``),
what each is about, and how the random incident generator places them by default.

Defaults follow the physics: a dead LED or a wrong power draw only shows while the lamp is lit, so
those start in the evening; a day burner only shows by day; supply and radio faults show any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FaultType = Literal[
    "lamp_failure", "day_burner", "cycling", "power_anomaly", "over_voltage", "under_voltage",
    "low_power_factor", "energy_anomaly", "comm_loss", "device_fault", "cabinet_outage", "gateway_down",
]
FAULT_TYPES: tuple[FaultType, ...] = (
    "lamp_failure", "day_burner", "cycling", "power_anomaly", "over_voltage", "under_voltage",
    "low_power_factor", "energy_anomaly", "comm_loss", "device_fault", "cabinet_outage", "gateway_down",
)
SubjectType = Literal["lamp", "cabinet", "gateway"]
Starts = Literal["night", "day", "any"]
Radio = Literal["wifi", "lora", "cellular"]
# How subjects are chosen for a type that can hit a single pole or a whole feeder (supply voltage).
SubjectChoice = Literal["lamp", "cabinet", "mixed"]

NoiseKind = Literal["late_lora", "wifi_gap", "voltage_dip", "part_night"]


@dataclass(frozen=True)
class KindDefaults:
    subject: SubjectChoice | Literal["gateway"]
    starts: Starts
    duration_h: tuple[float, float]
    radios: tuple[Radio, ...] = ("wifi", "lora", "cellular")


ALL_RADIOS: tuple[Radio, ...] = ("wifi", "lora", "cellular")

DEFAULTS: dict[FaultType, KindDefaults] = {
    # A dead LED string stays dead until a crew replaces it.
    "lamp_failure": KindDefaults("lamp", "night", (8.0, 30.0)),
    "day_burner": KindDefaults("lamp", "day", (4.0, 30.0)),
    # LoRa lamps report hourly: a cycling lamp sampled that rarely shows a handful of readings a night,
    # too few to tell cycling from a flicker; the generator keeps cycling to the 5-minute bearers.
    "cycling": KindDefaults("lamp", "night", (3.0, 8.0), ("wifi", "cellular")),
    "power_anomaly": KindDefaults("lamp", "night", (6.0, 30.0)),
    # Wrong transformer taps and weak feeders last hours; a LoRa lamp needs two hourly readings to show one.
    "over_voltage": KindDefaults("mixed", "any", (2.5, 6.0)),
    "under_voltage": KindDefaults("mixed", "any", (2.5, 6.0)),
    "low_power_factor": KindDefaults("lamp", "night", (6.0, 30.0)),
    # Resets and jumps are instants (the duration is used by a stuck counter only).
    "energy_anomaly": KindDefaults("lamp", "night", (2.0, 6.0)),
    "comm_loss": KindDefaults("lamp", "any", (4.0, 14.0)),
    "device_fault": KindDefaults("lamp", "night", (6.0, 24.0)),
    # PLN feeder outages last hours; shorter ones end before an hourly LoRa lamp has even been missed.
    "cabinet_outage": KindDefaults("cabinet", "any", (2.0, 8.0)),
    "gateway_down": KindDefaults("gateway", "any", (1.5, 6.0)),
}

# Other fault types the same physical fault genuinely shows on the same subject (or, for a cabinet or
# gateway, on the lamps it covers): alerts of these types are attributed to the incident, neither
# matched nor false, and counted in its alerts per incident.
ALSO: dict[str, tuple[str, ...]] = {
    "cabinet_outage": ("lamp_failure", "comm_loss"),
    "gateway_down": ("comm_loss",),
    "device_fault:driver": ("power_anomaly",),
    "device_fault:relay": ("lamp_failure",),
}

