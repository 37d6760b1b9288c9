"""``infra/pss.py`` implements the restricted Pod Security Standard: a compliant pod passes, and
each control fails a pod that breaks it (or lacks a field it requires), naming the control."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from infra.pss import check_object, check_pod

GOOD: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "main",
            "image": "img@sha256:" + "0" * 64,
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
            "ports": [{"containerPort": 5000}],
        }
    ],
    "initContainers": [
        {
            "name": "init",
            "image": "img",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            },
        }
    ],
    "volumes": [
        {"name": "ws", "persistentVolumeClaim": {"claimName": "w"}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "s", "secret": {"secretName": "x"}},
        {"name": "p", "projected": {"sources": []}},
    ],
}


def _pod(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    spec = copy.deepcopy(GOOD)
    edit(spec)
    return spec


def _main(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["containers"][0]["securityContext"]


def test_a_compliant_pod_passes() -> None:
    assert check_pod(GOOD) == []


MISSING_FIELD = {
    # a field the restricted profile requires, dropped from a compliant pod
    "runAsNonRoot": lambda s: s["securityContext"].pop("runAsNonRoot"),
    "seccompProfile": lambda s: s["securityContext"].pop("seccompProfile"),
    "allowPrivilegeEscalation": lambda s: _main(s).pop("allowPrivilegeEscalation"),
    "capabilities.drop": lambda s: _main(s)["capabilities"].pop("drop"),
    "securityContext": lambda s: s["initContainers"][0].pop("securityContext"),
}


@pytest.mark.parametrize("field", sorted(MISSING_FIELD))
def test_a_pod_missing_any_required_field_fails(field: str) -> None:
    assert check_pod(_pod(MISSING_FIELD[field])), f"a pod without {field} passed"


BROKEN = {
    "HostProcess": lambda s: _main(s).update(windowsOptions={"hostProcess": True}),
    "Host Namespaces": lambda s: s.update(hostNetwork=True),
    "Privileged Containers": lambda s: _main(s).update(privileged=True),
    "Capabilities": lambda s: _main(s)["capabilities"].update(add=["SYS_ADMIN"]),
    "HostPath Volumes": lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "Host Ports": lambda s: s["containers"][0]["ports"][0].update(hostPort=80),
    "AppArmor": lambda s: _main(s).update(appArmorProfile={"type": "Unconfined"}),
    "SELinux": lambda s: s["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
    "/proc Mount Type": lambda s: _main(s).update(procMount="Unmasked"),
    "Seccomp": lambda s: _main(s).update(seccompProfile={"type": "Unconfined"}),
    "Sysctls": lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax"}]),
    "Volume Types": lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x"}}),
    "Privilege Escalation": lambda s: _main(s).update(allowPrivilegeEscalation=True),
    "Running as Non-root": lambda s: _main(s).update(runAsNonRoot=False),
    "Running as Non-root user": lambda s: _main(s).update(runAsUser=0),
}


@pytest.mark.parametrize("control", sorted(BROKEN))
def test_each_control_fails_a_pod_that_breaks_it(control: str) -> None:
    violations = check_pod(_pod(BROKEN[control]))
    assert control in {v.control for v in violations}, violations


def test_container_level_settings_satisfy_the_profile_without_pod_level_ones() -> None:
    def per_container(s: dict[str, Any]) -> None:
        s.pop("securityContext")
        for c in s["containers"] + s["initContainers"]:
            c["securityContext"] |= {"runAsNonRoot": True, "seccompProfile": {"type": "Localhost"}}

    assert check_pod(_pod(per_container)) == []


def test_baseline_capabilities_beyond_net_bind_service_are_still_refused() -> None:
    violations = check_pod(_pod(lambda s: _main(s)["capabilities"].update(add=["CHOWN"])))
    assert [v.control for v in violations] == ["Capabilities"]


def test_every_workload_kind_is_checked_by_its_pod_templates() -> None:
    template = {"metadata": {"labels": {"a": "b"}}, "spec": _pod(lambda s: s.update(hostPID=True))}
    docs = [
        {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": template}},
        {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": template}},
        {
            "kind": "CronJob",
            "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": template}}},
        },
        {
            "kind": "RayCluster",
            "metadata": {"name": "r"},
            "spec": {
                "headGroupSpec": {"template": template},
                "workerGroupSpecs": [{"groupName": "cpu", "template": template}],
            },
        },
        {"kind": "Pod", "metadata": {"name": "p"}, "spec": template["spec"]},
    ]
    found = [line for doc in docs for line in check_object(doc)]
    assert len(found) == 6 and all("spec.hostPID" in line for line in found)
    assert check_object({"kind": "Service", "metadata": {"name": "s"}, "spec": {}}) == []
