"""A small wrapper around the `helm` binary for the `deploy` command: install or upgrade, inspect, uninstall.

Every call runs helm with a minimal environment whose HOME and HELM_*_HOME directories live under kaas's own
`work_dir`, so neither the operator's ~/.kube/config, $KUBECONFIG nor their helm repositories are ever used.
The cluster's kubeconfig (and any values) are written to 0600 files in a private directory that exists only
for the duration of the call. helm's failures are mapped onto `providers.kube.errors`:

- a chart or values that fail to render            -> InvalidManifest (with a hint)
- the API server can't be reached                  -> ClusterUnreachable (transient)
- anything else helm or the API server refuses     -> KubeError, whose message is helm's own words
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from providers.kube.errors import ClusterUnreachable, InvalidManifest, KubeError

log = logging.getLogger(__name__)

MAX_MESSAGE = 1500
"""helm's stderr is cut to this many characters: it ends up in a Slack message."""

RELEASE_NAME_MAX = 53
"""helm's own limit, which leaves room for suffixes on the objects a chart names after its release."""

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SET_KEY = re.compile(r"[A-Za-z0-9_.\[\]][A-Za-z0-9_.\[\]-]*")
_REPO_CHART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

_UNREACHABLE = (
    "connection refused",
    "connection reset by peer",
    "i/o timeout",
    "no such host",
    "tls handshake timeout",
    "the server is currently unable",
)
# Messages helm prints when a template or the values fail before anything is sent to the cluster.
_RENDER_FAILED = (
    "execution error at (",
    "parse error at (",
    "template: ",
    "yaml parse error on ",
    "error converting yaml to json",
    "values don't meet the specifications of the schema",
    "failed to parse values-",  # our values files are named values-N.yaml
    "failed parsing --set data",
)
_NOT_BUILDABLE = "unable to build kubernetes objects from release manifest"
_NOT_FOUND = "release: not found"

RENDER_HINT = "Fix the chart or its values; `helm template` shows the same error locally."
BUILD_HINT = (
    "The chart renders objects this cluster does not accept "
    "(a missing CustomResourceDefinition or an invalid field); `helm template` shows what it renders."
)


@dataclass(frozen=True)
class ChartRef:
    """Where a chart comes from: a local path, a chart `NAME` in the repository at `repo_url`, or `oci://…`."""

    chart: str
    repo_url: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class HelmRelease:
    """One revision of a release, as helm reports it (`chart` is `name-version`, like `helm list` shows)."""

    name: str
    namespace: str
    revision: int
    status: str
    chart: str
    app_version: str


class Helm:
    """Runs one helm binary for kaas; thread-safe, since every call gets its own temporary directory."""

    def __init__(self, binary: str | Path, *, work_dir: Path, timeout: float = 300):
        self._binary = str(binary)
        self._work_dir = work_dir
        self._timeout = timeout
        self._calls = work_dir / "calls"
        for path in (work_dir, self._calls):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)

    # -- public API -----------------------------------------------------------------------------------

    def upgrade_install(
        self,
        kubeconfig: str,
        *,
        release: str,
        namespace: str,
        chart: ChartRef,
        values_yaml: Sequence[str] = (),
        set_values: Sequence[str] = (),
        create_namespace: bool = True,
    ) -> HelmRelease:
        """Install `chart` as `release` in `namespace`, or upgrade it if it exists; the new revision.

        `values_yaml` are YAML documents passed as values files (the right-most wins), so they may hold
        secrets. `set_values` are `key=value` strings passed as `--set` on helm's command line, which other
        local users can read in the process list: use them only for non-secret values.

        helm does not wait for the rollout (kaas follows it itself), only for the chart's hooks.
        """
        _check_release(release)
        _check_namespace(namespace)
        _check_chart(chart)
        for item in set_values:
            _check_set(item)
        flags = [
            "--install",
            f"--namespace={namespace}",
            f"--timeout={self._helm_timeout()}",
            "--output=json",
        ]
        if create_namespace:
            flags.append("--create-namespace")
        if chart.repo_url:
            flags.append(f"--repo={chart.repo_url}")
        if chart.version:
            flags.append(f"--version={chart.version}")
        # One argv item per value: whatever a value contains, helm reads it as that flag's argument.
        flags += [f"--set={item}" for item in set_values]
        out = self._run(
            ["upgrade"], flags, [release, chart.chart], kubeconfig=kubeconfig, values_yaml=values_yaml
        )
        return _parse_release(out)

    def status(self, kubeconfig: str, *, release: str, namespace: str) -> HelmRelease | None:
        """The release's latest revision, whatever its state, or None when there is no such release."""
        _check_release(release)
        _check_namespace(namespace)
        # `helm list` rather than `helm status`: helm v4's status output no longer names the chart.
        out = self._run(
            ["list"],
            [
                f"--namespace={namespace}",
                f"--filter=^{release}$",
                # Every state a latest revision can be in (by default helm leaves pending ones out).
                *("--deployed", "--failed", "--pending", "--uninstalling"),
                "--output=json",
            ],
            [],
            kubeconfig=kubeconfig,
        )
        try:
            rows = [row for row in json.loads(out) if row.get("name") == release]
            if not rows:
                return None
            row = rows[0]
            return HelmRelease(
                name=str(row["name"]),
                namespace=str(row["namespace"]),
                revision=int(row["revision"]),
                status=str(row.get("status", "")),
                chart=str(row.get("chart", "")),
                app_version=str(row.get("app_version") or ""),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise KubeError("helm listed releases in a form kaas could not read") from None

    def manifest(self, kubeconfig: str, *, release: str, namespace: str) -> str:
        """The YAML helm rendered for the release's latest revision (every object, `---`-separated)."""
        _check_release(release)
        _check_namespace(namespace)
        try:
            return self._run(
                ["get", "manifest"], [f"--namespace={namespace}"], [release], kubeconfig=kubeconfig
            )
        except KubeError as e:
            if e.reason == "NotFound":
                raise KubeError(
                    f"there is no release {release!r} in namespace {namespace!r}",
                    status=404,
                    reason="NotFound",
                ) from None
            raise

    def uninstall(self, kubeconfig: str, *, release: str, namespace: str) -> bool:
        """Delete the release and the objects it made; False when there was no such release."""
        _check_release(release)
        _check_namespace(namespace)
        try:
            self._run(
                ["uninstall"],
                [f"--namespace={namespace}", f"--timeout={self._helm_timeout()}"],
                [release],
                kubeconfig=kubeconfig,
            )
        except KubeError as e:
            if e.reason == "NotFound":
                return False
            raise
        return True

    # -- running helm ---------------------------------------------------------------------------------

    def _helm_timeout(self) -> str:
        # helm's own limit (for hooks) ends before ours, so helm marks a stuck release as failed itself
        # instead of being killed and leaving it "pending", which would block every later upgrade.
        return f"{max(1, int(self._timeout * 0.8))}s"

    def _env(self) -> dict[str, str]:
        return {
            # PATH stays: kubeconfig exec credential plugins and helm plugins are looked up on it.
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(self._work_dir / "home"),
            "HELM_CACHE_HOME": str(self._work_dir / "cache"),
            "HELM_CONFIG_HOME": str(self._work_dir / "config"),
            "HELM_DATA_HOME": str(self._work_dir / "data"),
        }

    def _run(
        self,
        command: list[str],
        flags: list[str],
        args: list[str],
        *,
        kubeconfig: str,
        values_yaml: Sequence[str] = (),
    ) -> str:
        """Run `helm COMMAND… FLAGS… -- ARGS…`; its stdout, or the mapped error."""
        name = " ".join(command)
        call_dir = Path(tempfile.mkdtemp(prefix="call-", dir=self._calls))
        started = time.monotonic()
        try:
            config = _write_private(call_dir / "kubeconfig", kubeconfig)
            files = [
                _write_private(call_dir / f"values-{i}.yaml", doc) for i, doc in enumerate(values_yaml, 1)
            ]
            argv = [
                self._binary,
                *command,
                *flags,
                *(f"--values={f}" for f in files),
                f"--kubeconfig={config}",
                # Release and chart come after `--`, so even a name that slipped past checks is no flag.
                "--",
                *args,
            ]
            try:
                proc = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    timeout=self._timeout,
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
            except FileNotFoundError:
                raise KubeError(
                    f"the helm binary was not found at {self._binary}: install helm "
                    "or configure the path of the helm binary kaas should use"
                ) from None
            except PermissionError:
                raise KubeError(
                    f"{self._binary} can't be run (is it executable?): "
                    "configure the path of the helm binary kaas should use"
                ) from None
            except subprocess.TimeoutExpired:
                raise KubeError(
                    f"helm {name} did not finish within {self._timeout:g} s and was stopped"
                ) from None
            log.info("helm %s: exit %d after %.1f s", name, proc.returncode, time.monotonic() - started)
            if proc.returncode != 0:
                raise _error(_clean(proc.stderr, call_dir) or f"helm {name} exited with {proc.returncode}")
            return proc.stdout
        finally:
            shutil.rmtree(call_dir, ignore_errors=True)


# -- checks -------------------------------------------------------------------------------------------


def _check_release(release: str) -> None:
    if len(release) > RELEASE_NAME_MAX or not _DNS1123_LABEL.fullmatch(release):
        raise InvalidManifest(
            f"{release!r} is not a valid release name",
            hint=f"Use at most {RELEASE_NAME_MAX} lowercase letters, digits and '-', "
            "starting and ending with a letter or digit.",
        )


def _check_namespace(namespace: str) -> None:
    if len(namespace) > 63 or not _DNS1123_LABEL.fullmatch(namespace):
        raise InvalidManifest(
            f"{namespace!r} is not a valid namespace name",
            hint="Use at most 63 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit.",
        )


def _check_chart(chart: ChartRef) -> None:
    if not chart.chart or chart.chart.startswith("-") or any(c in chart.chart for c in "\0\n\r"):
        raise InvalidManifest(
            f"{chart.chart!r} is not a chart reference", hint="Give a chart path, name or oci:// URL."
        )
    if chart.repo_url is not None:
        if not chart.repo_url.startswith(("https://", "http://")):
            raise InvalidManifest(
                f"{chart.repo_url!r} is not a chart repository URL",
                hint="Give the repository's http(s):// URL.",
            )
        if not _REPO_CHART_NAME.fullmatch(chart.chart):
            raise InvalidManifest(
                f"{chart.chart!r} is not a chart name",
                hint="With a repository URL, give the chart's bare name.",
            )


def _check_set(item: str) -> None:
    key, sep, _ = item.partition("=")
    if not sep or not _SET_KEY.fullmatch(key):
        raise InvalidManifest(
            f"{item!r} is not a key=value setting",
            hint="Write each setting as key=value; keys are letters, digits and . _ - [ ] "
            "(e.g. image.tag=1.2).",
        )


# -- output and errors ---------------------------------------------------------------------------------


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _clean(stderr: str, call_dir: Path) -> str:
    """helm's message without its `Error: ` prefixes and the private paths of this call, cut to size."""
    text = stderr
    for prefix in {str(call_dir), os.path.realpath(call_dir)}:
        text = text.replace(prefix + os.sep, "")
    text = re.sub(r"(?m)^Error: ", "", text).strip()
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1].rstrip() + "…"
    return text


def _error(message: str) -> Exception:
    """The error for helm's (cleaned) message: render failures and unreachable clusters first."""
    lowered = message.lower()
    if _NOT_FOUND in lowered:
        return KubeError(message, status=404, reason="NotFound")
    if any(marker in lowered for marker in _RENDER_FAILED):
        return InvalidManifest(message, hint=RENDER_HINT)
    if any(marker in lowered for marker in _UNREACHABLE):
        return ClusterUnreachable(message, provider="kubernetes")
    if _NOT_BUILDABLE in lowered:
        return InvalidManifest(message, hint=BUILD_HINT)
    return KubeError(message)


def _parse_release(out: str) -> HelmRelease:
    try:
        data = json.loads(out)
        meta = data.get("chart", {}).get("metadata", {})
        return HelmRelease(
            name=str(data["name"]),
            namespace=str(data["namespace"]),
            revision=int(data["version"]),
            status=str(data.get("info", {}).get("status", "")),
            chart=f"{meta.get('name', '')}-{meta.get('version', '')}",
            app_version=str(meta.get("appVersion") or ""),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        # The output also holds the release's values, which may be secret: it is not quoted.
        raise KubeError("helm printed a release kaas could not read") from None
