"""Per-device MQTT credentials: issued at commissioning (technicians), revoked when a controller is
lost or replaced. Changes reach the broker at the next `terang broker config --reload`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from server.api.access import Role, allow
from server.api.deps import ConnDep, PagingDep, SettingsDep
from server.api.errors import ApiError
from server.broker import accounts

router = APIRouter(prefix="/mqtt-accounts", tags=["mqtt-accounts"])
COMMISSIONING = [allow(Role.ADMIN, Role.TECHNICIAN)]


class CredentialsRequest(BaseModel):
    kind: Literal["lamp", "gw"]
    device_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class Credentials(BaseModel):
    username: str
    password: str = Field(description="Shown this once; only a hash is kept")
    client_id: str
    site_id: str | None
    device_id: str | None
    mqtt_url: str = Field(description="The broker URL with the credentials, for the device config")


class AccountPublic(BaseModel):
    username: str
    kind: str
    site_id: str | None
    device_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class AccountPage(BaseModel):
    items: list[AccountPublic]
    total: int
    limit: int
    offset: int


def device_broker_url(settings: SettingsDep) -> str:
    url = settings.device_mqtt_url or settings.mqtt_url
    if url is None:
        raise ApiError(409, "device_mqtt_url: set TERANG_DEVICE_MQTT_URL to the broker address devices reach",
                       field="device_mqtt_url")
    return url


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Credentials,
             summary="Issue (or rotate) a lamp's or gateway's MQTT credentials", dependencies=COMMISSIONING)
async def issue_credentials(body: CredentialsRequest, conn: ConnDep, settings: SettingsDep) -> Credentials:
    creds = await accounts.issue(conn, kind=body.kind, device_id=body.device_id,
                                 broker_url=device_broker_url(settings))
    return Credentials.model_validate(creds, from_attributes=True)


@router.get("", response_model=AccountPage, summary="List MQTT accounts", dependencies=COMMISSIONING)
async def list_accounts(
    conn: ConnDep, paging: PagingDep, site_id: Annotated[str | None, Query(max_length=32)] = None
) -> AccountPage:
    rows, total = await accounts.list_accounts(conn, site_id=site_id, limit=paging.limit, offset=paging.offset)
    return AccountPage(items=[AccountPublic.model_validate(a, from_attributes=True) for a in rows], total=total,
                       limit=paging.limit, offset=paging.offset)


@router.delete("/{username}", response_model=AccountPublic, summary="Revoke an MQTT account",
               dependencies=COMMISSIONING)
async def revoke_account(username: str, conn: ConnDep) -> AccountPublic:
    return AccountPublic.model_validate(await accounts.revoke(conn, username=username), from_attributes=True)
