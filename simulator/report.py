"""What the operator sees while the simulator runs and when it ends (rich renderables only)."""

from __future__ import annotations

import datetime as dt

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from simulator.runner import Progress, RunSummary
from simulator.schedule import WIT_OFFSET_S

WIT = dt.timezone(dt.timedelta(seconds=WIT_OFFSET_S), "WIT")


def wit(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, WIT).strftime("%Y-%m-%d %H:%M:%S WIT")


def progress_view(p: Progress, open_alerts: int | None = None) -> RenderableType:
    """``open_alerts``: the server's count of open alerts, when someone asks it (the demo)."""
    s = p.stats
    rate = s.messages / p.wall_s if p.wall_s > 0 else 0.0
    head = Text.assemble(("simulated ", "dim"), (wit(p.sim_now), "bold"))
    if p.sim_end is not None:
        done = max(0.0, min(1.0, (p.sim_now - p.sim_start) / max(p.sim_end - p.sim_start, 1e-9)))
        bar: RenderableType = ProgressBar(total=1.0, completed=done, width=40)
        head.append(f"  {done:5.1%}")
    else:
        bar = Text("live (real time)" if p.caught_up else "catching up with real time", style="cyan")
    dot = (" · ", "dim")
    counts = Text.assemble(
        f"{s.readings:,}", (" sent", "dim"), dot,
        (f"{s.acked:,}", "green"), (" acked", "dim"), dot,
        (f"{s.resent:,}", "yellow" if s.resent else ""), (" re-sent", "dim"), dot,
        f"{s.unacked:,}", (" waiting", "dim"), dot,
        f"{rate:,.0f}", (" msg/s", "dim"),
    )
    if p.faults is not None:
        counts.append_text(Text.assemble(dot, f"{p.faults}", (" faults injected", "dim")))
    if open_alerts is not None:
        counts.append_text(Text.assemble(dot, (f"{open_alerts:,}", "red" if open_alerts else "green"),
                                         (" open alerts", "dim")))
    return Group(head, bar, counts)


def summary_table(summary: RunSummary) -> Table:
    t = summary.topology
    s = summary.stats
    table = Table(title="Simulation summary", show_header=False, title_justify="left")
    table.add_column(style="dim")
    table.add_column(justify="right")
    table.add_row("Site", t.site.id)
    table.add_row("Districts / cabinets / gateways",
                  f"{len(t.districts)} / {len(t.cabinets)} / {len(t.gateways)}")
    table.add_row("Lamps", f"{len(t.lamps):,}")
    if summary.registration is not None:
        r = summary.registration
        created = sum(r.created.values())
        existing = sum(r.existing.values())
        table.add_row("Registered", f"{created} created, {existing} already there; "
                                    f"lamps {r.lamps_created} new, {r.lamps_updated} updated")
    hours = (summary.sim_end - summary.sim_start) / 3600.0
    table.add_row("Simulated", f"{wit(summary.sim_start)} → {wit(summary.sim_end)} ({hours:,.2f} h)")
    table.add_row("Wall time", f"{summary.wall_s:,.1f} s")
    table.add_row("Messages published", f"{s.messages:,}")
    table.add_row("Readings sent", f"{s.readings:,}")
    table.add_row("Acknowledged", Text(f"{s.acked:,}", style="green" if s.acked == s.readings else "yellow"))
    table.add_row("Re-sent", f"{s.resent:,}")
    table.add_row("Unacknowledged", Text(f"{s.unacked:,}", style="red" if s.unacked else "green"))
    if s.bad_acks:
        table.add_row("Undecodable acks", Text(f"{s.bad_acks:,}", style="red"))
    rate = s.readings / summary.wall_s if summary.wall_s > 0 else 0.0
    table.add_row("Readings per second", f"{rate:,.0f}")
    if summary.lora is not None:
        lo = summary.lora
        table.add_row("LoRa uplinks (confirmed)", f"{lo.uplinks:,} ({lo.confirmed:,})")
        table.add_row("LoRa downlinks (acks, configs)", f"{lo.downlinks:,} ({lo.acks:,}, {lo.configs:,})")
        if lo.refused:
            table.add_row("LoRa frames refused by the air", Text(f"{lo.refused:,}", style="yellow"))
    if summary.faults is not None:
        placed = summary.faults.incidents
        started = sum(i.start <= summary.sim_end for i in placed)
        table.add_row("Faults injected", f"{started} of {len(placed)} started (ground truth {summary.faults_truth})")
    if summary.interrupted:
        table.add_row("Stopped", "interrupted")
    return table
