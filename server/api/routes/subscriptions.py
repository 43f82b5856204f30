"""Crews' notification subscriptions (webhook, e-mail, MQTT) and the outbox of deliveries.

Administrators and operators write subscriptions; everyone reads them, without the webhook secrets,
which are shown to nobody once set.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from server.alerts import outbox, subscriptions, targets, texts
from server.alerts.matching import DEFAULT_ACTIONS
from server.alerts.mqtt_channel import crew_alert_topic
from server.api.access import READ, Role, allow
from server.api.deps import ConnDep, PagingDep
from server.api.errors import ApiError
from server.api.params import RowId, RowIdQuery

router = APIRouter(prefix="/crews", tags=["alerts"])
notifications = APIRouter(prefix="/notifications", tags=["alerts"])

WRITE = (Role.ADMIN, Role.OPERATOR)

CrewId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Channel = Literal["webhook", "email", "mqtt"]
Severity = Literal["minor", "major", "critical"]
Language = Literal["id", "en"]
Action = Literal["opened", "acknowledged", "started", "resolved", "closed", "reopened", "escalated", "assigned",
                 "suppressed", "unsuppressed", "cleared", "commented"]
assert set(Action.__args__) == set(texts.ACTIONS)  # type: ignore[attr-defined]  # alert_events' CHECK list


def _known_fault(value: str) -> str:
    if value not in texts.FAULT_TYPES:
        raise ValueError(f"unknown fault type {value!r}; one of {', '.join(texts.FAULT_TYPES)}")
    return value


FaultType = Annotated[str, AfterValidator(_known_fault)]
FaultTypes = Annotated[list[FaultType] | None, Field(min_length=1, max_length=len(texts.FAULT_TYPES),
                                                     description="only these fault types; null: all")]
Actions = Annotated[list[Action], Field(min_length=1, max_length=len(texts.ACTIONS),
                                        description="which alert history actions send a message")]
Target = Annotated[str | None, Field(max_length=targets.URL_MAX, description=(
    "webhook: the http(s) URL; email: the address; mqtt: an optional topic suffix "
    "(terang/v1/<site>/crew/<crew>/alerts[/<suffix>])"))]
Secret = Annotated[str | None, Field(max_length=targets.SECRET_MAX, description=(
    f"webhooks only: the HMAC-SHA256 key, at least {targets.SECRET_MIN} characters; never shown again"))]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriptionCreate(_In):
    channel: Channel
    target: Target = None
    secret: Secret = None
    language: Language | None = Field(default=None, description="null: the crew's language")
    min_severity: Severity = "minor"
    fault_types: FaultTypes = None
    actions: Actions = Field(default_factory=lambda: cast("list[Action]", list(DEFAULT_ACTIONS)))
    include_suppressed: bool = False
    enabled: bool = True


class SubscriptionUpdate(_In):
    """Only the fields given change; ``null`` for language or fault_types means the default."""

    target: Target = None
    secret: Secret = None
    language: Language | None = None
    min_severity: Severity | None = None
    fault_types: FaultTypes = None
    actions: Actions | None = None
    include_suppressed: bool | None = None
    enabled: bool | None = None


class SubscriptionPublic(BaseModel):
    id: int
    crew_id: str
    channel: Channel
    target: str | None
    mqtt_topic: str | None = Field(description="for MQTT subscriptions: where the messages go")
    has_secret: bool
    language: Language | None
    min_severity: Severity
    fault_types: list[str] | None
    actions: list[str]
    include_suppressed: bool
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class SubscriptionPage(BaseModel):
    items: list[SubscriptionPublic]
    total: int
    limit: int
    offset: int


class NotificationPublic(BaseModel):
    id: int
    event_id: int
    alert_id: int
    site_id: str
    subscription_id: int
    channel: Channel
    target: str
    status: Literal["pending", "sent", "failed", "dead"]
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    sent_at: dt.datetime | None
    created_at: dt.datetime
    payload: dict[str, Any]


class NotificationPage(BaseModel):
    items: list[NotificationPublic]
    total: int
    limit: int
    offset: int


def _public(sub: subscriptions.Subscription) -> SubscriptionPublic:
    topic = crew_alert_topic(sub.site_id, sub.crew_id, sub.target) if sub.channel == "mqtt" else None
    return SubscriptionPublic.model_validate({**dataclasses.asdict(sub), "mqtt_topic": topic})


def _check(problem: str | None) -> None:
    if problem is not None:
        raise ApiError(422, problem, field=problem.split(":", 1)[0])


def _unique(values: list[str] | None) -> list[str] | None:
    return None if values is None else list(dict.fromkeys(values))


@router.post("/{crew_id}/subscriptions", status_code=status.HTTP_201_CREATED, response_model=SubscriptionPublic,
             summary="Subscribe a crew to alert notifications", dependencies=[allow(*WRITE)])
async def create_subscription(crew_id: CrewId, body: SubscriptionCreate, conn: ConnDep) -> SubscriptionPublic:
    _check(targets.target_problem(body.channel, body.target))
    _check(targets.secret_problem(body.channel, body.secret))
    values = body.model_dump(exclude={"channel"})
    values["fault_types"] = _unique(body.fault_types)
    values["actions"] = _unique(list(body.actions))
    sub = await subscriptions.create(conn, crew_id=crew_id, channel=body.channel, values=values)
    return _public(sub)


@router.get("/{crew_id}/subscriptions", response_model=SubscriptionPage, summary="A crew's subscriptions",
            dependencies=[allow(*READ)])
async def list_subscriptions(crew_id: CrewId, conn: ConnDep, paging: PagingDep) -> SubscriptionPage:
    rows, total = await subscriptions.list_rows(conn, crew_id=crew_id, limit=paging.limit, offset=paging.offset)
    return SubscriptionPage(items=[_public(s) for s in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/{crew_id}/subscriptions/{subscription_id}", response_model=SubscriptionPublic,
            summary="A subscription", dependencies=[allow(*READ)])
async def get_subscription(crew_id: CrewId, subscription_id: RowId, conn: ConnDep) -> SubscriptionPublic:
    return _public(await subscriptions.get(conn, crew_id=crew_id, subscription_id=subscription_id))


@router.patch("/{crew_id}/subscriptions/{subscription_id}", response_model=SubscriptionPublic,
              summary="Change a subscription's target, secret or rules", dependencies=[allow(*WRITE)])
async def update_subscription(crew_id: CrewId, subscription_id: RowId, body: SubscriptionUpdate,
                              conn: ConnDep) -> SubscriptionPublic:
    current = await subscriptions.get(conn, crew_id=crew_id, subscription_id=subscription_id)
    given = body.model_dump(include=body.model_fields_set)
    for name in ("min_severity", "actions", "include_suppressed", "enabled"):
        if name in given and given[name] is None:
            raise ApiError(422, f"{name}: cannot be null", field=name)
    if "target" in given:
        _check(targets.target_problem(current.channel, given["target"]))
    if "secret" in given:  # a new key; the stored one is never read back
        _check(targets.secret_problem(current.channel, given["secret"]))
    if "fault_types" in given:
        given["fault_types"] = _unique(given["fault_types"])
    if "actions" in given:
        given["actions"] = _unique(given["actions"])
    sub = await subscriptions.update(conn, crew_id=crew_id, subscription_id=subscription_id, values=given)
    return _public(sub)


@router.delete("/{crew_id}/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Unsubscribe (its pending deliveries are dropped)", dependencies=[allow(*WRITE)])
async def delete_subscription(crew_id: CrewId, subscription_id: RowId, conn: ConnDep) -> Response:
    await subscriptions.delete(conn, crew_id=crew_id, subscription_id=subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@notifications.get("", response_model=NotificationPage, summary="Notification deliveries, newest first",
                   dependencies=[allow(*WRITE)])
async def list_notifications(
    conn: ConnDep, paging: PagingDep, alert_id: RowIdQuery = None, subscription_id: RowIdQuery = None,
    status_: Annotated[Literal["pending", "sent", "failed", "dead"] | None, Query(alias="status")] = None,
) -> NotificationPage:
    rows, total = await outbox.list_rows(conn, alert_id=alert_id, status=status_, subscription_id=subscription_id,
                                         limit=paging.limit, offset=paging.offset)
    return NotificationPage(items=[NotificationPublic.model_validate(r, from_attributes=True) for r in rows],
                            total=total, limit=paging.limit, offset=paging.offset)
