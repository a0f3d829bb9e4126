"""Checks on kubeconfigs pasted by users before kaas ever connects with them.

A kubeconfig is executable configuration: `exec` and `auth-provider` users run commands on the machine
that loads them, and `*-file`/path fields read its files. kaas loads users' kubeconfigs on its own server, so
only inline credentials are accepted, and the server address must not point at kaas's own network
neighbourhood (cloud metadata endpoints, link-local, and by default private and loopback addresses).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

FORBIDDEN_USER_KEYS = (
    "exec",
    "auth-provider",
    "tokenFile",
    "client-certificate",
    "client-key",
    "username",
    "password",
)
FORBIDDEN_CLUSTER_KEYS = ("certificate-authority", "proxy-url")


def problems(doc: object) -> list[str]:
    """What makes `doc` unsafe or unusable as a pasted kubeconfig (empty when it is fine)."""
    if not isinstance(doc, dict):
        return ["it is not a YAML mapping"]
    found = []
    for entry in doc.get("users") or []:
        user = entry.get("user") if isinstance(entry, dict) else None
        if isinstance(user, dict):
            found += [
                f"user field `{k}` is not accepted (use inline token or certificate data)"
                for k in FORBIDDEN_USER_KEYS
                if k in user
            ]
    clusters = doc.get("clusters") or []
    if not clusters:
        found.append("it names no cluster")
    for entry in clusters:
        cluster = entry.get("cluster") if isinstance(entry, dict) else None
        if not isinstance(cluster, dict):
            found.append("a cluster entry has no `cluster` mapping")
            continue
        found += [
            f"cluster field `{k}` is not accepted (use certificate-authority-data)"
            for k in FORBIDDEN_CLUSTER_KEYS
            if k in cluster
        ]
        if cluster.get("insecure-skip-tls-verify"):
            found.append("`insecure-skip-tls-verify` is not accepted: include certificate-authority-data")
    return found


def server_url(doc: dict) -> str:
    """The server address of the kubeconfig's current context (or its first cluster)."""
    clusters = {
        c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or [] if isinstance(c, dict)
    }
    contexts = {
        c.get("name"): c.get("context") or {} for c in doc.get("contexts") or [] if isinstance(c, dict)
    }
    current = contexts.get(doc.get("current-context")) or {}
    cluster = clusters.get(current.get("cluster")) or next(iter(clusters.values()), {})
    return str(cluster.get("server") or "")


def address_problem(url: str, *, allow_private: bool) -> str | None:
    """Why kaas must not connect to `url` (None when it may)."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        return "the server address must use https://"
    host = parts.hostname
    if not host:
        return "the server address has no host"
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return f"the host {host} cannot be resolved"
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
            return f"the address {ip} is not allowed (link-local, multicast or reserved)"
        if (ip.is_private or ip.is_loopback) and not allow_private:
            return f"the address {ip} is private; this kaas only registers clusters on public addresses"
    return None
