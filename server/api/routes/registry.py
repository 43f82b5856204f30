"""Sites, districts, cabinets and gateways: plain registry resources."""

from __future__ import annotations

from server.api.access import REGISTRY_WRITE
from server.api.crud_router import crud_router
from server.registry import crud
from server.registry.models import (
    CabinetCreate,
    CabinetPublic,
    CabinetUpdate,
    DistrictCreate,
    DistrictPublic,
    DistrictUpdate,
    GatewayCreate,
    GatewayPublic,
    GatewayUpdate,
    SiteCreate,
    SitePublic,
    SiteUpdate,
)

sites = crud_router(table=crud.SITES, prefix="/sites", tag="sites", create_model_=SiteCreate,
                    update_model=SiteUpdate, public_model=SitePublic,
                    write_roles=REGISTRY_WRITE)
districts = crud_router(table=crud.DISTRICTS, prefix="/districts", tag="districts",
                        create_model_=DistrictCreate, update_model=DistrictUpdate, public_model=DistrictPublic,
                        write_roles=REGISTRY_WRITE)
cabinets = crud_router(table=crud.CABINETS, prefix="/cabinets", tag="cabinets", create_model_=CabinetCreate,
                       update_model=CabinetUpdate, public_model=CabinetPublic,
                       write_roles=REGISTRY_WRITE)
gateways = crud_router(table=crud.GATEWAYS, prefix="/gateways", tag="gateways", create_model_=GatewayCreate,
                       update_model=GatewayUpdate, public_model=GatewayPublic,
                       write_roles=REGISTRY_WRITE)
