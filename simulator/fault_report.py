"""What ``terang eval faults`` shows and keeps: a table per fault type, and the same as a JSON report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from simulator.fault_eval import EvalProgress, EvalResult
from simulator.fault_score import TypeScore
from simulator.report import wit

FALSE_ALERTS_LISTED = 50


def _pct(x: float | None) -> str:
    if x is None:
        return "–"
    return "100%" if x == 1 else f"{x:.1%}"


def _dur(s: float | None) -> str:
    if s is None:
        return "–"
    return f"{s / 60:.0f}m" if s < 5400 else f"{s / 3600:.1f}h"


def progress_view(p: EvalProgress) -> RenderableType:
    done = (p.sim_now - p.sim_start) / max(p.sim_end - p.sim_start, 1e-9)
    head = Text.assemble(("simulated ", "dim"), (wit(p.sim_now), "bold"), f"  {done:5.1%}")
    rate = (p.sim_now - p.sim_start) / p.wall_s if p.wall_s > 0 else 0.0
    tail = Text.assemble(f"{p.readings:,}", (" readings", "dim"), (" · ", "dim"), f"{rate:,.0f}×",
                         (" real time", "dim"))
    return Group(head, ProgressBar(total=1.0, completed=done, width=40), tail)


def table(r: EvalResult) -> Table:
    s = r.score
    # Fits 80 columns; the JSON report has every figure (found, consequences, suppressed per type).
    t = Table(title=f"Fault evaluation: {r.scenario.name}", title_justify="left", box=box.SIMPLE_HEAD,
              collapse_padding=True, pad_edge=False)
    t.add_column("fault type", no_wrap=True)
    for col in ("incid", "recall", "prec", "alerts", "false", "TTD50", "TTD95", "per inc"):
        t.add_column(col, justify="right", no_wrap=True)
    bar = r.scenario.bar

    def mark(x: float | None, need: float) -> str:
        text = _pct(x)
        return text if x is None or x >= need else f"[red]{text}[/red]"

    for name, ts in s.types.items():
        if not (ts.incidents or ts.alerts or ts.suppressed):
            continue
        apis = _alerts_per_incident(ts)
        want = {str(k): v for k, v in bar.alerts_per_incident.items()}.get(name)
        if want is not None and any(c != want for c in ts.alerts_per_incident):
            apis = f"[red]{apis}[/red]"
        t.add_row(name, str(ts.incidents), mark(ts.recall, bar.recall), mark(ts.precision, bar.precision),
                  str(ts.alerts), str(ts.false), _dur(ts.ttd_median_s), _dur(ts.ttd_p95_s), apis)
    t.caption = (f"{len(r.prepared.topology.lamps):,} lamps, {r.scenario.time.duration_h:g} h simulated in "
                 f"{r.wall_s:.1f} s (engine {r.engine_s:.1f} s, storing {r.store_s:.1f} s); "
                 f"{r.stored:,} readings stored; "
                 f"{s.visible} crew-visible alerts, {s.suppressed} suppressed; "
                 + ("[green]bar met[/green]" if r.bar.passed else "[red]bar missed[/red]"))
    return t


def _alerts_per_incident(ts: TypeScore) -> str:
    mean = ts.mean_alerts_per_incident
    if mean is None:
        return "–"
    top = max(ts.alerts_per_incident)
    return f"{mean:.2f}" if top == round(mean) else f"{mean:.1f} ≤{top}"


def report(r: EvalResult) -> dict[str, Any]:
    s = r.score
    scenario = r.scenario
    topo = r.prepared.topology
    per_incident = {i: len(a) for i, a in s.per_incident.items()}
    return {
        "kind": "fault-eval",
        "scenario": scenario.name,
        "description": scenario.description,
        "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fleet": {"lamps": len(topo.lamps), "cabinets": len(topo.cabinets), "gateways": len(topo.gateways),
                  "site": topo.site.id, "seed": scenario.seed},
        "simulated": {"start": r.prepared.truth["start"], "end": r.prepared.truth["end"],
                      "hours": scenario.time.duration_h, "tick_s": scenario.time.tick_s, "ticks": r.ticks},
        "wall_s": round(r.wall_s, 2),
        "engine_s": round(r.engine_s, 2),
        "store_s": round(r.store_s, 2),
        "readings": {"taken": r.readings, "stored": r.stored},
        "incidents": len(r.prepared.plan.incidents),
        "noise_events": len(r.prepared.plan.noise),
        "alerts": {"total": len(r.alerts), "crew_visible": s.visible, "suppressed": s.suppressed},
        "types": {name: ts.as_dict() for name, ts in s.types.items() if ts.incidents or ts.alerts or ts.suppressed},
        "bar": {"precision": scenario.bar.precision, "recall": scenario.bar.recall,
                "alerts_per_incident": dict(scenario.bar.alerts_per_incident),
                "passed": r.bar.passed, "misses": r.bar.misses},
        "missed_incidents": [
            {"id": i.id, "type": i.type, "subject_type": i.subject_type, "subject_id": i.subject_id,
             "start": i.start.isoformat(), "end": None if i.end is None else i.end.isoformat(), "params": i.params}
            for i in s.missed
        ],
        "false_alerts": [
            {"id": a.id, "type": a.fault_type, "subject_type": a.subject_type, "subject_id": a.subject_id,
             "detected_at": a.detected_at.isoformat()}
            for a in s.false_alerts[:FALSE_ALERTS_LISTED]
        ],
        "alerts_per_incident": {str(k): v for k, v in per_incident.items() if v != 1},
    }
