"""Correlation: many lamps of one cabinet dark or silent together are one cabinet outage; lamps behind
a gateway whose own state went silent are not each lost; a supply-voltage fault seen by most lamps
of a cabinet is the cabinet's. The lamp conditions these explain are suppressed, not alerted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from server.faults.config import Correlation
from server.faults.fleet import Bools, Fleet, Floats


@dataclass
class Verdict:
    gateway_down: Bools  # per gateway
    cabinet_out: Bools  # per cabinet
    cabinet_over_voltage: Bools
    cabinet_under_voltage: Bools
    cabinet_dark_fraction: Floats
    behind_down_gateway: Bools  # per lamp
    in_outage: Bools  # per lamp: its cabinet is out
    in_over_voltage: Bools  # per lamp: its cabinet has the supply-voltage alert
    in_under_voltage: Bools
    held: Bools  # per lamp: enough of its cabinet is dark that a verdict may be coming
    held_over_voltage: Bools  # per lamp: enough of its cabinet sees it that a cabinet alert may be coming
    held_under_voltage: Bools
    # Per cabinet: when its last outage ended (-inf when none): silence from before then is the
    # outage's, and a lamp's own communication loss is timed from the recovery.
    recovered_at: Floats


def correlate(
    fleet: Fleet,
    rules: Correlation,
    *,
    has_reading: Bools,
    last_ts: Floats,
    silent_s: Floats,
    failing_since: Floats,
    over_voltage: Bools,
    under_voltage: Bools,
    gateway_age_s: Floats,
    previous: Verdict | None,
    now: float,
) -> Verdict:
    """``failing_since``: reading time a lamp's current run of lamp-failure readings began (NaN if none)."""
    n_cab = len(fleet.cabinet_ids)
    # Last tick's cabinet verdicts, for hysteresis (none after the registry changed).
    if previous is None or previous.cabinet_out.size != n_cab:
        was_out = was_over = was_under = np.zeros(n_cab, dtype=bool)
        recovered_at = np.full(n_cab, -np.inf)
    else:
        was_out, was_over, was_under = (previous.cabinet_out, previous.cabinet_over_voltage,
                                        previous.cabinet_under_voltage)
        recovered_at = previous.recovered_at
    gateway_down = np.nan_to_num(gateway_age_s, nan=-1.0) > rules.gateway_silence_s
    behind = np.zeros(len(fleet), dtype=bool)
    has_gw = fleet.gateway >= 0
    behind[has_gw] = gateway_down[fleet.gateway[has_gw]]

    # Lamps whose path to us is down say nothing about their cabinet.
    has_cab = fleet.cabinet >= 0
    judged = has_reading & ~behind & has_cab
    silent = silent_s > fleet.suspect_after_s
    failing = ~np.isnan(failing_since)
    dark = judged & (silent | failing)
    # By when the event that darkened each lamp had happened at the latest: a silent lamp would have
    # reported within its interval, a failing one failed before its first dark reading. A lamp heard
    # from after the earliest of these in its cabinet is alive after the event; lamps not heard from
    # since are undecided (a LoRa lamp reporting hourly may not have had its turn) and count neither way.
    event_by = np.where(silent, last_ts + fleet.interval_s, np.where(failing, failing_since, np.inf))
    cab_of = np.where(has_cab, fleet.cabinet, 0)
    earliest = np.full(n_cab, np.inf)
    if n_cab:
        np.minimum.at(earliest, cab_of[dark], event_by[dark])
    alive = judged & ~dark & (last_ts > earliest[cab_of] if n_cab else False)

    def count(mask: Bools) -> Floats:
        if n_cab == 0:
            return np.zeros(0)
        counted: Floats = np.bincount(cab_of[mask], minlength=n_cab).astype(np.float64)
        return counted

    # The share of the whole cabinet that is dark leaves out lamps on late bearers not yet decided:
    # they will not be for an hour or two, and the prompt lamps of the cabinet can tell meanwhile.
    n_dark, n_alive = count(dark), count(alive)
    n_judged = count(judged & ~(fleet.late_bearer & ~dark & ~alive))
    decided_share = np.divide(n_dark, n_dark + n_alive, out=np.zeros(n_cab), where=(n_dark + n_alive) > 0)
    share = np.divide(n_dark, n_judged, out=np.zeros(n_cab), where=n_judged > 0)
    starts = ((n_dark >= rules.outage_min_lamps) & (decided_share >= rules.outage_fraction)
              & (share >= rules.outage_min_share))
    stays = was_out & (share > rules.outage_clear_fraction)
    out = starts | stays
    recovered_at = np.where(was_out & ~out, now, recovered_at)

    reporting = judged & ~silent
    n_reporting = count(reporting)
    enough = n_reporting >= rules.outage_min_lamps
    over_share = np.divide(count(over_voltage & reporting), n_reporting, out=np.zeros(n_cab), where=enough)
    under_share = np.divide(count(under_voltage & reporting), n_reporting, out=np.zeros(n_cab), where=enough)
    cab_over = enough & ((over_share >= rules.voltage_fraction)
                         | (was_over & (over_share > rules.voltage_clear_fraction))) & ~out
    cab_under = enough & ((under_share >= rules.voltage_fraction)
                          | (was_under & (under_share > rules.voltage_clear_fraction))) & ~out

    def per_lamp(per_cabinet: Bools) -> Bools:
        if per_cabinet.size == 0:
            return np.zeros(len(fleet), dtype=bool)
        result: Bools = has_cab & per_cabinet[cab_of]
        return result

    held = per_lamp((n_dark >= 2) & (decided_share >= rules.hold_fraction) & ~out)
    # Lamps seeing a supply-voltage fault wait too while enough of their cabinet does to make it the cabinet's.
    held_over = per_lamp(enough & (over_share >= rules.hold_fraction) & ~cab_over)
    held_under = per_lamp(enough & (under_share >= rules.hold_fraction) & ~cab_under)
    return Verdict(
        gateway_down=gateway_down,
        cabinet_out=out,
        cabinet_over_voltage=cab_over,
        cabinet_under_voltage=cab_under,
        cabinet_dark_fraction=share,
        behind_down_gateway=behind,
        in_outage=per_lamp(out),
        in_over_voltage=per_lamp(cab_over),
        in_under_voltage=per_lamp(cab_under),
        held=held,
        held_over_voltage=held_over,
        held_under_voltage=held_under,
        recovered_at=recovered_at,
    )
