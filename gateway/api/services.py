"""``/api/v1/services``: the services the caller may use, and embed links for them."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from auth.dependencies import CurrentUser
from auth.embed import mint_link
from core.errors import Forbidden
from gateway.deps import AppSettings, Oscar, Person
from oscar.models import Service

router = APIRouter(tags=["services"])


class ServiceView(BaseModel):
    name: str
    image: str
    owner: str
    visibility: str
    memory: str
    cpu: str
    inputs: list[str]
    outputs: list[str]
    # True when the service has input and output folders, so POST .../jobs works.
    supports_jobs: bool
    run_url: str
    jobs_url: str
    ui_url: str


class EmbedLink(BaseModel):
    url: str
    expires_at: int


def _view(service: Service, base: str) -> ServiceView:
    api = f"{base}/api/v1/services/{service.name}"
    return ServiceView(
        name=service.name,
        image=service.image,
        owner=service.owner,
        visibility=service.visibility,
        memory=service.memory,
        cpu=service.cpu,
        inputs=[p.path for p in service.input],
        outputs=[p.path for p in service.output],
        supports_jobs=bool(service.input and service.output),
        run_url=f"{api}/run",
        jobs_url=f"{api}/jobs",
        ui_url=f"{base}/ui/{service.name}/",
    )


@router.get("/services")
async def list_services(
    user: CurrentUser, oscar: Oscar, settings: AppSettings
) -> list[ServiceView]:
    """List the OSCAR services the caller may see."""
    services = await oscar.list_services(auth=user.authorization)
    base = settings.public_url.rstrip("/")
    return [_view(s, base) for s in sorted(services, key=lambda s: s.name)]


@router.get("/services/{name}")
async def get_service(
    name: str, user: CurrentUser, oscar: Oscar, settings: AppSettings
) -> ServiceView:
    """Describe one service the caller may see."""
    service = await oscar.get_service(name, auth=user.authorization)
    return _view(service, settings.public_url.rstrip("/"))


@router.post("/services/{name}/embed-links", status_code=201)
async def create_embed_link(
    name: str, user: Person, oscar: Oscar, settings: AppSettings
) -> EmbedLink:
    """Mint a short-lived signed link that opens this service's UI for a visitor of your site."""
    service = await oscar.get_service(name, auth=user.authorization)
    # OSCAR returns the service token to whoever may read the service (oscar-api.md §1).
    if not service.token:
        raise Forbidden(f"OSCAR did not give you the token of service {name!r}.")
    url, expires = mint_link(settings, service=name, sub=user.sub, service_token=service.token)
    return EmbedLink(url=url, expires_at=expires)
