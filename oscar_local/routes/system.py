"""``/health``, ``/system/info``, ``/system/config``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from oscar_local.routes.common import cluster_of, system_caller

VERSION = "v4.1.2-local"  # the OSCAR release whose API this server follows


async def health(request: Request) -> Response:
    """OSCAR answers ``Ok`` as text/plain."""
    return PlainTextResponse("Ok")


async def info(request: Request) -> Response:
    """Cluster version and backend."""
    await system_caller(request)
    return JSONResponse(
        {
            "version": VERSION,
            "git_commit": "local",
            "architecture": "amd64",
            "kubernetes_version": "none (oscar-local runs scripts as local processes)",
            "serverless_backend": {"name": "oscar-local", "version": VERSION},
        }
    )


async def config(request: Request) -> Response:
    """Cluster config and the caller's MinIO (S3) credentials (oscar-api.md §5)."""
    caller = await system_caller(request)
    cluster = cluster_of(request)
    access_key, secret_key = cluster.minio_keys(caller)
    settings = cluster.storage.settings
    assert settings is not None
    return JSONResponse(
        {
            "config": {
                "name": "oscar",
                "namespace": "oscar",
                "services_namespace": "oscar-svc",
                "gpu_available": False,
                "interLink_available": False,
                "yunikorn_enable": False,
                "oidc_groups": [],
            },
            "minio_provider": {
                "endpoint": settings.endpoint,
                "verify": True,
                "access_key": access_key,
                "secret_key": secret_key,
                "region": settings.region,
            },
            "allowed_image_repositories": [],
        }
    )


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/system/info", info, methods=["GET"]),
    Route("/system/config", config, methods=["GET"]),
]
