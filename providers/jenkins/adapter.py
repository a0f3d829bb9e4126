"""The jenkins provider: clusters made by a team's own installer (kubespray, …) behind Jenkins jobs.

kaas triggers the profile's create job with parameters (CLUSTER_NAME, NODE_COUNT, K8S_VERSION, MACHINE_TYPE
and KAAS_BUILD_ID, names configurable) and follows the build; the job archives the cluster's kubeconfig as an
artifact. A cluster's ref is "<create job>#<build number>".

Resuming: a handle records the job, the queue item number and the KAAS_BUILD_ID kaas generated (the request id
for creates). `poll` turns the queue item into a build number on every call; Jenkins forgets queue items some
minutes after they leave the queue, so when the item is gone `poll` finds the build by scanning the job's
recent builds for the KAAS_BUILD_ID parameter. `start_create` searches the queue and those builds the same way
before triggering, so a retried create with the same request id follows the existing build.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import jenkins
import requests
import yaml

from providers import kubeconfig as checks
from providers.base import ClusterDescription, ClusterSpec, Progress
from providers.errors import (
    ClusterNotFound,
    InvalidClusterRequest,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from providers.jenkins.settings import KIND, JenkinsSettings, parse_settings, read_token

CONSOLE_TAIL_LINES = 20
MAX_ARTIFACT_BYTES = 256 * 1024
_OPS = ("create", "delete", "scale")


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses YAML aliases (the building block of "billion laughs" bombs)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not accepted", event.start_mark)
        return super().compose_node(parent, index)


def _response_of(exc: BaseException) -> requests.Response | None:
    """The HTTP response behind an exception python-jenkins raised (it re-raises inside `except`)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, requests.HTTPError) and e.response is not None:
            return e.response
        e = e.__cause__ or e.__context__
    return None


def _in_chain(exc: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, types):
            return True
        e = e.__cause__ or e.__context__
    return False


def _jenkins_words(text: str, limit: int = 400) -> str:
    """Jenkins' own message from an error body (often an HTML page), as one short line."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text or "")
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def _params(doc: Mapping) -> dict[str, str]:
    """Build or queue-item parameters from its `actions`."""
    found: dict[str, str] = {}
    for action in doc.get("actions") or []:
        if isinstance(action, dict):
            for p in action.get("parameters") or []:
                if isinstance(p, dict) and isinstance(p.get("name"), str):
                    found[p["name"]] = "" if p.get("value") is None else str(p.get("value"))
    return found


class _Missing(Exception):
    """Jenkins answered 404 (used internally where absence is an answer)."""


class JenkinsProvider:
    """Provider adapter driving Jenkins jobs through python-jenkins."""

    kind = KIND

    def __init__(self, settings: JenkinsSettings, token: str):
        self.settings = settings
        self.server = jenkins.Jenkins(
            settings.url, username=settings.user, password=token, timeout=settings.timeout_seconds
        )
        self._resolved: dict[tuple[str, str], int] = {}
        """(job, KAAS_BUILD_ID) → build number, learnt while polling (an optimisation, never required)."""

    @classmethod
    def from_profile(cls, settings: Mapping, *, env: Mapping[str, str]) -> JenkinsProvider:
        parsed = parse_settings(settings)
        return cls(parsed, read_token(parsed, env))

    def close(self) -> None:
        """Close pooled HTTP connections (python-jenkins keeps a requests session)."""
        session = getattr(self.server, "_session", None)
        if session is not None:
            session.close()

    # -- calling Jenkins -----------------------------------------------------------------------------

    def _error(self, e: BaseException, what: str) -> ProviderError:
        if _in_chain(e, (jenkins.TimeoutException, requests.Timeout)):
            return TransientProviderError(f"Jenkins did not answer in time while {what}", provider=KIND)
        resp = _response_of(e)
        if resp is not None:
            words = _jenkins_words(resp.text)
            msg = f"Jenkins answered {resp.status_code} {resp.reason} while {what}" + (
                f": {words}" if words else ""
            )
            if resp.status_code == 429 or resp.status_code >= 500:
                retry_after = resp.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    msg += f" (retry after {retry_after} s)"
                return TransientProviderError(
                    msg, provider=KIND, retry_after=float(retry_after) if retry_after.isdigit() else None
                )
            return PermanentProviderError(msg, provider=KIND)
        if _in_chain(e, (requests.ConnectionError,)):
            return TransientProviderError(
                f"cannot reach Jenkins at {self.settings.url} while {what}", provider=KIND
            )
        return PermanentProviderError(f"Jenkins failed while {what}: {e}", provider=KIND)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, missing_ok: bool = False) -> Any:
        """Call python-jenkins; map its exceptions. With `missing_ok`, a 404 raises `_Missing`."""
        try:
            return fn(*args)
        except (jenkins.JenkinsException, requests.RequestException, ValueError) as e:
            resp = _response_of(e)
            if missing_ok and (
                isinstance(e, jenkins.NotFoundException) or (resp is not None and resp.status_code == 404)
            ):
                raise _Missing(what) from e
            raise self._error(e, what) from e

    def probe(self) -> None:
        for job in (self.settings.create_job, self.settings.delete_job):
            self._call(f"looking up job {job}", self.server.get_job_info, job)

    def _trigger(self, job: str, parameters: dict[str, str]) -> int:
        return self._call(f"triggering job {job}", self.server.build_job, job, parameters)

    # -- finding builds by KAAS_BUILD_ID -------------------------------------------------------------

    def _find(self, job: str, build_id: str) -> tuple[str, int] | None:
        """("queue", item id) or ("build", number) of the run of `job` carrying this KAAS_BUILD_ID."""
        name = self.settings.parameters.build_id
        queue = self._call("reading the Jenkins queue", self.server.get_queue_info)
        for item in queue:
            task = item.get("task") or {}
            if task.get("name") == job and _params(item).get(name) == build_id and not item.get("cancelled"):
                return ("queue", int(item["id"]))
        try:
            info = self._call(f"reading job {job}", self.server.get_job_info, job, missing_ok=True)
        except _Missing as e:
            raise PermanentProviderError(f"Jenkins has no job named {job}", provider=KIND) from e
        for ref in (info.get("builds") or [])[: self.settings.scan_builds]:
            number = ref.get("number")
            if not isinstance(number, int):
                continue
            try:
                build = self._call(
                    f"reading build {job} #{number}", self.server.get_build_info, job, number, missing_ok=True
                )
            except _Missing:
                continue
            if _params(build).get(name) == build_id:
                return ("build", number)
        return None

    def _build_number(self, handle: dict) -> int | Progress:
        """The build a handle's operation runs as, or the Progress of an item still waiting in the queue."""
        job, build_id = handle["job"], handle["kaas_build_id"]
        if isinstance(handle.get("build"), int):
            return handle["build"]
        known = self._resolved.get((job, build_id))
        if known is not None:
            return known
        queue = handle.get("queue")
        if isinstance(queue, int):
            try:
                item = self._call(
                    f"reading queue item {queue}", self.server.get_queue_item, queue, missing_ok=True
                )
            except _Missing:
                item = None  # forgotten by Jenkins: find the build by its KAAS_BUILD_ID below
            if item is not None:
                if item.get("cancelled"):
                    raise PermanentProviderError(
                        f"the Jenkins build of {job} was cancelled while queued", provider=KIND
                    )
                executable = item.get("executable") or {}
                if isinstance(executable.get("number"), int):
                    self._resolved[(job, build_id)] = executable["number"]
                    return executable["number"]
                why = _jenkins_words(str(item.get("why") or ""), 120)
                return Progress(False, 0, f"waiting in the Jenkins queue ({why})" if why else "queued")
        found = self._find(job, build_id)
        if found is None:
            raise PermanentProviderError(
                f"Jenkins has no queued or recent build of {job} with "
                f"{self.settings.parameters.build_id}={build_id}",
                provider=KIND,
            )
        kind, number = found
        if kind == "queue":
            return Progress(False, 0, "waiting in the Jenkins queue")
        self._resolved[(job, build_id)] = number
        return number

    # -- the provider protocol -----------------------------------------------------------------------

    def versions(self) -> list[str]:
        return list(self.settings.versions)

    def machine_types(self) -> list[str]:
        return list(self.settings.machine_types)

    def start_create(self, spec: ClusterSpec) -> dict:
        s = self.settings
        if not spec.name:
            raise InvalidClusterRequest("a cluster needs a name", provider=KIND)
        if s.versions and spec.version not in s.versions:
            raise InvalidClusterRequest(
                f"unsupported Kubernetes version {spec.version!r}; choose one of {', '.join(s.versions)}",
                provider=KIND,
            )
        if spec.machine_type and s.machine_types and spec.machine_type not in s.machine_types:
            raise InvalidClusterRequest(
                f"unknown machine type {spec.machine_type!r}; choose one of {', '.join(s.machine_types)}",
                provider=KIND,
            )
        if isinstance(spec.node_count, bool) or not isinstance(spec.node_count, int) or spec.node_count < 0:
            raise InvalidClusterRequest(f"invalid node count {spec.node_count!r}", provider=KIND)
        job = s.create_job
        build_id = spec.request_id or uuid.uuid4().hex
        handle = {"op": "create", "job": job, "queue": None, "build": None, "kaas_build_id": build_id}
        if spec.request_id:
            found = self._find(job, build_id)
            if found is not None:
                kind, number = found
                return {**handle, kind: number}
        names = s.parameters
        parameters = {
            names.cluster_name: spec.name,
            names.node_count: str(spec.node_count),
            names.version: spec.version,
            names.build_id: build_id,
        }
        if spec.machine_type:
            parameters[names.machine_type] = spec.machine_type
        return {**handle, "queue": self._trigger(job, parameters)}

    def _parse_ref(self, ref: str) -> tuple[str, int]:
        job, sep, number = str(ref).rpartition("#")
        if not sep or not job or not number.isdigit():
            raise ClusterNotFound(
                f"malformed jenkins cluster ref {ref!r} (expected JOB#BUILD)", provider=KIND
            )
        return job, int(number)

    def _build(self, ref: str) -> tuple[str, int, dict]:
        job, number = self._parse_ref(ref)
        try:
            info = self._call(
                f"reading build {job} #{number}", self.server.get_build_info, job, number, missing_ok=True
            )
        except _Missing as e:
            raise ClusterNotFound(f"Jenkins has no build {job} #{number}", provider=KIND) from e
        return job, number, info

    def _cluster_name(self, ref: str) -> str:
        _, _, info = self._build(ref)
        name = _params(info).get(self.settings.parameters.cluster_name)
        if not name:
            raise PermanentProviderError(
                f"build {ref} has no {self.settings.parameters.cluster_name} parameter", provider=KIND
            )
        return name

    def _start_followup(
        self, op: str, job: str, ref: str, extra: dict[str, str], request_id: str | None
    ) -> dict:
        names = self.settings.parameters
        # The operation's own id, so a trigger retried after a timeout finds the build Jenkins did queue
        # instead of starting a second one (a second delete of the same cluster fails).
        build_id = _followup_id(op, request_id) if request_id else uuid.uuid4().hex
        handle = {"op": op, "job": job, "queue": None, "build": None, "kaas_build_id": build_id, "ref": ref}
        if request_id:
            found = self._find(job, build_id)
            if found is not None:
                kind, number = found
                return {**handle, kind: number}
        parameters = {names.cluster_name: self._cluster_name(ref), **extra, names.build_id: build_id}
        return {**handle, "queue": self._trigger(job, parameters)}

    def start_delete(self, ref: str, *, request_id: str | None = None) -> dict:
        return self._start_followup("delete", self.settings.delete_job, ref, {}, request_id)

    def start_scale(self, ref: str, node_count: int, *, request_id: str | None = None) -> dict:
        if not self.settings.scale_job:
            raise PermanentProviderError(
                "this Jenkins profile has no scale_job: its clusters cannot be resized by kaas", provider=KIND
            )
        if isinstance(node_count, bool) or not isinstance(node_count, int) or node_count < 0:
            raise InvalidClusterRequest(f"invalid node count {node_count!r}", provider=KIND)
        extra = {self.settings.parameters.node_count: str(node_count)}
        handle = self._start_followup("scale", self.settings.scale_job, ref, extra, request_id)
        return {**handle, "nodes": node_count}

    def start_upgrade(self, ref: str, version: str) -> dict:
        raise PermanentProviderError(
            "clusters made by a Jenkins job cannot be upgraded by kaas; "
            "upgrade them with the team's own installer",
            provider=KIND,
        )

    def start_replace_node(self, ref: str, node: str) -> dict:
        raise PermanentProviderError(
            "clusters made by a Jenkins job do not support node replacement through kaas", provider=KIND
        )

    def poll(self, handle: dict) -> Progress:
        if (
            not isinstance(handle, dict)
            or handle.get("op") not in _OPS
            or not isinstance(handle.get("job"), str)
            or not isinstance(handle.get("kaas_build_id"), str)
        ):
            raise PermanentProviderError(f"malformed jenkins handle: {handle!r}", provider=KIND)
        op, job = handle["op"], handle["job"]
        number = self._build_number(handle)
        if isinstance(number, Progress):
            return number
        try:
            info = self._call(
                f"reading build {job} #{number}", self.server.get_build_info, job, number, missing_ok=True
            )
        except _Missing as e:
            raise PermanentProviderError(
                f"Jenkins build {job} #{number} no longer exists", provider=KIND
            ) from e
        ref = f"{job}#{number}" if op == "create" else handle.get("ref")
        result = info.get("result")
        if info.get("building") or result is None:
            return Progress(False, self._percent(info), f"Jenkins build {job} #{number} running", ref)
        if result == "SUCCESS":
            step = {"create": "cluster created", "delete": "cluster deleted", "scale": "node count changed"}
            return Progress(True, 100, step[op], ref)
        tail = self._console_tail(job, number)
        raise PermanentProviderError(
            f"Jenkins build {job} #{number} ended {result}"
            + (f"; last console lines:\n{tail}" if tail else ""),
            provider=KIND,
        )

    @staticmethod
    def _percent(info: dict) -> int:
        started, estimate = info.get("timestamp"), info.get("estimatedDuration")
        if not isinstance(started, int | float) or not isinstance(estimate, int | float) or estimate <= 0:
            return 10
        elapsed_ms = time.time() * 1000 - started
        return max(1, min(99, int(100 * elapsed_ms / estimate)))

    def _console_tail(self, job: str, number: int) -> str:
        try:
            text = self._call(
                f"reading the console of {job} #{number}", self.server.get_build_console_output, job, number
            )
        except ProviderError:
            return ""
        lines = [line.rstrip() for line in str(text).splitlines() if line.strip()]
        return "\n".join(lines[-CONSOLE_TAIL_LINES:])

    # -- reading -------------------------------------------------------------------------------------

    def _artifact(self, job: str, number: int, path: str) -> bytes:
        try:
            data = self._call(
                f"downloading {path} of {job} #{number}",
                self.server.get_build_artifact_as_bytes,
                job,
                number,
                path,
                missing_ok=True,
            )
        except _Missing as e:
            raise ClusterNotFound(f"build {job} #{number} has no artifact {path}", provider=KIND) from e
        if not isinstance(data, bytes) or len(data) > MAX_ARTIFACT_BYTES:
            raise PermanentProviderError(
                f"artifact {path} of {job} #{number} is larger than {MAX_ARTIFACT_BYTES} bytes", provider=KIND
            )
        return data

    def kubeconfig(self, ref: str) -> str:
        job, number = self._parse_ref(ref)
        path = self.settings.kubeconfig_artifact
        data = self._artifact(job, number, path)
        refuse = f"the kubeconfig artifact {path} of {job} #{number} is refused: "
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PermanentProviderError(refuse + "it is not UTF-8 text", provider=KIND) from e
        try:
            doc = yaml.load(text, Loader=_NoAliasLoader)
        except yaml.YAMLError as e:
            line = getattr(getattr(e, "problem_mark", None), "line", None)
            where = f" (line {line + 1})" if isinstance(line, int) else ""
            problem = getattr(e, "problem", None) or "syntax error"
            raise PermanentProviderError(
                refuse + f"it is not valid YAML: {problem}{where}", provider=KIND
            ) from e
        except RecursionError as e:
            raise PermanentProviderError(refuse + "it is nested too deeply", provider=KIND) from e
        found = checks.problems(doc)
        if found:
            raise PermanentProviderError(refuse + "; ".join(found), provider=KIND)
        address = checks.address_problem(
            checks.server_url(doc), allow_private=self.settings.allow_private_networks
        )
        if address:
            raise PermanentProviderError(refuse + address, provider=KIND)
        return text

    def describe(self, ref: str) -> ClusterDescription:
        job, number, info = self._build(ref)
        names = self.settings.parameters
        params = _params(info)
        result = info.get("result")
        state = "provisioning" if info.get("building") or result is None else "running"
        if state == "running" and result != "SUCCESS":
            state = "error"
        endpoint, node_count, version = "", 0, params.get(names.version, "")
        if state == "running":
            endpoint = checks.server_url(yaml.safe_load(self.kubeconfig(ref)))
            paths = {a.get("relativePath") for a in info.get("artifacts") or [] if isinstance(a, dict)}
            if self.settings.describe_artifact in paths:
                extra = self._describe_artifact(job, number)
                if isinstance(extra.get("node_count"), int) and not isinstance(extra["node_count"], bool):
                    node_count = extra["node_count"]
                if isinstance(extra.get("version"), str):
                    version = extra["version"]
        return ClusterDescription(
            ref=ref,
            name=params.get(names.cluster_name, ""),
            state=state,
            version=version,
            endpoint=endpoint,
            node_count=node_count,
            machine_type=params.get(names.machine_type, ""),
        )

    def _describe_artifact(self, job: str, number: int) -> dict:
        data = self._artifact(job, number, self.settings.describe_artifact)
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            return {}
        return doc if isinstance(doc, dict) else {}


def _followup_id(op: str, request_id: str) -> str:
    """A KAAS_BUILD_ID for a delete or scale request: stable per request, short, free of odd characters."""
    return f"{op}-" + hashlib.sha256(request_id.encode()).hexdigest()[:32]
