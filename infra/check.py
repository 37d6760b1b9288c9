"""Offline checks of everything that would reach a cluster, an AWS account or CI.

Run with the infra tools venv after rendering the orchestrators' pods with the project venv
(``make infra-check`` does both):

    .venv/bin/python infra/render_pods.py            # -> build/infra/pods/{airflow,kfp}.yaml
    .venv-infra/bin/python infra/check.py [--root infra] [--only helm,k8s,pss,...]

- ``helm``: the chart ``<root>/helm/replica`` lints strictly (helm-python-sdk, Helm's Go SDK)
  and renders with ``<root>/helm/ci-values.yaml`` into ``build/infra/chart``; its values schema
  refuses a mutable image reference.
- ``k8s``: every manifest under ``<root>/k8s`` (and ``k8s/system``), the rendered chart and the
  rendered pods against the Kubernetes schema (kubernetes-validate, strict: unknown fields fail);
  RayCluster and ExternalSecret against the vendored schemas in ``k8s/crds`` (a RayCluster's pod
  templates against the PodTemplate schema too); a kind with no schema is an error. The Airflow
  chart values (``<root>/airflow/values.yaml``) against the settings the DAGs rely on.
- ``pss``: every pod the project starts (the chart's workloads, Airflow's and KFP's pods) against
  the ``restricted`` Pod Security Standard (``infra/pss.py``); only ``kube-system`` node agents
  are exempt, and named.
- ``terraform``: ``fmt -check``, ``init -backend=false`` from the local provider mirror,
  ``validate``, an offline ``plan`` (``terraform/offline``: fake credentials, example IDs), and
  policy on the plan JSON: GPU node group tainted, labelled and on a GPU instance family; every
  bucket fully public-blocked, versioned, KMS-encrypted; the workspace file system encrypted with
  a mount target per private subnet; IRSA roles trusting only their service account. Skipped,
  loudly, when terraform or the mirror is absent.
- ``checkov``: the rendered chart, the manifests, the Terraform module and the Dockerfile, with
  the justified skips in ``<root>/.checkov.yaml``. (Not the plan JSON: there the bucket IDs are
  unknown until apply, so checkov cannot tie a bucket to its public-access block and reports
  every bucket unprotected; the plan policy above checks exactly that instead.)
- ``hadolint``: ``containers/Dockerfile``.
- ``workflows``: ``.github/workflows/*.yml`` against the GitHub workflow schema
  (check-jsonschema's vendored copy) and zizmor's offline audits.

Prints one line per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pss import check_object, pod_specs  # noqa: E402 - infra/ is not a package; pss is stdlib-only

K8S_VERSION = "1.30.0"  # the EKS version the manifests target
BUILD = REPO / "build" / "infra"
CRD_SCHEMAS = {
    "RayCluster": "raycluster.schema.json",
    "ExternalSecret": "externalsecret.schema.json",
}
SYSTEM_NAMESPACES = ("kube-system",)  # node agents (the GPU device plugin): not replica's pods
BIN = Path(sys.executable).parent
MIRRORS = ("/opt/tf-plugins", "/usr/share/terraform/plugins")  # after $TF_PLUGIN_MIRROR
GPU_FAMILIES = ("g5.", "g6.", "g6e.", "p4d.", "p5.")


class Skip(Exception):
    """A check that cannot run on this machine (said loudly, not counted as passed)."""


def load_docs(paths: Iterable[Path]) -> list[tuple[str, dict[str, Any]]]:
    """Every YAML document in ``paths`` with its file name."""
    return [
        (path.name, doc)
        for path in sorted(paths)
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def validate_k8s(docs: Iterable[tuple[str, dict[str, Any]]], crds: Path) -> list[str]:
    """Schema errors of the manifests, one line each; empty when all are valid."""
    errors = []
    for where, doc in docs:
        name = f"{where}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if doc.get("kind") in CRD_SCHEMAS:
            errors += [f"{name}: {e}" for e in _validate_cr(doc, crds)]
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{name}: no schema for {doc.get('apiVersion')} {doc.get('kind')}")
    return errors


def _validate_cr(doc: dict[str, Any], crds: Path) -> list[str]:
    schema = json.loads((crds / CRD_SCHEMAS[doc["kind"]]).read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
    if errors or doc["kind"] != "RayCluster":
        return errors
    spec = doc["spec"]
    groups = [("headGroupSpec", spec["headGroupSpec"])]
    groups += [(f"workerGroupSpecs.{g['groupName']}", g) for g in spec.get("workerGroupSpecs", [])]
    for where, group in groups:
        template = {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "template"},
            "template": group["template"],
        }
        try:
            kubernetes_validate.validate(template, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{where}.{'.'.join(map(str, e.path))}: {e.message}")
        if group.get("minReplicas", 0) > group.get("maxReplicas", group.get("minReplicas", 0)):
            errors.append(f"{where}: minReplicas > maxReplicas")
    return errors


def check_airflow_values(values: dict[str, Any]) -> list[str]:
    """The chart settings the DAGs and RBAC depend on."""
    env = {e["name"]: e.get("value") for e in values.get("env", [])}
    errors = []
    if values.get("executor") != "KubernetesExecutor":
        errors.append("executor must be KubernetesExecutor")
    if env.get("REPLICA_EXECUTION") != "kubernetes":
        errors.append("env REPLICA_EXECUTION must be 'kubernetes' (tasks run as pods)")
    for var in ("REPLICA_NAMESPACE", "REPLICA_IMAGE_CPU", "REPLICA_IMAGE_GPU"):
        if not env.get(f"AIRFLOW_VAR_{var}"):
            errors.append(f"env AIRFLOW_VAR_{var} is not set")
        elif "IMAGE" in var and "@sha256:" not in env[f"AIRFLOW_VAR_{var}"]:
            errors.append(f"env AIRFLOW_VAR_{var} must name the image by digest (@sha256:...)")
    if values.get("workers", {}).get("serviceAccount", {}).get("name") != "airflow-worker":
        errors.append("workers.serviceAccount.name must be airflow-worker (RoleBinding subject)")
    if values.get("dags", {}).get("gitSync", {}).get("subPath") != "dags":
        errors.append("dags.gitSync.subPath must be dags")
    return errors


def render_chart(root: Path, out: Path) -> dict[str, str]:
    """Lint the chart strictly and render it with the CI values into ``out`` (one file per
    template); raises RuntimeError with Helm's messages when either fails."""
    import helm_python as helm

    chart_dir = root / "helm" / "replica"
    values = yaml.safe_load((root / "helm" / "ci-values.yaml").read_text())
    lint = helm.lint(str(chart_dir), values, strict=True, kube_version=f"v{K8S_VERSION}")
    problems = lint["errors"] + [m for m in lint["messages"] if m["severity"] > 1]
    if problems:
        raise RuntimeError(f"helm lint {chart_dir}: {problems}")
    try:
        rendered = helm.Chart.load(str(chart_dir)).render(
            values, name="replica", namespace="replica", is_install=True
        )
    except helm.HelmError as e:
        raise RuntimeError(f"helm render {chart_dir}: {e}") from e
    shutil.rmtree(out, ignore_errors=True)
    for template, text in rendered.items():
        if template.endswith((".yaml", ".yml")) and text.strip():
            path = out / template.replace("/", "_")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return rendered


def rendered_dir(root: Path) -> Path:
    """Where the chart of ``root`` is rendered (a copy of infra/ renders beside itself)."""
    default = root.resolve() == (REPO / "infra").resolve()
    return BUILD / "chart" if default else root.parent / "build-infra" / "chart"


def check_helm(root: Path) -> list[str]:
    try:
        render_chart(root, rendered_dir(root))
    except RuntimeError as e:
        return [str(e)]
    return []


def manifests(root: Path, pods_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every object that would reach the cluster: manifests, the chart as rendered, the pods."""
    files = [*(root / "k8s").glob("*.yaml"), *(root / "k8s" / "system").glob("*.yaml")]
    chart = rendered_dir(root)
    render_chart(root, chart)
    pods = sorted(pods_dir.glob("*.yaml"))
    if not pods:
        raise RuntimeError(f"no rendered pods in {pods_dir}: run infra/render_pods.py first")
    return load_docs([*files, *chart.glob("*.yaml"), *pods])


def check_k8s(root: Path, pods_dir: Path) -> list[str]:
    try:
        errors = validate_k8s(manifests(root, pods_dir), root / "k8s" / "crds")
    except RuntimeError as e:
        return [str(e)]
    values = yaml.safe_load((root / "airflow" / "values.yaml").read_text())
    return errors + [f"airflow/values.yaml: {e}" for e in check_airflow_values(values)]


def check_pss(root: Path, pods_dir: Path) -> list[str]:
    """Every pod of every workload outside kube-system meets the restricted profile."""
    try:
        docs = manifests(root, pods_dir)
    except RuntimeError as e:
        return [str(e)]
    errors, pods = [], 0
    for where, doc in docs:
        if not any(pod_specs(doc)):
            continue
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["metadata"].get("namespace") in SYSTEM_NAMESPACES:
            print(f"     pss: {name} in {doc['metadata']['namespace']} is exempt", flush=True)
            continue
        pods += 1
        errors += [f"{where}: {e}" for e in check_object(doc)]
    print(f"     pss: {pods} workloads checked against the restricted profile", flush=True)
    return errors + ([] if pods else ["no pods found to check"])


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd[:3])}: rc {done.returncode}\n{done.stdout}{done.stderr}")
    return done.stdout


def _mirror() -> Path:
    mirrors = [m for m in (os.environ.get("TF_PLUGIN_MIRROR"), *MIRRORS) if m]
    for base in mirrors:
        if list(Path(base).glob("registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*")):
            return Path(base)
    raise Skip(f"no hashicorp/aws provider mirror in {mirrors}")


def terraform_plan(module: Path, out: Path) -> dict[str, Any]:
    """fmt, init (mirror), validate and an offline plan of ``module``; the plan as JSON."""
    terraform = shutil.which("terraform")
    if terraform is None:
        raise Skip("terraform is not on PATH")
    mirror = _mirror()
    _run([terraform, "fmt", "-check", "-recursive", "-diff"], module)
    with tempfile.TemporaryDirectory(prefix="replica-tf-") as tmp:
        work = Path(tmp) / "module"
        ignore = shutil.ignore_patterns(".terraform*", "offline", "bootstrap")
        shutil.copytree(module, work, ignore=ignore)
        shutil.copy(module / "offline" / "provider_override.tf", work)
        rc = Path(tmp) / "terraformrc"
        rc.write_text(
            f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n'
            '    include = ["hashicorp/aws"]\n  }\n  direct {\n'
            '    exclude = ["hashicorp/aws"]\n  }\n}\n'
        )
        env = {**os.environ, "TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1"}
        env["CHECKPOINT_DISABLE"] = "1"
        _run([terraform, "init", "-backend=false", "-input=false"], work, env)
        _run([terraform, "validate"], work, env)
        shutil.copy(module / "offline" / "backend_override.tf", work)  # local state for the plan
        _run([terraform, "init", "-input=false", "-reconfigure"], work, env)
        tfvars = module / "offline" / "example.tfvars"
        _run([terraform, "plan", "-input=false", f"-var-file={tfvars}", "-out=plan.bin"], work, env)
        plan = json.loads(_run([terraform, "show", "-json", "plan.bin"], work, env))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plan, indent=1))
    return plan


def plan_policy(plan: dict[str, Any]) -> list[str]:
    """What the plan must create: a tainted GPU pool and locked-down buckets."""
    created = [
        rc for rc in plan.get("resource_changes", []) if rc["change"]["actions"] == ["create"]
    ]

    def after(kind: str) -> list[dict[str, Any]]:
        return [
            rc["change"]["after"] | {"_addr": rc["address"]} for rc in created if rc["type"] == kind
        ]

    errors = []
    groups = after("aws_eks_node_group")
    gpu = [g for g in groups if (g.get("labels") or {}).get("replica.io/node-pool") == "gpu"]
    if len(gpu) != 1:
        errors.append(f"{len(gpu)} EKS node groups labelled replica.io/node-pool=gpu, not 1")
    for g in gpu:
        if not g["instance_types"] or not all(
            t.startswith(GPU_FAMILIES) for t in g["instance_types"]
        ):
            errors.append(f"{g['_addr']}: instance types {g['instance_types']} are not GPU types")
        taints = [(t["key"], t["effect"]) for t in g.get("taint") or []]
        if ("nvidia.com/gpu", "NO_SCHEDULE") not in taints:
            errors.append(f"{g['_addr']}: no nvidia.com/gpu NO_SCHEDULE taint")
        ami = g.get("ami_type") or ""
        if "NVIDIA" not in ami and "GPU" not in ami:
            errors.append(f"{g['_addr']}: AMI type {g.get('ami_type')} has no GPU driver")
    if not [g for g in groups if g not in gpu]:
        errors.append("no CPU node group: every step but pairs and train would have no node")
    errors += _cluster_policy(after)
    buckets = {b["_addr"].split("[", 1)[1] for b in after("aws_s3_bucket")}
    blocks = ("block_public_acls", "block_public_policy", "ignore_public_acls")
    rules: dict[str, Callable[[dict[str, Any]], bool]] = {
        "aws_s3_bucket_public_access_block": lambda r: all(
            r[k] for k in (*blocks, "restrict_public_buckets")
        ),
        "aws_s3_bucket_versioning": lambda r: (
            r["versioning_configuration"][0]["status"] == "Enabled"
        ),
        "aws_s3_bucket_server_side_encryption_configuration": lambda r: (
            r["rule"][0]["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
        ),
    }
    for kind, ok in rules.items():
        good = {r["_addr"].split("[", 1)[1] for r in after(kind) if ok(r)}
        errors += [f"bucket [{b}: no compliant {kind}" for b in sorted(buckets - good)]
    return errors


def _cluster_policy(after: Callable[[str], list[dict[str, Any]]]) -> list[str]:
    """The cluster encrypts its secrets, the workspace file system is encrypted and mounted in
    every private subnet, and the workloads that reach AWS have their IRSA roles."""
    errors = []
    clusters = after("aws_eks_cluster")
    if len(clusters) != 1:
        errors.append(f"{len(clusters)} EKS clusters in the plan, not 1")
    for c in clusters:
        if not any("secrets" in e.get("resources", []) for e in c.get("encryption_config") or []):
            errors.append(f"{c['_addr']}: Kubernetes secrets are not KMS-encrypted")
        if "0.0.0.0/0" in (c["vpc_config"][0].get("public_access_cidrs") or []):
            errors.append(f"{c['_addr']}: the API endpoint is open to 0.0.0.0/0")
    if not after("aws_iam_openid_connect_provider"):
        errors.append("no OIDC provider: pods cannot assume IAM roles (IRSA)")
    filesystems = after("aws_efs_file_system")
    if len(filesystems) != 1 or not all(f["encrypted"] for f in filesystems):
        errors.append("the workspace needs exactly one encrypted EFS file system")
    subnets = [s for s in after("aws_subnet") if ".private[" in s["_addr"]]
    if len(after("aws_efs_mount_target")) != len(subnets):
        errors.append(
            f"EFS mount targets: {len(after('aws_efs_mount_target'))}, "
            f"private subnets: {len(subnets)}"
        )
    # (their trust policies name the OIDC issuer, unknown until apply: iam.tf is reviewed)
    roles = {r["_addr"] for r in after("aws_iam_role") if ".irsa[" in r["_addr"]}
    for workload in ("steps", "mlflow", "efs_csi"):
        if f'aws_iam_role.irsa["{workload}"]' not in roles:
            errors.append(f"no IRSA role for {workload}")
    return errors


def terraform_validate(module: Path) -> None:
    """``init -backend=false`` and ``validate`` of a module (the state bootstrap)."""
    terraform = shutil.which("terraform")
    if terraform is None:
        raise Skip("terraform is not on PATH")
    mirror = _mirror()
    with tempfile.TemporaryDirectory(prefix="replica-tf-") as tmp:
        work = Path(tmp) / "module"
        shutil.copytree(module, work, ignore=shutil.ignore_patterns(".terraform*"))
        rc = Path(tmp) / "terraformrc"
        rc.write_text(
            f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n'
            '    include = ["hashicorp/aws"]\n  }\n  direct {\n'
            '    exclude = ["hashicorp/aws"]\n  }\n}\n'
        )
        env = {**os.environ, "TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1"}
        env["CHECKPOINT_DISABLE"] = "1"
        _run([terraform, "init", "-backend=false", "-input=false"], work, env)
        _run([terraform, "validate"], work, env)


def check_terraform(root: Path, out: Path) -> list[str]:
    try:
        plan = terraform_plan(root / "terraform", out)
        terraform_validate(root / "terraform" / "bootstrap")
    except RuntimeError as e:
        return [str(e)]
    return plan_policy(plan)


def check_checkov(root: Path) -> list[str]:
    try:
        render_chart(root, rendered_dir(root))
    except RuntimeError as e:
        return [str(e)]
    checkov = str(BIN / "checkov")
    base = [
        checkov,
        "--skip-download",
        "--quiet",
        "--compact",
        "--config-file",
        str(root / ".checkov.yaml"),
    ]
    targets = [
        ["-d", str(root / "k8s"), "--framework", "kubernetes"],
        ["-d", str(rendered_dir(root)), "--framework", "kubernetes"],
        ["-d", str(root / "terraform"), "--framework", "terraform"],
        ["-f", str(REPO / "containers" / "Dockerfile"), "--framework", "dockerfile"],
    ]
    errors = []
    for target in targets:
        done = subprocess.run(base + target, capture_output=True, text=True)
        if done.returncode:
            errors.append(f"checkov {target[-1]}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
    return errors


def check_hadolint() -> list[str]:
    done = subprocess.run(
        [str(BIN / "hadolint"), str(REPO / "containers" / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    return [done.stdout + done.stderr] if done.returncode else []


def check_workflows() -> list[str]:
    """GitHub workflow files: schema (vendored, offline) and zizmor's offline audits."""
    files = sorted((REPO / ".github" / "workflows").glob("*.yml"))
    if not files:
        return ["no workflow files in .github/workflows"]
    errors = []
    schema = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    for cmd in (
        [*schema, *map(str, files)],
        [str(BIN / "zizmor"), "--offline", "--no-progress", *map(str, files)],
    ):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            errors.append(f"{Path(cmd[0]).name}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "infra")
    parser.add_argument("--only", default="helm,k8s,pss,terraform,checkov,hadolint,workflows")
    parser.add_argument("--plan", type=Path, default=BUILD / "plan.json")
    parser.add_argument("--pods", type=Path, default=BUILD / "pods", help="render_pods.py output")
    args = parser.parse_args(argv)
    checks: dict[str, Callable[[], list[str]]] = {
        "helm": lambda: check_helm(args.root),
        "k8s": lambda: check_k8s(args.root, args.pods),
        "pss": lambda: check_pss(args.root, args.pods),
        "terraform": lambda: check_terraform(args.root, args.plan),
        "checkov": lambda: check_checkov(args.root),
        "hadolint": check_hadolint,
        "workflows": check_workflows,
    }
    failed = False
    for name in args.only.split(","):
        try:
            errors = checks[name]()
        except Skip as why:
            print(f"SKIPPED {name}: {why} -- these checks did NOT run", flush=True)
            continue
        print(f"{'FAIL' if errors else 'ok  '} {name}", flush=True)
        for error in errors:
            print(f"  {error}", flush=True)
        failed |= bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
