"""Maintenance crews: who receives which district's alerts."""

from __future__ import annotations

from server.alerts.models import CrewCreate, CrewPublic, CrewUpdate
from server.api.access import Role
from server.api.crud_router import crud_router
from server.registry import crud

CREWS = crud.Table("crews", "crew", ("site_id", "name", "districts", "language"), filters=("site_id",))
CREW_WRITE = (Role.ADMIN, Role.OPERATOR)

router = crud_router(table=CREWS, prefix="/crews", tag="alerts", create_model_=CrewCreate, update_model=CrewUpdate,
                     public_model=CrewPublic, write_roles=CREW_WRITE)
