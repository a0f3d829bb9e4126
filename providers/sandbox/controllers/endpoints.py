"""Endpoints controller (and the load-balancer part of a cloud controller).

Every Service with a selector has an Endpoints object of the same name listing the IPs of the selected pods:
Ready pods under `addresses`, others under `notReadyAddresses` (all under `addresses` with
publishNotReadyAddresses). A named targetPort is resolved per pod from its containers' ports, so pods that
expose a name on different numbers end up in different subsets, as in a real cluster. Services of type
LoadBalancer get an ingress IP from 172.18.255.0/24 (what kind's cloud-provider-kind hands out).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import TYPE_CHECKING

from providers.sandbox.controllers import common as c

if TYPE_CHECKING:
    from providers.sandbox.controllers import ControllerContext

NAME = "endpoints"
INPUTS = {c.SERVICE.key, c.POD.key, c.ENDPOINTS.key, c.NAMESPACE.key}

LB_POOL = [str(ip) for ip in ipaddress.ip_network("172.18.255.0/24").hosts()] + [
    str(ip) for ip in ipaddress.ip_network("172.18.254.0/24").hosts()
]
_MANAGED_LABEL = "endpoints.kubernetes.io/managed-by"
_WATCHED = frozenset({c.SERVICE.key, c.POD.key, c.ENDPOINTS.key})


def run(ctx: ControllerContext) -> None:
    store = ctx.store
    since = ctx.scratch.get(NAME)
    ctx.scratch[NAME] = store.rv  # before our own writes, so they are looked at again next round
    try:
        _run(ctx, None if since is None else _changed_namespaces(store, since))
    except BaseException:
        ctx.scratch.pop(NAME, None)  # the next run looks at everything again
        raise


def _changed_namespaces(store, since: int) -> set[str] | None:
    """Namespaces whose Services, Pods or Endpoints changed after `since`; None: look at every namespace.

    Only these can need their Endpoints changed, so a write in one namespace costs what that namespace holds,
    not what the whole cluster holds (creating the 1,000th Service used to sync the other 999 twice).
    """
    events = store.events_since(since)
    if events is None:
        return None
    changed = set()
    for event in events:
        if event.rkey == c.NAMESPACE.key:
            changed.add(c.name_of(event.obj))
        elif event.rkey in _WATCHED:
            changed.add(c.ns_of(event.obj))
    return changed


def _listed(store, rkey: str, namespaces: set[str] | None) -> list[dict]:
    if namespaces is None:
        return store.list(rkey)
    return [obj for ns in sorted(namespaces) for obj in store.list(rkey, ns)]


def _run(ctx: ControllerContext, namespaces: set[str] | None) -> None:
    store = ctx.store
    services = _listed(store, c.SERVICE.key, namespaces)
    _load_balancers(ctx, services)
    by_ns: dict[str, list[dict]] = defaultdict(list)
    for pod in _listed(store, c.POD.key, namespaces):
        if c.pod_active(pod) and c.status_of(pod).get("podIP"):
            by_ns[c.ns_of(pod)].append(pod)
    selected = set()
    for svc in services:
        selector = c.spec_of(svc).get("selector")
        if not isinstance(selector, dict) or not selector or c.spec_of(svc).get("type") == "ExternalName":
            continue
        selected.add((c.ns_of(svc), c.name_of(svc)))
        pods = [p for p in by_ns.get(c.ns_of(svc), []) if c.map_selector_matches(selector, c.labels_of(p))]
        _sync(ctx, svc, pods)
    # Endpoints this controller manages whose Service is gone (or lost its selector) go away with it.
    for ep in _listed(store, c.ENDPOINTS.key, namespaces):
        if (
            c.labels_of(ep).get(_MANAGED_LABEL) == "endpoint-controller"
            and (c.ns_of(ep), c.name_of(ep)) not in selected
        ):
            c.remove_obj(store, c.ENDPOINTS, ep)


def _find_port(pod: dict, target: object, protocol: str) -> int | None:
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str):
        if target.isdigit():
            return int(target)
        for container in c.spec_of(pod).get("containers") or []:
            for port in (container or {}).get("ports") or []:
                if (
                    isinstance(port, dict)
                    and port.get("name") == target
                    and (port.get("protocol") or "TCP") == protocol
                ):
                    return port.get("containerPort")
    return None


def _address(pod: dict) -> dict:
    spec = c.spec_of(pod)
    addr: dict = {"ip": c.status_of(pod)["podIP"]}
    if spec.get("hostname") and spec.get("subdomain"):
        addr["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        addr["nodeName"] = spec["nodeName"]
    addr["targetRef"] = {
        "kind": "Pod",
        "namespace": c.ns_of(pod),
        "name": c.name_of(pod),
        "uid": c.uid_of(pod),
    }
    return addr


def _ip_key(addr: dict) -> tuple:
    try:
        return (0, int(ipaddress.ip_address(addr["ip"])))
    except ValueError:
        return (1, addr["ip"])


def _sync(ctx: ControllerContext, svc: dict, pods: list[dict]) -> None:
    store = ctx.store
    spec = c.spec_of(svc)
    publish_all = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple, dict[str, list[dict]]] = {}
    service_ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    for pod in pods:
        ports = []
        for sp in service_ports:
            protocol = sp.get("protocol") or "TCP"
            number = _find_port(pod, sp.get("targetPort", sp.get("port")), protocol)
            if number is None:
                continue
            port: dict = {"port": number, "protocol": protocol}
            if sp.get("name"):
                port = {"name": sp["name"], **port}
            if sp.get("appProtocol"):
                port["appProtocol"] = sp["appProtocol"]
            ports.append(port)
        if service_ports and not ports:
            continue
        key = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
        group = groups.setdefault(key, {"ports": ports, "ready": [], "not_ready": []})
        group["ready" if publish_all or c.pod_ready(pod) else "not_ready"].append(_address(pod))
    subsets = []
    for key in sorted(groups):
        group = groups[key]
        subset: dict = {}
        if group["ready"]:
            subset["addresses"] = sorted(group["ready"], key=_ip_key)
        if group["not_ready"]:
            subset["notReadyAddresses"] = sorted(group["not_ready"], key=_ip_key)
        if group["ports"]:
            subset["ports"] = sorted(group["ports"], key=lambda p: (p.get("name", ""), p["port"]))
        subsets.append(subset)
    labels = dict(c.labels_of(svc))
    labels[_MANAGED_LABEL] = "endpoint-controller"
    if spec.get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    current = store.get(c.ENDPOINTS.key, c.ns_of(svc), c.name_of(svc))
    if current is None:
        body: dict = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": c.name_of(svc), "namespace": c.ns_of(svc), "labels": labels},
        }
        if subsets:
            body["subsets"] = subsets
        c.create(store, c.ENDPOINTS, body)
        return
    new = {**current, "metadata": {**c.meta(current), "labels": {**c.labels_of(current), **labels}}}
    if subsets:
        new["subsets"] = subsets
    else:
        new.pop("subsets", None)
    c.write(store, c.ENDPOINTS, current, new)


def _load_balancers(ctx: ControllerContext, services: list[dict]) -> None:
    used: set[str] = set()
    if any(c.spec_of(svc).get("type") == "LoadBalancer" for svc in services):
        # Every Service of the cluster, not only those looked at: an IP is handed out once.
        for svc in ctx.store.list(c.SERVICE.key):
            for ing in ((c.status_of(svc).get("loadBalancer") or {}).get("ingress")) or []:
                if isinstance(ing, dict) and ing.get("ip"):
                    used.add(ing["ip"])
    for svc in services:
        is_lb = c.spec_of(svc).get("type") == "LoadBalancer"
        lb = c.status_of(svc).get("loadBalancer") or {}
        has = bool(lb.get("ingress"))
        if is_lb and not has:
            ip = next((x for x in LB_POOL if x not in used), None)
            if ip is None:
                continue
            used.add(ip)
            status = {**c.status_of(svc), "loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}
            c.write_status(ctx.store, c.SERVICE, svc, status)
        elif not is_lb and has:
            c.write_status(ctx.store, c.SERVICE, svc, {**c.status_of(svc), "loadBalancer": {}})
