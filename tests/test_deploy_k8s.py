"""k8s/: the kustomize base and the example overlay, built and schema-validated.

kubectl is not part of the toolchain, so the build is a small kustomize subset
implemented here (resources, namespace, labels, images, replicas, strategic-merge
patches incl. ``$patch: delete``).  It refuses any kustomization field it does not
implement, so the manifests cannot quietly rely on something unchecked.  The
result is validated against a recent Kubernetes schema (kubernetes-validate,
strict: unknown fields are errors), then checked for how the pieces fit.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.settings_vars import setting_vars

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.34.0"
CLUSTER_SCOPED = {"Namespace"}
_SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "replicas"}
_SUPPORTED |= {"patches"}

Doc = dict[str, Any]


# --- a kustomize subset ----------------------------------------------------------------------


def build(directory: Path) -> list[Doc]:
    """``kustomize build directory`` for the subset of features described above."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - _SUPPORTED
    assert not unknown, f"{directory}: kustomization fields not checked by this test: {unknown}"
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        docs.extend(build(path) if path.is_dir() else _load(path))
    for patch in kustomization.get("patches", []):
        assert set(patch) == {"path"}, f"only file patches are supported: {patch}"
        for doc in _load(directory / patch["path"]):
            docs = _apply_patch(docs, doc)
    for image in kustomization.get("images", []):
        _set_image(docs, image)
    for replicas in kustomization.get("replicas", []):
        _find(docs, "Deployment", replicas["name"])["spec"]["replicas"] = replicas["count"]
    for label in kustomization.get("labels", []):
        assert not label.get("includeSelectors") and not label.get("includeTemplates")
        for doc in docs:
            doc["metadata"].setdefault("labels", {}).update(label["pairs"])
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    return docs


def _load(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _find(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _apply_patch(docs: list[Doc], patch: Doc) -> list[Doc]:
    target = _find(docs, patch["kind"], patch["metadata"]["name"])
    if patch.get("$patch") == "delete":
        return [d for d in docs if d is not target]
    merged = _merge(target, patch)
    return [merged if d is target else d for d in docs]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge, simplified: maps merge, lists of named maps merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and _named(base) and _named(patch):
        by_name = {item["name"]: item for item in base}
        out = [_merge(by_name[i["name"]], i) if i["name"] in by_name else i for i in patch]
        return out + [item for item in base if item["name"] not in {i["name"] for i in patch}]
    return copy.deepcopy(patch)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _set_image(docs: list[Doc], image: dict[str, str]) -> None:
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in spec.get("containers", []):
            name, _, _ = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"


# --- tests -----------------------------------------------------------------------------------


@pytest.fixture(params=["base", "overlays/example"])
def manifests(request: pytest.FixtureRequest) -> list[Doc]:
    return build(K8S / request.param)


def test_every_manifest_is_valid_for_a_recent_kubernetes(manifests: list[Doc]) -> None:
    for doc in manifests:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_base_has_every_required_kind() -> None:
    kinds = {doc["kind"] for doc in build(K8S / "base")}
    assert kinds >= {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    # Redis for the sessions, as its own Deployment and Service.
    docs = build(K8S / "base")
    assert _find(docs, "Deployment", "oscar-gateway-redis")
    assert _find(docs, "Service", "oscar-gateway-redis")


def test_config_and_secret_name_only_real_settings(manifests: list[Doc]) -> None:
    known = setting_vars()
    config = _find(manifests, "ConfigMap", "oscar-gateway")["data"]
    secret = _find(manifests, "Secret", "oscar-gateway")["stringData"]
    assert set(config) | set(secret) <= set(known)
    assert not set(config) & set(secret)
    # Secrets live in the Secret, never in the ConfigMap.
    assert {"GATEWAY_SESSION__SECRET", "GATEWAY_OIDC__CLIENT_SECRET"} <= set(secret)
    # Several replicas need the shared session store.
    assert config["GATEWAY_SESSION__BACKEND"] == "redis"
    # X-Forwarded-For is believed only from the ingress controller's CIDRs, never "*".
    proxies = json.loads(config["GATEWAY_TRUSTED_PROXIES"])
    assert proxies and "*" not in proxies
    assert all(ipaddress.ip_network(cidr) for cidr in proxies)


def test_deployment_is_probed_bounded_and_unprivileged(manifests: list[Doc]) -> None:
    deployment = _find(manifests, "Deployment", "oscar-gateway")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][:2] == ["oscar-gateway", "serve"]
    port = int(container["command"][container["command"].index("--port") + 1])
    config = _find(manifests, "ConfigMap", "oscar-gateway")["data"]
    metrics_port = int(config["GATEWAY_METRICS_PORT"])
    assert metrics_port != port
    assert container["ports"] == [
        {"name": "http", "containerPort": port},
        {"name": "metrics", "containerPort": metrics_port},
    ]
    notes = deployment["spec"]["template"]["metadata"]["annotations"]
    assert notes["prometheus.io/port"] == str(metrics_port)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # gateway/health.py gives each readiness check 4 s.
    assert container["readinessProbe"]["timeoutSeconds"] > 4
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume
    refs = {next(iter(e.values()))["name"] for e in container["envFrom"]}
    assert refs == {"oscar-gateway"}


def test_service_hpa_and_pdb_point_at_the_deployment(manifests: list[Doc]) -> None:
    deployment = _find(manifests, "Deployment", "oscar-gateway")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = _find(manifests, "Service", "oscar-gateway")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = _find(manifests, "PodDisruptionBudget", "oscar-gateway")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    hpa = _find(manifests, "HorizontalPodAutoscaler", "oscar-gateway")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "oscar-gateway"
    # Disruptions must leave a replica: more than minAvailable at the bottom of the range.
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"]


def test_ingress_sticks_only_the_ui_and_matches_the_body_limit(manifests: list[Doc]) -> None:
    api = _find(manifests, "Ingress", "oscar-gateway")["metadata"]["annotations"]
    ui = _find(manifests, "Ingress", "oscar-gateway-ui")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert ui[prefix + "affinity"] == "cookie"
    assert prefix + "affinity" not in api
    for notes in (api, ui):
        assert notes[prefix + "proxy-buffering"] == "off"
        size = notes[prefix + "proxy-body-size"]
        assert size.endswith("m")
        config = _find(manifests, "ConfigMap", "oscar-gateway")["data"]
        assert int(size[:-1]) * 1024 * 1024 == int(config["GATEWAY_LIMITS__MAX_BODY_BYTES"])
    ui_paths = [
        p["path"]
        for rule in _find(manifests, "Ingress", "oscar-gateway-ui")["spec"]["rules"]
        for p in rule["http"]["paths"]
    ]
    assert ui_paths == ["/oscar-gateway/ui(/|$)(.*)"]


def test_the_ingress_cannot_reach_the_metrics(manifests: list[Doc]) -> None:
    """Issue 10 #8: every Ingress backend is a Service port that leads to the main port only,
    where /metrics answers 404 (tests/test_security_metrics.py); metrics have their own port."""
    services = {d["metadata"]["name"]: d for d in manifests if d["kind"] == "Service"}
    (container,) = _find(manifests, "Deployment", "oscar-gateway")["spec"]["template"]["spec"][
        "containers"
    ]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    metrics_port = int(
        _find(manifests, "ConfigMap", "oscar-gateway")["data"]["GATEWAY_METRICS_PORT"]
    )
    assert ports["metrics"] == metrics_port
    for ingress in (d for d in manifests if d["kind"] == "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = services[backend["name"]]
                (port,) = [
                    p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]
                ]
                target = port["targetPort"]
                assert target == "http" and ports[target] != metrics_port
    # No Service of the gateway exposes the metrics port at all.
    gateway = services["oscar-gateway"]
    assert {p["targetPort"] for p in gateway["spec"]["ports"]} == {"http"}


def test_overlay_uses_an_external_redis_its_own_image_and_host() -> None:
    docs = build(K8S / "overlays" / "example")
    assert not [d for d in docs if d["metadata"]["name"] == "oscar-gateway-redis"]
    config = _find(docs, "ConfigMap", "oscar-gateway")["data"]
    assert config["GATEWAY_SESSION__REDIS_URL"].startswith("rediss://")
    deployment = _find(docs, "Deployment", "oscar-gateway")
    assert deployment["spec"]["replicas"] == 3
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.org/oscar/oscar-gateway:0.1.0"
    hosts = {
        rule["host"] for ing in docs if ing["kind"] == "Ingress" for rule in ing["spec"]["rules"]
    }
    assert hosts == {"ai.example-site.org"}
    assert config["GATEWAY_PUBLIC_URL"] == "https://ai.example-site.org/oscar-gateway"
    assert all(d["metadata"].get("namespace") == "oscar-gateway" for d in docs[1:])
