"""Scores the alerts a run produced against its ground truth. Pure: lists in, numbers out.

Only crew-visible alerts count (``suppressed_by`` null): a suppressed alert sends nobody out. Each
visible alert is, in this order:

- **matched** to an incident of the same fault type on the same subject (subject type and id), detected
  within [start, end + grace] (an open-ended incident runs to the end of the run);
- a **consequence** of an incident that explains it: same window, and either on the incident's
  subject with one of its ``also`` types (a relay stuck open also looks like a lamp failure), or on a
  lamp the incident covers (a cabinet's or a gateway's lamps) with its type or an ``also`` type;
- otherwise **false**.

Per fault type: recall = incidents with a matched alert / incidents; precision = matched alerts /
(matched + false alerts) of that type; time to detect = first matched ``detected_at`` - start (median
and p95 over detected incidents); alerts per incident = matched + consequence alerts per incident.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.fault_kinds import FAULT_TYPES
from simulator.incidents import TruthIncident


@dataclass(frozen=True)
class AlertRow:
    id: int
    fault_type: str
    subject_type: str
    subject_id: str
    detected_at: dt.datetime
    suppressed_by: int | None = None


@dataclass
class TypeScore:
    type: str
    incidents: int = 0
    detected: int = 0
    alerts: int = 0  # crew-visible alerts of this type
    matched: int = 0
    false: int = 0
    consequence: int = 0  # of this type, attributed to an incident of another kind
    suppressed: int = 0
    ttd_s: list[float] = field(default_factory=list)
    alerts_per_incident: list[int] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        judged = self.matched + self.false
        return self.matched / judged if judged else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.incidents if self.incidents else None

    @property
    def ttd_median_s(self) -> float | None:
        return float(np.median(self.ttd_s)) if self.ttd_s else None

    @property
    def ttd_p95_s(self) -> float | None:
        return float(np.percentile(self.ttd_s, 95)) if self.ttd_s else None

    @property
    def mean_alerts_per_incident(self) -> float | None:
        return float(np.mean(self.alerts_per_incident)) if self.alerts_per_incident else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents, "detected": self.detected, "alerts": self.alerts, "matched": self.matched,
            "false": self.false, "consequence": self.consequence, "suppressed": self.suppressed,
            "precision": self.precision, "recall": self.recall,
            "ttd_median_s": self.ttd_median_s, "ttd_p95_s": self.ttd_p95_s,
            "alerts_per_incident": self.mean_alerts_per_incident,
            "alerts_per_incident_max": max(self.alerts_per_incident, default=None),
        }


@dataclass
class Score:
    types: dict[str, TypeScore]
    visible: int
    suppressed: int
    false_alerts: list[AlertRow]
    missed: list[TruthIncident]
    # incident id -> crew-visible alerts attributed to it
    per_incident: dict[int, list[AlertRow]]


def _window(i: TruthIncident, run_end: dt.datetime, grace: dt.timedelta) -> tuple[dt.datetime, dt.datetime]:
    return i.start, (run_end if i.end is None else i.end) + grace


def score(
    incidents: list[TruthIncident], alerts: list[AlertRow], *, run_end: dt.datetime, grace_s: float
) -> Score:
    grace = dt.timedelta(seconds=grace_s)
    kinds = list(dict.fromkeys([*FAULT_TYPES, *(i.type for i in incidents), *(a.fault_type for a in alerts)]))
    types = {k: TypeScore(k) for k in kinds}
    by_subject: dict[tuple[str, str], list[TruthIncident]] = defaultdict(list)
    by_covered: dict[str, list[TruthIncident]] = defaultdict(list)
    for i in incidents:
        types[i.type].incidents += 1
        by_subject[(i.subject_type, i.subject_id)].append(i)
        for lamp in i.covers:
            by_covered[lamp].append(i)

    def inside(i: TruthIncident, at: dt.datetime) -> bool:
        lo, hi = _window(i, run_end, grace)
        return lo <= at <= hi

    per_incident: dict[int, list[AlertRow]] = {i.id: [] for i in incidents}
    first_match: dict[int, dt.datetime] = {}
    false_alerts: list[AlertRow] = []
    visible = suppressed = 0
    for a in sorted(alerts, key=lambda r: (r.detected_at, r.id)):
        ts = types[a.fault_type]
        if a.suppressed_by is not None:
            ts.suppressed += 1
            suppressed += 1
            continue
        visible += 1
        ts.alerts += 1
        on_subject = [i for i in by_subject.get((a.subject_type, a.subject_id), ()) if inside(i, a.detected_at)]
        matched = [i for i in on_subject if i.type == a.fault_type]
        if matched:
            # Several would mean overlapping incidents of one type on one subject; the latest started wins.
            i = max(matched, key=lambda x: x.start)
            ts.matched += 1
            per_incident[i.id].append(a)
            first_match.setdefault(i.id, a.detected_at)
            continue
        explains = [i for i in on_subject if a.fault_type in i.also]
        if a.subject_type == "lamp":
            explains += [i for i in by_covered.get(a.subject_id, ())
                         if inside(i, a.detected_at) and a.fault_type in (i.type, *i.also)]
        if explains:
            ts.consequence += 1
            per_incident[max(explains, key=lambda x: x.start).id].append(a)
            continue
        ts.false += 1
        false_alerts.append(a)

    missed = []
    for i in incidents:
        t = types[i.type]
        t.alerts_per_incident.append(len(per_incident[i.id]))
        found = first_match.get(i.id)
        if found is None:
            missed.append(i)
            continue
        t.detected += 1
        t.ttd_s.append((found - i.start).total_seconds())
    return Score(types, visible, suppressed, false_alerts, missed, per_incident)


@dataclass(frozen=True)
class BarResult:
    passed: bool
    misses: list[str]


def check_bar(s: Score, *, precision: float, recall: float, alerts_per_incident: dict[str, int]) -> BarResult:
    """Every type with incidents or alerts meets both figures; listed types yield exactly N alerts each."""
    misses = []
    for name, t in s.types.items():
        if t.recall is not None and t.recall < recall:
            misses.append(f"{name}: recall {t.recall:.3f} < {recall}")
        if t.precision is not None and t.precision < precision:
            misses.append(f"{name}: precision {t.precision:.3f} < {precision}")
    for name, want in alerts_per_incident.items():
        of_type = s.types.get(name)
        counts = of_type.alerts_per_incident if of_type is not None else []
        wrong = [c for c in counts if c != want]
        if wrong:
            misses.append(f"{name}: {len(wrong)} of {len(counts)} incidents yield other than {want} alert(s) "
                          f"(e.g. {wrong[0]})")
    return BarResult(not misses, misses)
