# syntax=docker/dockerfile:1
# oscar-gateway image: `oscar-gateway serve` (default) or `oscar-local serve` (the stand-in).
# Two stages: wheels are built with the build tools, the runtime stage only installs them,
# so no compiler, no pip cache and no dev extra ([dev]) ends up in the image.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY auth ./auth
COPY uis ./uis
COPY oscar_local ./oscar_local
COPY devstack ./devstack
# The project and its runtime dependencies as wheels (no [dev] extra).
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    # Gradio writes uploads and caches under these; /tmp is the one writable place
    # when the root filesystem is read-only (k8s mounts an emptyDir there).
    HOME=/tmp \
    GRADIO_TEMP_DIR=/tmp/gradio \
    GATEWAY_DATA_DIR=/tmp/oscar-gateway \
    GRADIO_ANALYTICS_ENABLED=False \
    MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /app --shell /usr/sbin/nologin gateway
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels oscar-gateway \
    && rm -rf /wheels
WORKDIR /app
# Demo services for the local OSCAR stand-in (docker-compose.yml).
COPY examples/services /app/examples/services
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["oscar-gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]
