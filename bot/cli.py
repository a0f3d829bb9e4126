"""The `kaas` command line.

Today it offers `kaas sandbox`: start the local simulated Kubernetes control plane, make sure a demo cluster
exists, and print how to reach it with kubectl. The Slack faces (`kaas serve`, `kaas shell`) join it later.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from providers.sandbox import versions
from providers.sandbox.sandbox import Sandbox, SandboxError, SandboxSettings


def kaas_home() -> Path:
    """The state directory: `KAAS_HOME`, default `~/.kaas`."""
    return Path(os.environ.get("KAAS_HOME") or Path.home() / ".kaas").expanduser()


def write_private(path: Path, text: str) -> None:
    """Write a credential file readable by its owner only (created 0600 before any byte is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def _sandbox(args: argparse.Namespace) -> int:
    home = kaas_home()
    # Handlers go in first: a supervisor may signal as soon as it reads the banner below.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = Sandbox(SandboxSettings(state_dir=home / "sandbox", port=args.port)).start()
    try:
        existing = [c for c in sandbox.list_clusters() if c.name == args.cluster]
        info = (
            existing[0]
            if existing
            else sandbox.create_cluster(args.cluster, nodes=args.nodes, version=args.version)
        )
    except SandboxError as e:
        sandbox.close()
        print(f"kaas: {e}", file=sys.stderr)
        return 2
    kubeconfig = home / "kubeconfigs" / f"{info.name}.yaml"
    write_private(kubeconfig, sandbox.kubeconfig(info.id))
    print(f"sandbox serving {len(sandbox.list_clusters())} cluster(s) at {sandbox.url}")
    print(f"cluster {info.name}: Kubernetes {info.version}, {info.node_count} nodes, {info.endpoint}")
    print("kubeconfig (mode 0600):")
    print(kubeconfig)
    print(f"try: kubectl --kubeconfig {kubeconfig} get nodes")
    print("press Ctrl-C to stop (state is kept under", home / "sandbox", ")", flush=True)
    stop.wait()
    sandbox.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kaas", description="Kubernetes-as-a-Service from Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    sb = sub.add_parser("sandbox", help="run the local simulated Kubernetes control plane")
    sb.add_argument("--port", type=int, default=0, help="HTTPS port (default: remembered, else any free)")
    sb.add_argument("--cluster", default="demo", help="name of the cluster to create if missing")
    sb.add_argument("--nodes", type=int, default=3, help="node count of a new cluster")
    sb.add_argument(
        "--version",
        default=versions.DEFAULT_VERSION,
        choices=versions.supported(),
        help="Kubernetes version of a new cluster",
    )
    sb.set_defaults(func=_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `kaas` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
