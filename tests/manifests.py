"""Manifest text the app, backup and face tests deploy, built from a few small pieces."""

from __future__ import annotations


def deployment(name: str = "web", *, replicas: int = 2, image: str = "nginx:1.27", extra: str = "") -> str:
    """A Deployment of one container; `extra` is more of the container spec, indented to match."""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: {image}
{extra}"""


def secret(name: str, **values: str) -> str:
    data = "".join(f"  {key}: {value}\n" for key, value in values.items())
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\nstringData:\n{data}"


def pvc(name: str = "data", *, storage_class: str = "standard", size: str = "1Gi") -> str:
    return f"""\
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
spec:
  storageClassName: {storage_class}
  accessModes: [ReadWriteOnce]
  resources:
    requests: {{storage: {size}}}
"""


def documents(*parts: str) -> str:
    """Several documents as one multi-document YAML text."""
    return "---\n".join(part if part.endswith("\n") else part + "\n" for part in parts)
