"""The Kubernetes Pod Security Standards, ``restricted`` profile (which includes ``baseline``).

A faithful, offline reading of the policy as Pod Security Admission enforces it at
``restricted:latest`` (Kubernetes 1.30 docs, "Pod Security Standards"): every control below is one
function that returns the violations of one pod spec. ``check_object`` finds the pod specs in any
workload object (Pod, PodTemplate, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob and
the RayCluster's head and worker templates) and checks each. Standard library only, so both the
project venv (Airflow and KFP pods) and the infra venv (manifests, the Helm chart) can import it.

Usage: ``python infra/pss.py FILE.yaml ...`` prints one line per violation and exits 1 if any.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Spec = dict[str, Any]

# Baseline: capabilities a container may add (the container runtime's default set).
BASELINE_CAPABILITIES = frozenset(
    (
        *("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD"),
        *("NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"),
    )
)
# Baseline: the namespaced sysctls known to be safe.
SAFE_SYSCTLS = frozenset(
    (
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    )
)
SELINUX_TYPES = frozenset(
    ("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")
)
# Restricted: the only volume sources allowed.
RESTRICTED_VOLUMES = frozenset(
    (
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    )
)
SECCOMP_ALLOWED = frozenset(("RuntimeDefault", "Localhost"))
APPARMOR_ALLOWED = frozenset(("RuntimeDefault", "Localhost"))
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class Violation:
    """One broken control: the control's name, the field and why."""

    control: str
    field: str
    detail: str

    def __str__(self) -> str:
        return f"{self.control}: {self.field} {self.detail}"


def containers(spec: Spec) -> Iterator[tuple[str, Spec]]:
    """Every container of the pod spec with its field path (init, regular and ephemeral)."""
    for kind in CONTAINER_LISTS:
        for i, container in enumerate(spec.get(kind) or []):
            yield f"spec.{kind}[{i}]({container.get('name', '?')})", container


def _ctx(container: Spec) -> Spec:
    return container.get("securityContext") or {}


# -- baseline -------------------------------------------------------------------------------


def host_process(spec: Spec, meta: Spec) -> list[Violation]:
    out = []
    if ((spec.get("securityContext") or {}).get("windowsOptions") or {}).get("hostProcess"):
        field = "spec.securityContext.windowsOptions.hostProcess"
        out.append(Violation("HostProcess", field, "is true"))
    for where, c in containers(spec):
        if (_ctx(c).get("windowsOptions") or {}).get("hostProcess"):
            out.append(Violation("HostProcess", f"{where}.windowsOptions.hostProcess", "is true"))
    return out


def host_namespaces(spec: Spec, meta: Spec) -> list[Violation]:
    return [
        Violation("Host Namespaces", f"spec.{key}", "is true")
        for key in ("hostNetwork", "hostPID", "hostIPC")
        if spec.get(key)
    ]


def privileged(spec: Spec, meta: Spec) -> list[Violation]:
    return [
        Violation("Privileged Containers", f"{where}.securityContext.privileged", "is true")
        for where, c in containers(spec)
        if _ctx(c).get("privileged")
    ]


def baseline_capabilities(spec: Spec, meta: Spec) -> list[Violation]:
    out = []
    for where, c in containers(spec):
        added = set((_ctx(c).get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            bad = sorted(added - BASELINE_CAPABILITIES)
            out.append(Violation("Capabilities", f"{where}.capabilities.add", f"has {bad}"))
    return out


def host_path(spec: Spec, meta: Spec) -> list[Violation]:
    return [
        Violation("HostPath Volumes", f"spec.volumes[{i}]({v.get('name')}).hostPath", "is set")
        for i, v in enumerate(spec.get("volumes") or [])
        if "hostPath" in v
    ]


def host_ports(spec: Spec, meta: Spec) -> list[Violation]:
    return [
        Violation("Host Ports", f"{where}.ports[{j}].hostPort", f"is {p['hostPort']}")
        for where, c in containers(spec)
        for j, p in enumerate(c.get("ports") or [])
        if p.get("hostPort")
    ]


def apparmor(spec: Spec, meta: Spec) -> list[Violation]:
    out = []
    profiles = [("spec.securityContext", spec.get("securityContext") or {})]
    profiles += [(f"{where}.securityContext", _ctx(c)) for where, c in containers(spec)]
    for where, ctx in profiles:
        kind = (ctx.get("appArmorProfile") or {}).get("type")
        if kind is not None and kind not in APPARMOR_ALLOWED:
            out.append(Violation("AppArmor", f"{where}.appArmorProfile.type", f"is {kind!r}"))
    for key, value in (meta.get("annotations") or {}).items():
        allowed = value == "runtime/default" or str(value).startswith("localhost/")
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not allowed:
            out.append(Violation("AppArmor", f"metadata.annotations[{key}]", f"is {value!r}"))
    return out


def selinux(spec: Spec, meta: Spec) -> list[Violation]:
    out = []
    contexts = [("spec.securityContext", spec.get("securityContext") or {})]
    contexts += [(f"{where}.securityContext", _ctx(c)) for where, c in containers(spec)]
    for where, ctx in contexts:
        options = ctx.get("seLinuxOptions") or {}
        if options.get("type", "") not in SELINUX_TYPES:
            out.append(Violation("SELinux", f"{where}.seLinuxOptions.type", "is not allowed"))
        for key in ("user", "role"):
            if options.get(key):
                out.append(Violation("SELinux", f"{where}.seLinuxOptions.{key}", "is set"))
    return out


def proc_mount(spec: Spec, meta: Spec) -> list[Violation]:
    return [
        Violation("/proc Mount Type", f"{where}.securityContext.procMount", "is not Default")
        for where, c in containers(spec)
        if _ctx(c).get("procMount", "Default") != "Default"
    ]


def baseline_seccomp(spec: Spec, meta: Spec) -> list[Violation]:
    out = []
    contexts = [("spec.securityContext", spec.get("securityContext") or {})]
    contexts += [(f"{where}.securityContext", _ctx(c)) for where, c in containers(spec)]
    for where, ctx in contexts:
        if (ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
            out.append(Violation("Seccomp", f"{where}.seccompProfile.type", "is Unconfined"))
    return out


def sysctls(spec: Spec, meta: Spec) -> list[Violation]:
    return [
        Violation("Sysctls", f"spec.securityContext.sysctls[{i}]", f"{s.get('name')!r} is unsafe")
        for i, s in enumerate((spec.get("securityContext") or {}).get("sysctls") or [])
        if s.get("name") not in SAFE_SYSCTLS
    ]


# -- restricted -----------------------------------------------------------------------------


def volume_types(spec: Spec, meta: Spec) -> list[Violation]:
    out = []
    for i, volume in enumerate(spec.get("volumes") or []):
        sources = set(volume) - {"name"}
        if sources - RESTRICTED_VOLUMES:
            bad = sorted(sources - RESTRICTED_VOLUMES)
            out.append(
                Violation("Volume Types", f"spec.volumes[{i}]({volume.get('name')})", f"is {bad}")
            )
    return out


def privilege_escalation(spec: Spec, meta: Spec) -> list[Violation]:
    return [
        Violation(
            "Privilege Escalation",
            f"{where}.securityContext.allowPrivilegeEscalation",
            "must be false",
        )
        for where, c in containers(spec)
        if _ctx(c).get("allowPrivilegeEscalation") is not False
    ]


def run_as_non_root(spec: Spec, meta: Spec) -> list[Violation]:
    pod = (spec.get("securityContext") or {}).get("runAsNonRoot")
    out = []
    if pod is False:
        out.append(Violation("Running as Non-root", "spec.securityContext.runAsNonRoot", "false"))
    for where, c in containers(spec):
        own = _ctx(c).get("runAsNonRoot")
        if own is False or (own is None and pod is not True):
            out.append(
                Violation(
                    "Running as Non-root",
                    f"{where}.securityContext.runAsNonRoot",
                    "must be true (here or in spec.securityContext)",
                )
            )
    return out


def run_as_user(spec: Spec, meta: Spec) -> list[Violation]:
    out = []
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        out.append(Violation("Running as Non-root user", "spec.securityContext.runAsUser", "is 0"))
    for where, c in containers(spec):
        if _ctx(c).get("runAsUser") == 0:
            out.append(
                Violation("Running as Non-root user", f"{where}.securityContext.runAsUser", "is 0")
            )
    return out


def restricted_seccomp(spec: Spec, meta: Spec) -> list[Violation]:
    pod = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    out = []
    if pod is not None and pod not in SECCOMP_ALLOWED:
        out.append(Violation("Seccomp", "spec.securityContext.seccompProfile.type", f"is {pod}"))
    for where, c in containers(spec):
        own = (_ctx(c).get("seccompProfile") or {}).get("type")
        if own is None and pod is None:
            out.append(
                Violation(
                    "Seccomp",
                    f"{where}.securityContext.seccompProfile.type",
                    "must be RuntimeDefault or Localhost (here or in spec.securityContext)",
                )
            )
        elif own is not None and own not in SECCOMP_ALLOWED:
            out.append(Violation("Seccomp", f"{where}.seccompProfile.type", f"is {own}"))
    return out


def restricted_capabilities(spec: Spec, meta: Spec) -> list[Violation]:
    out = []
    for where, c in containers(spec):
        caps = _ctx(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(Violation("Capabilities", f"{where}.capabilities.drop", "must hold ALL"))
        extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            out.append(
                Violation("Capabilities", f"{where}.capabilities.add", f"has {sorted(extra)}")
            )
    return out


BASELINE: tuple[Callable[[Spec, Spec], list[Violation]], ...] = (
    host_process,
    host_namespaces,
    privileged,
    baseline_capabilities,
    host_path,
    host_ports,
    apparmor,
    selinux,
    proc_mount,
    baseline_seccomp,
    sysctls,
)
RESTRICTED = (
    *BASELINE,
    volume_types,
    privilege_escalation,
    run_as_non_root,
    run_as_user,
    restricted_seccomp,
    restricted_capabilities,
)


def check_pod(spec: Spec, meta: Spec | None = None) -> list[Violation]:
    """Every restricted-profile violation of one pod spec (``meta``: the pod's metadata)."""
    return [v for control in RESTRICTED for v in control(spec, meta or {})]


def pod_specs(doc: Spec) -> Iterator[tuple[str, Spec, Spec]]:
    """``(where, pod spec, pod metadata)`` of every pod template a workload object holds."""
    kind = doc.get("kind")
    if kind == "Pod":
        yield "", doc.get("spec") or {}, doc.get("metadata") or {}
    elif kind == "PodTemplate" or kind in {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "ReplicationController",
    }:
        body = doc if kind == "PodTemplate" else doc.get("spec") or {}
        template = body.get("template") or {}
        yield ".template", template.get("spec") or {}, template.get("metadata") or {}
    elif kind == "CronJob":
        template = ((doc.get("spec") or {}).get("jobTemplate") or {}).get("spec", {})
        template = template.get("template") or {}
        yield ".jobTemplate.template", template.get("spec") or {}, template.get("metadata") or {}
    elif kind == "RayCluster":
        spec = doc.get("spec") or {}
        groups = [("headGroupSpec", spec.get("headGroupSpec") or {})]
        groups += [
            (f"workerGroupSpecs.{g.get('groupName')}", g) for g in spec.get("workerGroupSpecs", [])
        ]
        for where, group in groups:
            template = group.get("template") or {}
            yield f".{where}", template.get("spec") or {}, template.get("metadata") or {}


def check_object(doc: Spec) -> list[str]:
    """The violations of every pod a workload object would start, one line each."""
    name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
    return [
        f"{name}{where}: {violation}"
        for where, spec, meta in pod_specs(doc)
        for violation in check_pod(spec, meta)
    ]


def main(argv: list[str]) -> int:
    import yaml

    errors = []
    for path in argv:
        with open(path) as fh:
            for doc in yaml.safe_load_all(fh):
                errors += [f"{path}: {e}" for e in check_object(doc or {})]
    print("\n".join(errors) or "ok: every pod meets the restricted Pod Security Standard")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
