"""The deployment files, checked without a cluster: every overlay builds,
validates against Kubernetes' schemas, passes checkov and hadolint, and holds
together in the ways a schema cannot check (selectors, ports, secret keys)."""
import math
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OVERLAYS = ["tutorial", "production"]
BIN = os.path.dirname(sys.executable)


def render(overlay):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, "k8s", "overlays", overlay)],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request, tmp_path_factory):
    docs = render(request.param)
    path = tmp_path_factory.mktemp(request.param) / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return request.param, docs, path


def kubernetes_versions():
    """The three newest minor versions kubernetes-validate ships schemas for: the two newest,
    and the oldest one upstream still supports (Kubernetes maintains the three newest minors)."""
    import kubernetes_validate
    folder = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
    versions = sorted({tuple(map(int, name[1:].split("-")[0].split("."))) for name in os.listdir(folder) if name.startswith("v1.")})
    return [".".join(map(str, v)) for v in versions[-3:]]


def test_kubernetes_validate_strict(rendered):
    overlay, _, path = rendered
    versions = kubernetes_versions()
    assert len(versions) >= 2
    for version in versions:
        result = subprocess.run([os.path.join(BIN, "kubernetes-validate"), "--strict", "-k", version, str(path)],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{overlay} on Kubernetes {version}:\n{result.stdout}{result.stderr}"


def test_checkov_on_manifests(rendered):
    overlay, _, path = rendered
    result = subprocess.run([os.path.join(BIN, "checkov"), "--quiet", "--compact", "--framework", "kubernetes",
                             "--config-file", os.path.join(ROOT, "k8s", ".checkov.yaml"), "-f", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"{overlay}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "frontend/Dockerfile"])
def test_checkov_and_hadolint_on_dockerfiles(dockerfile):
    path = os.path.join(ROOT, dockerfile)
    checkov = subprocess.run([os.path.join(BIN, "checkov"), "--quiet", "--compact", "--framework", "dockerfile",
                              "--config-file", os.path.join(ROOT, "k8s", ".checkov.yaml"), "-f", path],
                             capture_output=True, text=True)
    assert checkov.returncode == 0, checkov.stdout[-4000:]
    hadolint = subprocess.run([os.path.join(BIN, "hadolint"), path], capture_output=True, text=True)
    assert hadolint.returncode == 0, hadolint.stdout + hadolint.stderr


def test_compose_file_is_accepted():
    compose = shutil.which("docker-compose", path=BIN) or os.path.join(BIN, "docker-compose")
    result = subprocess.run([compose, "-f", os.path.join(ROOT, "docker-compose.yml"), "config", "--quiet"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr


# ---- cross-references a schema cannot check ----

def pods(docs):
    """(workload, pod template) for every Deployment, StatefulSet and CronJob."""
    return [(d, d["spec"]["jobTemplate"]["spec"]["template"] if d["kind"] == "CronJob" else d["spec"]["template"])
            for d in docs if d["kind"] in ("Deployment", "StatefulSet", "CronJob")]


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def selects(label_selector, labels):
    """A full LabelSelector: matchLabels and In/NotIn/Exists expressions; {} selects everything."""
    if not matches(label_selector.get("matchLabels"), labels):
        return False
    for e in label_selector.get("matchExpressions", []):
        value = labels.get(e["key"])
        ok = {"In": value in e.get("values", []), "NotIn": value not in e.get("values", []),
              "Exists": e["key"] in labels, "DoesNotExist": e["key"] not in labels}[e["operator"]]
        if not ok:
            return False
    return True


def test_services_select_pods_and_named_ports(rendered):
    overlay, docs, _ = rendered
    for service in [d for d in docs if d["kind"] == "Service"]:
        targets = [t for _, t in pods(docs) if matches(service["spec"]["selector"], t["metadata"]["labels"])]
        assert targets, f"{overlay}: Service {service['metadata']['name']} selects no pods"
        for port in service["spec"]["ports"]:
            names = {p.get("name") for t in targets for c in t["spec"]["containers"] for p in c.get("ports", [])}
            numbers = {p["containerPort"] for t in targets for c in t["spec"]["containers"] for p in c.get("ports", [])}
            target = port.get("targetPort", port["port"])
            assert target in names or target in numbers, f"{overlay}: {service['metadata']['name']} targets {target}"


def test_secret_and_configmap_references_resolve(rendered):
    overlay, docs, _ = rendered
    secrets = {d["metadata"]["name"]: set(d.get("data", {})) | set(d.get("stringData", {})) for d in docs if d["kind"] == "Secret"}
    configmaps = {d["metadata"]["name"]: set(d.get("data", {})) for d in docs if d["kind"] == "ConfigMap"}
    for workload, template in pods(docs):
        spec = template["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    r = ref["secretKeyRef"]
                    assert r["key"] in secrets.get(r["name"], set()), f"{overlay}: {workload['metadata']['name']} needs secret {r}"
                if "configMapKeyRef" in ref:
                    r = ref["configMapKeyRef"]
                    assert r["key"] in configmaps.get(r["name"], set()), f"{overlay}: {workload['metadata']['name']} needs configmap {r}"
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets, f"{overlay}: volume {volume}"


def test_probe_ports_exist(rendered):
    overlay, docs, _ = rendered
    for workload, template in pods(docs):
        for container in template["spec"]["containers"]:
            names = {p.get("name") for p in container.get("ports", [])} | {p["containerPort"] for p in container.get("ports", [])}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                if port is not None:
                    assert port in names, f"{overlay}: {workload['metadata']['name']} {probe} port {port}"


def test_restricted_pod_security_everywhere(rendered):
    overlay, docs, _ = rendered
    for workload, template in pods(docs):
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"]
            assert ":" in c["image"] and not c["image"].endswith(":latest"), c["image"]
    namespaces = [d for d in docs if d["kind"] == "Namespace"]
    assert namespaces and all(n["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted" for n in namespaces)


def test_service_types_per_topology(rendered):
    overlay, docs, _ = rendered
    services = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Service"}
    assert services["mysql"]["type"] == "ClusterIP" and services["mysql"]["ports"][0]["port"] == 3306
    if overlay == "tutorial":
        assert services["backend"]["type"] == "NodePort" and services["backend"]["ports"][0]["nodePort"] == 30080
        assert services["backend"]["ports"][0]["port"] == 80
        assert services["frontend"]["type"] == "LoadBalancer" and services["frontend"]["ports"][0]["port"] == 80
    else:
        assert services["backend"]["type"] == "ClusterIP" and services["frontend"]["type"] == "ClusterIP"
        kinds = {d["kind"] for d in docs}
        assert {"Ingress", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds


def test_network_policies_select_the_pods_they_mean(rendered):
    overlay, docs, _ = rendered
    labels = [t["metadata"]["labels"] for _, t in pods(docs)]
    for policy in [d for d in docs if d["kind"] == "NetworkPolicy"]:
        selector = policy["spec"]["podSelector"]
        assert any(selects(selector, l) for l in labels), f"{policy['metadata']['name']} selects no pod"
        for rule in policy["spec"].get("ingress", []) + policy["spec"].get("egress", []):
            for peer in rule.get("from", []) + rule.get("to", []):
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert any(matches(peer["podSelector"].get("matchLabels", {}), l) for l in labels), policy["metadata"]["name"]


def test_prometheus_can_scrape_the_backend(rendered):
    # The usual pod annotations name the metrics port and path; where NetworkPolicies
    # isolate the backend, one of them must let a scraper from another namespace in.
    overlay, docs, _ = rendered
    [backend] = [t for _, t in pods(docs) if t["metadata"]["labels"].get("app.kubernetes.io/name") == "backend"]
    annotations = backend["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true" and annotations.get("prometheus.io/path") == "/metrics", overlay
    port = int(annotations["prometheus.io/port"])
    assert port in {p["containerPort"] for c in backend["spec"]["containers"] for p in c.get("ports", [])}, overlay

    def lets_a_scraper_in(rule):
        ports = {p.get("port") for p in rule.get("ports", [])}
        peers = rule.get("from", [])
        return (not ports or port in ports) and (not peers or any("namespaceSelector" in peer for peer in peers))

    isolating = [d for d in docs if d["kind"] == "NetworkPolicy" and "Ingress" in d["spec"].get("policyTypes", [])
                 and selects(d["spec"]["podSelector"], backend["metadata"]["labels"])]
    if isolating:
        assert any(lets_a_scraper_in(rule) for d in isolating for rule in d["spec"].get("ingress", [])), \
            f"{overlay}: no NetworkPolicy lets Prometheus reach the backend on {port}"


def test_termination_grace_outlasts_shutdown(rendered):
    overlay, docs, _ = rendered
    backend = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "backend")
    spec = backend["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert spec["terminationGracePeriodSeconds"] > pre_stop + float(env["SHUTDOWN_DELAY_SECONDS"]) + float(env["SHUTDOWN_TIMEOUT_SECONDS"])


def test_request_memory_leaves_room_under_the_memory_limit(rendered):
    # The server holds at most MAX_REQUEST_MEMORY_BYTES for requests; with more than
    # half of the container's limit, uploads alone could get the pod OOM-killed.
    overlay, docs, _ = rendered
    backend = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "backend")
    container = backend["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    limit = container["resources"]["limits"]["memory"]
    limit_bytes = int(limit[:-2]) * units[limit[-2:]]
    held = int(env.get("MAX_REQUEST_MEMORY_BYTES", 64 * 2**20))
    assert held <= limit_bytes // 2, f"{overlay}: {env.get('MAX_REQUEST_MEMORY_BYTES')} vs {limit}"
    # Past it each connection may still hold about 100 KiB (a head's room, one unread answer).
    connections = int(env.get("MAX_CONNECTIONS", 10_000))
    assert held + connections * 100 * 2**10 <= limit_bytes * 3 // 4, f"{overlay}: {connections} connections vs {limit}"


def test_database_connections_fit_under_max_connections(rendered):
    # Every backend pod opens DB_POOL_SIZE connections and one for its readiness check.
    # At the most there are the autoscaler's ceiling plus a rollout's surge of pods, and
    # the backup's one: more than MySQL's max_connections and new pods fail to start.
    overlay, docs, _ = rendered
    backend = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "backend")
    hpa = next((d for d in docs if d["kind"] == "HorizontalPodAutoscaler"
                and d["spec"]["scaleTargetRef"]["name"] == "backend"), None)
    replicas = hpa["spec"]["maxReplicas"] if hpa else backend["spec"]["replicas"]
    surge = backend["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", "25%")
    surge = math.ceil(replicas * int(surge[:-1]) / 100) if str(surge).endswith("%") else int(surge)
    env = {e["name"]: e.get("value") for e in backend["spec"]["template"]["spec"]["containers"][0]["env"]}
    per_pod = int(env.get("DB_POOL_SIZE") or 10) + 1
    backups = sum(1 for d in docs if d["kind"] == "CronJob")
    mysql = next(d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "mysql")
    args = mysql["spec"]["template"]["spec"]["containers"][0].get("args", [])
    limit = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--max-connections=")), 151)  # MySQL's default
    needed = (replicas + surge) * per_pod + backups
    assert needed <= limit, (f"{overlay}: {replicas + surge} backend pods x {per_pod} connections + {backups} "
                             f"= {needed}, over MySQL's max_connections of {limit}")


def test_production_requires_tls_to_the_database(rendered):
    overlay, docs, _ = rendered
    backend = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "backend")
    spec = backend["spec"]["template"]["spec"]
    for container in spec["initContainers"] + spec["containers"]:
        tls = {e["name"]: e.get("value") for e in container["env"]}.get("DB_TLS", "preferred")
        assert tls == ("required" if overlay == "production" else "preferred"), f"{overlay}: {container['name']} DB_TLS={tls}"


def test_the_nightly_backup_restores_to_the_same_data(tmp_path):
    """Runs the production CronJob's own script against the test database (MariaDB's
    client here, so without MySQL 8.4's --ssl-mode), restores the file it wrote into
    a fresh database as the README says, and compares every table; files older than
    KEEP_DAYS go, others stay."""
    if not os.environ.get("DB_HOST"):
        pytest.skip("needs the test database (scripts/test starts one)")
    job = next(d for d in render("production") if d["kind"] == "CronJob" and d["metadata"]["name"] == "mysql-backup")
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    settings = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert settings["DB_HOST"] == "mysql" and settings["DUMP_OPTIONS"] == "--ssl-mode=REQUIRED"
    suffix = uuid.uuid4().hex[:8]
    source, target = f"storefront_backup_{suffix}", f"storefront_restore_{suffix}"
    client = ["mysql", "-h", os.environ["DB_HOST"], "-P", os.environ["DB_PORT"], "-u", os.environ["DB_USER"]]
    db_env = dict(os.environ, MYSQL_PWD=os.environ["DB_PASSWORD"])

    def sql(statement, database=""):
        return subprocess.run(client + ["-N", "-e", statement] + ([database] if database else []), env=db_env,
                              capture_output=True, text=True, check=True).stdout

    sql(f"CREATE DATABASE {source}; CREATE DATABASE {target}")
    try:
        # The real schema with the demo catalog, and text that a careless dump would mangle.
        binary = os.path.join(ROOT, ".build", "debug", "storefront")
        subprocess.run([binary, "seed"], env=dict(os.environ, DB_NAME=source), capture_output=True, check=True, timeout=120)
        sql("UPDATE products SET description = CONCAT('tab', CHAR(9), 'newline', CHAR(10), 'quotes '' \" backslash \\\\ émoji 🙂') WHERE id = 1", source)
        old = tmp_path / f"{source}-20200101T000000Z.sql.gz"
        old.write_bytes(b"")
        os.utime(old, (time.time() - 30 * 86400,) * 2)
        other = tmp_path / "notes.txt"
        other.write_text("kept")
        os.utime(other, (time.time() - 30 * 86400,) * 2)
        env = {**os.environ, **settings, "DB_HOST": os.environ["DB_HOST"], "DB_PORT": os.environ["DB_PORT"], "DB_NAME": source,
               "DB_USER": os.environ["DB_USER"], "DB_PASSWORD": os.environ["DB_PASSWORD"], "DUMP_OPTIONS": "",
               "BACKUP_DIR": str(tmp_path), "TMPDIR": str(tmp_path)}
        run = subprocess.run(container["command"], capture_output=True, text=True, timeout=120, env=env)
        assert run.returncode == 0, run.stderr
        files = sorted(p.name for p in tmp_path.iterdir())
        backups = [name for name in files if name.startswith(source) and name.endswith(".sql.gz")]
        assert len(backups) == 1 and old.name not in files and "notes.txt" in files, (files, run.stdout)
        assert not any(name.endswith(".partial") or name.endswith(".cnf") for name in files), files
        assert f"backed up {source} to {tmp_path / backups[0]}" in run.stdout
        assert oct((tmp_path / backups[0]).stat().st_mode & 0o777) == "0o600"

        # The README's restore: the file, gunzipped, into the mysql client.
        with open(tmp_path / backups[0], "rb") as f:
            unzipped = subprocess.run(["gunzip", "-c"], stdin=f, capture_output=True, check=True).stdout
        subprocess.run(client + [target], input=unzipped, env=db_env, check=True, capture_output=True)
        tables = sql("SHOW TABLES", source).split()
        assert {"products", "orders", "schema_migrations"} <= set(tables)
        assert sql("SHOW TABLES", target).split() == tables
        for table in tables:
            assert sql(f"CHECKSUM TABLE {source}.{table}").split()[1] == sql(f"CHECKSUM TABLE {target}.{table}").split()[1], table
        assert sql("SELECT description FROM products WHERE id = 1", target) == sql("SELECT description FROM products WHERE id = 1", source)
    finally:
        sql(f"DROP DATABASE IF EXISTS {source}; DROP DATABASE IF EXISTS {target}")
