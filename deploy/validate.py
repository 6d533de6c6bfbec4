"""Offline validation of the deployment manifests (run through deploy/validate.sh, which makes the venv).

Every YAML document of every file given (default: deploy/kubernetes/*.yaml) is checked:
  - built-in kinds against the Kubernetes OpenAPI schemas that kubernetes-validate ships, strict
    (unknown fields refused), for one pinned Kubernetes version;
  - the custom kinds (InferencePool, HTTPRoute, Kustomization, and the EndpointPickerConfig that a
    ConfigMap carries) against our own JSON schemas in deploy/schemas/;
  - any other kind is an error, so no document goes unchecked.
Then the checks no schema can express: the worker's drain fits its grace period, its probes and
flags are the real ones, every pluginRef of the endpoint picker names a plugin, the metric names
the picker reads are ones the worker exports, and a Kustomization's resources exist.

Exit status: 0 when everything passed, 1 when anything failed (each failure is one ERROR line).
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys

import jsonschema
import referencing
import yaml
from kubernetes_validate import utils as kubernetes_schemas

HERE = pathlib.Path(__file__).resolve().parent
WORKER_CONTAINER = "worker-orcd"


class Report:
    def __init__(self):
        self.errors = 0

    def ok(self, where, what):
        print(f"OK    {where}: {what}")

    def error(self, where, what):
        self.errors += 1
        print(f"ERROR {where}: {what}")


def load_custom_schemas():
    """Our schemas, keyed by (apiVersion, kind) as each one pins them with `const`."""
    registry = referencing.Registry()
    schemas = {}
    for path in sorted((HERE / "schemas").glob("*.json")):
        contents = json.loads(path.read_text())
        registry = registry.with_resource(contents["$id"], referencing.Resource.from_contents(contents))
        props = contents.get("properties", {})
        if "apiVersion" in props and "kind" in props:
            schemas[(props["apiVersion"]["const"], props["kind"]["const"])] = contents
    return {key: jsonschema.Draft202012Validator(s, registry=registry) for key, s in schemas.items()}


def doc_name(doc):
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    return f"{doc.get('kind')}/{meta['name']}" if "name" in meta else str(doc.get("kind"))


def schema_errors(doc, custom, k8s_version):
    """The schema problems of one document, as strings (empty when it is valid)."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in custom:
        return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                for e in sorted(custom[key].iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]
    try:
        kubernetes_schemas.validate(doc, k8s_version, strict=True)
    except kubernetes_schemas.SchemaNotFoundError as e:
        return [f"no schema for kind {e.kind} of {e.api_version}: neither Kubernetes {k8s_version} "
                f"nor deploy/schemas/ knows it"]
    except kubernetes_schemas.ValidationError as e:
        return [f"{'.'.join(map(str, e.path)) or '(top)'}: {e.message}"]
    except (kubernetes_schemas.VersionNotSupportedError, kubernetes_schemas.InvalidSchemaError) as e:
        return [e.message]
    return []


def check_document(doc, where, report, ctx):
    if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
        report.error(where, "not a Kubernetes object (needs apiVersion and kind)")
        return
    where = f"{where}: {doc_name(doc)}"
    errors = schema_errors(doc, ctx.custom, ctx.k8s_version)
    for e in errors:
        report.error(where, e)
    if errors:
        return
    report.ok(where, f"{doc['apiVersion']} schema")
    kind = doc["kind"]
    if kind == "ConfigMap":
        # Configuration files in a ConfigMap are documents too (the picker's EndpointPickerConfig).
        for key, text in sorted((doc.get("data") or {}).items()):
            if key.endswith((".yaml", ".yml")):
                for sub in parse_documents(text, f"{where}[{key}]", report):
                    check_document(sub, f"{where}[{key}]", report, ctx)
    elif kind == "Deployment":
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            if container.get("name") == WORKER_CONTAINER:
                check_worker(pod, container, where, report, ctx)
    elif kind == "EndpointPickerConfig":
        check_picker(doc, where, report, ctx)
    elif kind == "Kustomization":
        for resource in doc["resources"]:
            if not (ctx.current_file.parent / resource).exists():
                report.error(where, f"resource {resource} does not exist next to {ctx.current_file.name}")


def flag_value(args, flag):
    """The value of `--flag=value` or `--flag value` in a container's args, or None."""
    for i, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
    return None


def check_worker(pod, container, where, report, ctx):
    where = f"{where}: container {container['name']}"
    args = container.get("args", [])
    before = report.errors
    # Kubernetes routes to the pod's address; the worker listens on 127.0.0.1 unless told otherwise.
    if flag_value(args, "--host") != "0.0.0.0":
        report.error(where, "needs --host=0.0.0.0 (the default 127.0.0.1 is unreachable from the Service)")
    drain = flag_value(args, "--shutdown-timeout-sec")
    if drain is None or not drain.isdigit():
        report.error(where, "must set --shutdown-timeout-sec explicitly, so the grace period can be checked against it")
        drain = None
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    pre_stop_sleep = pre_stop.get("sleep", {}).get("seconds")
    if pre_stop_sleep is None:
        report.error(where, "needs a preStop sleep, so endpoints are removed before SIGTERM")
        pre_stop_sleep = 0
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if drain is not None and not grace > pre_stop_sleep + int(drain):
        report.error(where, f"terminationGracePeriodSeconds {grace} must exceed preStop sleep {pre_stop_sleep} "
                            f"+ --shutdown-timeout-sec {drain}")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        path = container.get(probe, {}).get("httpGet", {}).get("path")
        if path != "/health":
            report.error(where, f"{probe} must be an HTTP GET of /health (found {path!r})")
    security = container.get("securityContext", {})
    if security.get("allowPrivilegeEscalation") is not False:
        report.error(where, "securityContext.allowPrivilegeEscalation must be false")
    if not (security.get("runAsNonRoot") or pod.get("securityContext", {}).get("runAsNonRoot")):
        report.error(where, "must run as non-root (runAsNonRoot)")
    if ctx.worker_flags is not None:
        for arg in args:
            flag = arg.split("=", 1)[0]
            if flag.startswith("--") and flag not in ctx.worker_flags:
                report.error(where, f"{flag} is not a flag of the worker binary ({ctx.worker_bin} --help)")
    if report.errors == before:
        report.ok(where, f"drain {drain} s + preStop {pre_stop_sleep} s < grace {grace} s; probes, flags, security")


def check_picker(doc, where, report, ctx):
    declared = {p.get("name", p["type"]) for p in doc["plugins"]}
    refs = [p["pluginRef"] for profile in doc["schedulingProfiles"] for p in profile["plugins"]]
    for source in (doc.get("dataLayer") or {}).get("sources", []):
        refs.append(source["pluginRef"])
        refs += [e["pluginRef"] for e in source.get("extractors", [])]
    for key in ("saturationDetector", "parser"):
        if doc.get(key, {}).get("pluginRef"):
            refs.append(doc[key]["pluginRef"])
    for ref in refs:
        if ref not in declared:
            report.error(where, f"pluginRef {ref} names no plugin (declared: {', '.join(sorted(declared))})")
    if ctx.exported_metrics is None:
        return
    for plugin in doc["plugins"]:
        if plugin["type"] != "core-metrics-extractor":
            continue
        for engine in (plugin.get("parameters") or {}).get("engineConfigs", []):
            for field, spec in sorted(engine.items()):
                if not field.endswith("Spec") or not spec:
                    continue
                metric = spec.split("{", 1)[0]
                if metric in ctx.exported_metrics:
                    report.ok(where, f"engine {engine['name']} {field} {metric} is exported by the worker")
                else:
                    report.error(where, f"engine {engine['name']} {field}: {metric} is not in the worker's /metrics")


def parse_documents(text, where, report):
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        report.error(where, f"not valid YAML: {e}")
        return []


def worker_flags(binary):
    """The long flags of `worker-orcd --help`."""
    help_text = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True).stdout
    return set(re.findall(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", help_text, re.MULTILINE))


def exported_metrics(path):
    """Metric family names in a Prometheus text exposition."""
    names = set()
    for line in pathlib.Path(path).read_text().splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
    return names


def manifest_files(paths):
    files = []
    for path in map(pathlib.Path, paths):
        files += sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")) if path.is_dir() else [path]
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(HERE / "kubernetes")],
                        help="manifest files or folders of *.yaml (default: deploy/kubernetes)")
    parser.add_argument("--kubernetes-version", required=True, help="Kubernetes version whose schemas to use")
    parser.add_argument("--worker-bin", help="worker-orcd binary whose --help lists the flags manifests may use")
    parser.add_argument("--metrics-file", help="a worker's GET /metrics output: the picker's metric names must be in it")
    opts = parser.parse_args()

    class Context:
        custom = load_custom_schemas()
        k8s_version = opts.kubernetes_version
        worker_bin = opts.worker_bin
        worker_flags = worker_flags(opts.worker_bin) if opts.worker_bin else None
        exported_metrics = exported_metrics(opts.metrics_file) if opts.metrics_file else None
        current_file = None

    report = Report()
    files = manifest_files(opts.paths)
    if not files:
        report.error(" ".join(opts.paths), "no manifest files found")
    documents = 0
    for path in files:
        Context.current_file = path
        try:
            text = path.read_text()
        except OSError as e:
            report.error(str(path), f"cannot be read: {e}")
            continue
        docs = parse_documents(text, str(path), report)
        if not docs:
            report.error(str(path), "holds no document")
        for doc in docs:
            documents += 1
            check_document(doc, str(path), report, Context)
    print(f"{documents} documents in {len(files)} files against Kubernetes {opts.kubernetes_version}: "
          f"{report.errors} errors")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
