"""One simulator run: generate, register, resume, publish on simulated time, drain, save.

Each lamp reports every ``interval_s`` of simulated time at its own phase (so a fleet does not
report in lockstep). The loop takes the lamps that are due, asks the fleet for all their readings
in one vectorised step, and hands them to the publisher; in between it applies acks and re-sends.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from firmware.device import codec
from firmware.device.version import VERSION
from simulator import state as state_file
from simulator.clock import SimClock, start_time
from simulator.config_follower import ConfigFollower
from simulator.demo_crews import ensure_demo_crews
from simulator.demo_schedule import ensure_demo_schedule
from simulator.fleet import Fleet, Reading
from simulator.incidents import Plan
from simulator.live_faults import LiveFaults, describe
from simulator.lora_air import LoraAir, LoraStats, Routed
from simulator.publisher import Publisher, PublishStats
from simulator.registry import RegistrationResult, register
from simulator.schedule import AllNightFullOn
from simulator.topology import RADIOS, Topology, generate

# Lamps handled per loop turn at most, so acks and progress keep flowing when far behind.
DUE_CHUNK = 5_000
PROGRESS_EVERY_S = 0.25
BEARER = {"wifi": "wifi", "lora": "lora", "cellular": "4g"}
IDLE_SLEEP_MAX_S = 0.1
DRAIN_AFTER_INTERRUPT_S = 5.0
# Medium time per real second for the LoRa air, at most: faster, and a gateway on a busy machine
# misses receive windows that open milliseconds of real time after an uplink.
LORA_SPEED_MAX = 20.0
# The run is live once simulated time is this close to the clock (a real-time run trails it by its
# set-up) and the server has every lamp's readings but the last SETTLE_READINGS: after a replay, the
# LoRa air still carries a backlog for minutes, and lamps that far behind look silent to the wall-clock
# fault engine. Without acks from a server, it is live SETTLE_MAX_S after reaching the clock.
LIVE_LAG_S = 60.0
SETTLE_READINGS = 2
SETTLE_MAX_S = 600.0
SETTLE_CHECK_S = 1.0
TRUTH_FILE = "faults-truth.json"


class Sink(Protocol):
    """Where readings go: the broker (simulator.publisher), or per lamp the broker or the LoRa air."""

    def send(self, lamp: int, readings: Sequence[Reading]) -> None: ...
    def pump(self) -> int: ...
    def publish_state(self, lamp: int, state: bytes) -> None: ...
    def watermark(self, lamp: int) -> int | None: ...
    def pending(self, lamp: int) -> list[Reading]: ...
    def wait_acked(self, timeout_s: float, stop: threading.Event | None = None) -> bool: ...
    def stats(self) -> PublishStats: ...


@dataclass
class SimulationConfig:
    mqtt_url: str
    api_url: str | None = None  # None: the lamps are assumed registered already
    api_token: str | None = None  # bearer token for the registration (technician or admin)
    lamps: int = 100
    interval_s: int = 60
    speed: float = 1.0
    duration_s: float | None = None  # simulated seconds; None runs until stopped
    backfill_s: float = 0.0  # without a duration: how far in the past simulated time starts
    seed: int = 1
    site_id: str = "mimika"
    batch: int = 1  # readings per message: > 1 behaves like a device sending its journal in batches
    resend_after_s: float = 30.0  # like the firmware; doubles while unanswered
    drain_s: float = 30.0  # how long to wait for the last acks at the end
    state_path: Path | None = None
    client_id: str | None = None
    follow_config: bool = True  # lamps obey the configs the server publishes (else v0: full on all night)
    demo_schedule: bool = False  # write the demo's dimming schedule through the API after registering
    demo_crews: bool = False  # and its maintenance crews, one per group of districts
    # LoRa lamps talk through the simulated air to gateway processes (simulator/lora_air.py) instead of
    # publishing to the broker themselves; the air runs at lora_speed (default: speed, at most 20).
    lora_via_gateway: bool = False
    lora_speed: float | None = None
    gateway_dir: Path | None = None  # where the gateways keep their queues (default: a temporary dir)
    # Incidents injected once the run is live (``Live``; simulator/live_faults.py), their ground truth
    # in faults_truth_path (default: faults-truth.json beside the state file, or in the current directory).
    faults: int = 0
    faults_truth_path: Path | None = None

    def __post_init__(self) -> None:
        if self.lamps < 1:
            raise ValueError("lamps must be >= 1")
        if self.interval_s < 1:
            raise ValueError("interval must be >= 1 s")
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError("speed must be a positive number")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ValueError("duration must be > 0")
        if self.batch < 1:
            raise ValueError("batch must be >= 1")
        if self.faults < 0:
            raise ValueError("faults must be >= 0")
        if self.faults and self.interval_s < 10:
            raise ValueError("faults need an interval of at least 10 s")
        if self.faults and self.duration_s is not None and self.speed > 1:
            raise ValueError("faults are injected once the run has caught up with the clock, which a run with "
                             "a duration at a speed above 1 does only as it ends: leave out the duration")

    def truth_path(self) -> Path:
        if self.faults_truth_path is not None:
            return self.faults_truth_path
        return self.state_path.with_name(TRUTH_FILE) if self.state_path is not None else Path(TRUTH_FILE)


@dataclass(frozen=True)
class Progress:
    sim_start: float
    sim_now: float
    sim_end: float | None
    stats: PublishStats
    wall_s: float
    caught_up: bool  # simulated time is held at real time
    live: bool = False  # caught up, and the server has the lamps' readings (LIVE_LAG_S)
    faults: int | None = None  # injected incidents started so far (None: the run injects none)


@dataclass
class RunSummary:
    topology: Topology
    registration: RegistrationResult | None
    stats: PublishStats
    sim_start: float
    sim_end: float
    wall_s: float
    interrupted: bool
    drained: bool
    live_at: float | None = None  # when the run went live (Unix s)
    lora: LoraStats | None = None  # with lora_via_gateway: what went over the air
    faults: Plan | None = None  # the injected incidents, once placed
    faults_truth: Path | None = None


def run(
    config: SimulationConfig,
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> RunSummary:
    note = on_note or (lambda _msg: None)
    stop = stop or threading.Event()
    topology = generate(config.lamps, config.seed, config.site_id)
    n = len(topology.lamps)
    note(f"topology: {len(topology.districts)} districts, {len(topology.cabinets)} cabinets, "
         f"{len(topology.gateways)} gateways, {n} lamps")

    registration = None
    if config.api_url:
        registration = register(topology, config.api_url, config.interval_s, token=config.api_token,
                                on_step=lambda s: note(f"registering {s}"))
        if config.demo_schedule:
            ensure_demo_schedule(config.api_url, topology, note, token=config.api_token)
        if config.demo_crews:
            ensure_demo_crews(config.api_url, topology, note, token=config.api_token)

    saved = state_file.load(config.state_path, config.site_id) if config.state_path else None
    wall_start = time.time()
    sim_start = start_time(wall_start, config.speed, config.duration_s, config.backfill_s)
    if config.duration_s is None and saved is not None and saved.sim_ts is not None:
        # An open-ended run picks up where the last one stopped (a run with a duration keeps its
        # window ending now, or it would run into real time and crawl).
        sim_start = max(sim_start, min(saved.sim_ts, wall_start))
    sim_end = sim_start + config.duration_s if config.duration_s is not None else math.inf

    follower = None
    if config.follow_config:
        follower = ConfigFollower(n, AllNightFullOn(topology.lamps.lon, topology.site.lat, topology.site.lon))
    fleet = Fleet(topology, seed=config.seed, start_ts=sim_start, schedule=follower)
    faults = None
    if config.faults:
        faults = LiveFaults(fleet, config.faults, seed=config.seed, interval_s=config.interval_s,
                            truth_path=config.truth_path())
    phase = np.random.default_rng([config.seed, 0x9A5E]).uniform(0.0, config.interval_s, n)
    next_due = sim_start + phase

    on_config = follower.apply if follower is not None else None
    air = None
    if config.lora_via_gateway:
        air = LoraAir(topology, fleet, mqtt_url=config.mqtt_url, data_dir=config.gateway_dir,
                      speed=config.lora_speed or min(config.speed, LORA_SPEED_MAX))
    publisher = Publisher(
        config.mqtt_url, config.site_id, topology.lamps.ids,
        client_id=config.client_id, resend_after_s=config.resend_after_s,
        on_config=on_config if air is None else _not_lora(on_config, air),
    )
    publisher.start()
    sink: Sink = publisher if air is None else Routed(publisher, air, on_config)
    interrupted = False
    drained = False
    clock = SimClock(sim_start, config.speed)
    live = Live(fleet, sink)
    t0 = time.monotonic()
    try:
        # Ctrl-C anywhere from here still drains briefly, says offline and saves the journal.
        try:
            _announce(sink, topology, online=True)
            replay = _resume(fleet, sink, next_due, config.interval_s, saved)
            if air is not None:
                air.start(sink.watermark, note)
            for lamp, readings in replay.items():
                sink.send(lamp, readings)
            if replay:
                note(f"resumed: re-sending {sum(map(len, replay.values()))} unacknowledged readings of the last run")
            _loop(config, fleet, sink, clock, next_due, sim_end, stop, on_progress, t0, live, faults, note)
        except KeyboardInterrupt:
            interrupted = True
        try:
            if faults is not None:
                # Readings a comm loss still holds back go out now, or their sequence gap would stay.
                for lamp, reading in zip(*faults.release(), strict=True):
                    sink.send(lamp, (reading,))
            note("waiting for the last acknowledgements")
            drain = config.drain_s
            if interrupted or stop.is_set():
                drain = min(drain, DRAIN_AFTER_INTERRUPT_S)
            drained = sink.wait_acked(drain)
        except KeyboardInterrupt:
            interrupted = True
        sim_reached = min(clock.now(), sim_end)
        stats = sink.stats()
        if on_progress is not None:
            on_progress(Progress(sim_start, sim_reached, None if math.isinf(sim_end) else sim_end, stats,
                                 time.monotonic() - t0, clock.caught_up(), live.at is not None,
                                 None if faults is None else faults.started(sim_reached)))
        with contextlib.suppress(KeyboardInterrupt):
            _announce(sink, topology, online=False)
        if air is not None:
            note(air.summary())
    finally:
        publisher.close()
        if air is not None:
            air.close()
    if config.state_path is not None:
        state_file.save(config.state_path, _snapshot(config.site_id, fleet, sink, sim_reached))
    return RunSummary(
        topology=topology,
        registration=registration,
        stats=stats,
        sim_start=sim_start,
        sim_end=sim_reached,
        wall_s=time.time() - wall_start,
        interrupted=interrupted or stop.is_set(),
        drained=drained,
        live_at=live.at,
        lora=air.stats_ if air is not None else None,
        faults=faults.plan if faults is not None else None,
        faults_truth=faults.truth_path if faults is not None and faults.plan is not None else None,
    )


def _not_lora(on_config: Callable[[int, bytes], object] | None, air: LoraAir) -> Callable[[int, bytes], object]:
    """LoRa lamps take their configs as deltas from their gateway, not from the broker."""

    def apply(lamp: int, payload: bytes) -> object:
        return None if on_config is None or air.is_lora(lamp) else on_config(lamp, payload)

    return apply


def _loop(
    config: SimulationConfig,
    fleet: Fleet,
    publisher: Sink,
    clock: SimClock,
    next_due: np.ndarray,
    sim_end: float,
    stop: threading.Event,
    on_progress: Callable[[Progress], None] | None,
    t0: float,
    live: Live,
    faults: LiveFaults | None,
    note: Callable[[str], None],
) -> None:
    interval = float(config.interval_s)
    buffers: dict[int, list[Reading]] = {}
    last_progress = 0.0
    finite_end = None if math.isinf(sim_end) else sim_end
    while not stop.is_set():
        if float(next_due.min()) >= sim_end:
            break
        horizon = min(clock.now(), sim_end)
        if live.at is None and live.check(horizon):
            note("live: simulated time has caught up with the clock and the server has the lamps' readings")
        if faults is not None and faults.plan is None and live.at is not None:
            placed = faults.place(live.at)
            note(f"{len(placed.incidents)} faults to inject (ground truth: {faults.truth_path}):")
            for line in describe(placed):
                note(f"  {line}")
        due = np.flatnonzero(next_due <= horizon)
        if due.size > DUE_CHUNK:
            due = due[np.argpartition(next_due[due], DUE_CHUNK)[:DUE_CHUNK]]
        if due.size or (faults is not None and faults.holding):
            if faults is not None and faults.plan is not None:
                lamps, readings = faults.take(due, next_due, interval, horizon)
            else:
                ts = np.floor(next_due[due]).astype(np.int64)
                lamps, readings = due.tolist(), fleet.readings(due, ts)
                next_due[due] += interval
            if config.batch == 1:
                for lamp, reading in zip(lamps, readings, strict=True):
                    publisher.send(lamp, (reading,))
            else:
                for lamp, reading in zip(lamps, readings, strict=True):
                    buf = buffers.setdefault(lamp, [])
                    buf.append(reading)
                    if len(buf) >= config.batch:
                        publisher.send(lamp, buf)
                        del buffers[lamp]
        publisher.pump()
        now = time.monotonic()
        if on_progress is not None and now - last_progress >= PROGRESS_EVERY_S:
            last_progress = now
            sim_now = min(clock.now(), sim_end)
            on_progress(Progress(clock.start, sim_now, finite_end, publisher.stats(), now - t0, clock.caught_up(),
                                 live.at is not None, None if faults is None else faults.started(sim_now)))
        if not due.size:
            time.sleep(min(clock.wall_seconds_until(float(next_due.min())), IDLE_SLEEP_MAX_S))
    for lamp, buf in buffers.items():
        publisher.send(lamp, buf)


class Live:
    """Tells when the run goes live (LIVE_LAG_S); once live, it stays live."""

    def __init__(self, fleet: Fleet, sink: Sink) -> None:
        self.fleet = fleet
        self.sink = sink
        self.at: float | None = None  # Unix s
        self._reached: float | None = None
        self._checked = -math.inf

    def check(self, sim_now: float) -> bool:
        wall = time.time()
        if self.at is not None:
            return True
        if wall - sim_now > LIVE_LAG_S or wall - self._checked < SETTLE_CHECK_S:
            return False
        self._checked = wall
        if self._reached is None:
            self._reached = wall
        if wall - self._reached >= SETTLE_MAX_S or self.behind() == 0:
            self.at = wall
        return self.at is not None

    def behind(self) -> int:
        """Lamps whose readings the server has not stored, but for the last SETTLE_READINGS."""
        newest = (self.fleet.next_seq - 1).tolist()
        count = 0
        for lamp, seq in enumerate(newest):
            wm = self.sink.watermark(lamp)
            if seq > 0 and (wm is None or wm < seq - SETTLE_READINGS):
                count += 1
        return count


def _announce(publisher: Sink, topology: Topology, *, online: bool) -> None:
    """Retained ``state`` per lamp, as controllers publish on connecting (and their Last Will on leaving)."""
    if online:
        now = int(time.time())
        by_radio = [
            codec.encode_state({"st": "online", "ts": now, "fw": VERSION, "bearer": BEARER[radio], "h": {"sim": True}})
            for radio in RADIOS
        ]
        payloads = [by_radio[int(r)] for r in topology.lamps.radio]
    else:
        payloads = [codec.STATE_OFFLINE] * len(topology.lamps)
    for lamp, payload in enumerate(payloads):
        publisher.publish_state(lamp, payload)


def _resume(
    fleet: Fleet,
    publisher: Sink,
    next_due: np.ndarray,
    interval_s: float,
    saved: state_file.SimState | None,
) -> dict[int, list[Reading]]:
    """Continues sequences after the server's watermark (and the saved state); returns the journal to re-send."""
    ids = fleet.topology.lamps.ids
    replay: dict[int, list[Reading]] = {}
    for lamp, lamp_id in enumerate(ids):
        wm = publisher.watermark(lamp)
        if wm is not None:
            fleet.next_seq[lamp] = max(int(fleet.next_seq[lamp]), wm + 1)
        prior = saved.lamps.get(lamp_id) if saved is not None else None
        if prior is None:
            continue
        fleet.next_seq[lamp] = max(int(fleet.next_seq[lamp]), prior.next_seq)
        fleet.model.restore(np.array([lamp]), np.array([prior.energy_wh]), np.array([prior.last_ts]))
        # Simulated time an earlier run already covered is not simulated twice for this lamp.
        next_due[lamp] = max(float(next_due[lamp]), prior.last_ts + interval_s)
        pending = [tuple(r) for r in prior.unacked if wm is None or r[0] > wm]
        if pending:
            replay[lamp] = pending
    return replay


def _snapshot(site_id: str, fleet: Fleet, publisher: Sink, sim_ts: float) -> state_file.SimState:
    model = fleet.model
    lamps: dict[str, state_file.LampState] = {}
    for lamp, lamp_id in enumerate(fleet.topology.lamps.ids):
        energy = float(model.energy[lamp])
        if math.isnan(energy):
            continue  # never reported: nothing to continue
        lamps[lamp_id] = state_file.LampState(
            next_seq=int(fleet.next_seq[lamp]),
            energy_wh=energy,
            last_ts=float(model.last_ts[lamp]),
            unacked=[list(r) for r in publisher.pending(lamp)],
        )
    return state_file.SimState(site_id=site_id, sim_ts=sim_ts, lamps=lamps)
