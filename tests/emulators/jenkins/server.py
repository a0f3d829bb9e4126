"""A threaded loopback HTTP server speaking the Jenkins remote access API as python-jenkins uses it.

Jobs run a built-in "installer" against a `Sandbox`: the create job makes a sandbox cluster and archives its
kubeconfig (and a `cluster.json`) as artifacts, the delete job deletes it, the scale job resizes it. Time
advances lazily on every request: a queue item waits `queue_seconds`, then becomes build N, which runs for
`build_seconds` and then finishes. Faults can be injected per request path (status, Retry-After, delay), per
job (the next build FAILs or is ABORTED with given console lines), and queue items can be forgotten.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from providers.sandbox.sandbox import Sandbox, SandboxError

DEFAULT_JOBS = {"create-cluster": "create", "delete-cluster": "delete", "scale-cluster": "scale"}


@dataclass
class QueueItem:
    id: int
    job: str
    params: dict[str, str]
    queued_at: float
    build: int | None = None
    cancelled: bool = False


@dataclass
class Build:
    job: str
    number: int
    params: dict[str, str]
    queue_id: int
    started_at: float
    duration: float
    result: str | None = None
    console: list[str] = field(default_factory=list)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    planned: tuple[str, list[str]] | None = None


@dataclass
class Fault:
    pattern: re.Pattern[str]
    status: int | None
    times: int
    retry_after: int | None = None
    body: str = ""
    delay: float = 0.0
    method: str | None = None


class JenkinsEmulator:
    """One fake Jenkins controller on 127.0.0.1, backed by a running `Sandbox`."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        user: str = "kaas",
        token: str = "11aa22bb33cc44dd55ee66ff77889900",
        jobs: dict[str, str] | None = None,
        queue_seconds: float = 0.1,
        build_seconds: float = 0.3,
        clock: Callable[[], float] = time.time,
    ):
        self.sandbox = sandbox
        self.user, self.token = user, token
        self.jobs = dict(jobs or DEFAULT_JOBS)
        self.queue_seconds, self.build_seconds = queue_seconds, build_seconds
        self.clock = clock
        self.crumb = secrets.token_hex(16)
        self.queue: dict[int, QueueItem] = {}
        self.forgotten: set[int] = set()
        self.builds: dict[str, dict[int, Build]] = {name: {} for name in self.jobs}
        self.clusters: dict[str, str] = {}
        """Cluster name (the CLUSTER_NAME parameter) → sandbox cluster id."""
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self._planned: dict[str, list[tuple[str, list[str]]]] = {}
        self._next_queue_id = 1
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- serving -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "the emulator is not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def start(self) -> JenkinsEmulator:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="jenkins-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> JenkinsEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- fault injection and inspection --------------------------------------------------------------

    def inject(
        self,
        path_regex: str,
        status: int | None,
        *,
        times: int = 1,
        retry_after: int | None = None,
        body: str = "",
        delay: float = 0.0,
        method: str | None = None,
    ) -> None:
        """The next `times` requests whose path matches answer `status` (None: just wait `delay`)."""
        with self._lock:
            self.faults.append(Fault(re.compile(path_regex), status, times, retry_after, body, delay, method))

    def fail_next_build(self, job: str, lines: list[str], *, result: str = "FAILURE") -> None:
        """The next build of `job` ends with `result` after printing `lines`, doing nothing else."""
        with self._lock:
            self._planned.setdefault(job, []).append((result, list(lines)))

    def forget_queue(self) -> None:
        """Forget every queue item, as Jenkins does some minutes after an item left the queue."""
        with self._lock:
            self.advance()
            self.forgotten.update(self.queue)
            self.queue.clear()

    def set_artifact(self, job: str, number: int, path: str, data: bytes) -> None:
        with self._lock:
            self.builds[job][number].artifacts[path] = data

    def triggered(self, job: str) -> int:
        """How many times `job` was triggered (queued), whether or not the build started."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == "POST" and p.startswith(f"/job/{job}/build"))

    # -- time ----------------------------------------------------------------------------------------

    def advance(self) -> None:
        with self._lock:
            now = self.clock()
            for item in self.queue.values():
                if item.build is None and not item.cancelled and now >= item.queued_at + self.queue_seconds:
                    self._start_build(item, now)
            for builds in self.builds.values():
                for build in builds.values():
                    if build.result is None and now >= build.started_at + build.duration:
                        self._finish(build)

    def _start_build(self, item: QueueItem, now: float) -> None:
        builds = self.builds[item.job]
        number = max(builds, default=0) + 1
        planned = self._planned.get(item.job) or []
        build = Build(
            item.job,
            number,
            item.params,
            item.id,
            now,
            self.build_seconds,
            console=["Started by user kaas", f"Running as SYSTEM; building {item.job} #{number}"],
            planned=planned.pop(0) if planned else None,
        )
        builds[number] = build
        item.build = number

    def _finish(self, build: Build) -> None:
        if build.planned is not None:
            result, lines = build.planned
            build.console += lines
            build.result = result
        else:
            action = {"create": self._create, "delete": self._delete, "scale": self._scale}[
                self.jobs[build.job]
            ]
            try:
                action(build)
                build.result = "SUCCESS"
            except (SandboxError, KeyError, ValueError) as e:
                build.console.append(f'fatal: [localhost]: FAILED! => {{"msg": "{e}"}}')
                build.result = "FAILURE"
        build.console.append(f"Finished: {build.result}")

    def _create(self, build: Build) -> None:
        p = build.params
        name = p["CLUSTER_NAME"]
        build.console.append(f"PLAY [kubespray: create {name}] ****")
        kwargs = {"nodes": int(p.get("NODE_COUNT", "3")), "version": p.get("K8S_VERSION", "")}
        if p.get("MACHINE_TYPE"):
            kwargs["machine_type"] = p["MACHINE_TYPE"]
        info = self.sandbox.create_cluster(name, **kwargs)
        self.clusters[name] = info.id
        build.artifacts["kubeconfig.yaml"] = self.sandbox.kubeconfig(info.id).encode()
        build.artifacts["cluster.json"] = json.dumps(
            {"name": name, "version": info.version, "node_count": info.node_count}
        ).encode()
        build.console.append("PLAY RECAP ****  localhost : ok=42 changed=17 failed=0")

    def _delete(self, build: Build) -> None:
        name = build.params["CLUSTER_NAME"]
        if name not in self.clusters:
            raise KeyError(f"no cluster named {name}")
        self.sandbox.delete_cluster(self.clusters.pop(name))
        build.console.append(f"deleted cluster {name}")

    def _scale(self, build: Build) -> None:
        name = build.params["CLUSTER_NAME"]
        if name not in self.clusters:
            raise KeyError(f"no cluster named {name}")
        self.sandbox.resize(self.clusters[name], int(build.params["NODE_COUNT"]))
        build.console.append(f"scaled cluster {name} to {build.params['NODE_COUNT']} nodes")

    # -- JSON views ----------------------------------------------------------------------------------

    def _params_action(self, params: dict[str, str]) -> dict:
        return {
            "_class": "hudson.model.ParametersAction",
            "parameters": [
                {"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
                for k, v in params.items()
            ],
        }

    def _build_ref(self, job: str, number: int) -> dict:
        return {
            "_class": "hudson.model.FreeStyleBuild",
            "number": number,
            "url": f"{self.url}job/{job}/{number}/",
        }

    def job_json(self, job: str, query: dict[str, str]) -> dict:
        builds = sorted(self.builds[job], reverse=True)
        waiting = [i for i in self.queue.values() if i.job == job and i.build is None and not i.cancelled]
        doc = {
            "_class": "hudson.model.FreeStyleProject",
            "name": job,
            "fullName": job,
            "url": f"{self.url}job/{job}/",
            "buildable": True,
            "builds": [self._build_ref(job, n) for n in builds[:100]],
            "firstBuild": self._build_ref(job, builds[-1]) if builds else None,
            "lastBuild": self._build_ref(job, builds[0]) if builds else None,
            "nextBuildNumber": (builds[0] if builds else 0) + 1,
            "inQueue": bool(waiting),
            "queueItem": None,
            "property": [
                {
                    "_class": "hudson.model.ParametersDefinitionProperty",
                    "parameterDefinitions": [{"name": n} for n in ("CLUSTER_NAME", "KAAS_BUILD_ID")],
                }
            ],
        }
        if "allBuilds" in query.get("tree", ""):
            return {"allBuilds": [self._build_ref(job, n) for n in builds]}
        return doc

    def build_json(self, build: Build) -> dict:
        return {
            "_class": "hudson.model.FreeStyleBuild",
            "actions": [
                self._params_action(build.params),
                {
                    "_class": "hudson.model.CauseAction",
                    "causes": [{"shortDescription": "Started by user kaas"}],
                },
            ],
            "artifacts": [
                {"displayPath": p.rsplit("/", 1)[-1], "fileName": p.rsplit("/", 1)[-1], "relativePath": p}
                for p in sorted(build.artifacts)
            ],
            "building": build.result is None,
            "duration": 0 if build.result is None else int(build.duration * 1000),
            "estimatedDuration": int(self.build_seconds * 1000),
            "fullDisplayName": f"{build.job} #{build.number}",
            "id": str(build.number),
            "number": build.number,
            "queueId": build.queue_id,
            "result": build.result,
            "timestamp": int(build.started_at * 1000),
            "url": f"{self.url}job/{build.job}/{build.number}/",
        }

    def queue_item_json(self, item: QueueItem) -> dict:
        doc = {
            "actions": [self._params_action(item.params)],
            "blocked": False,
            "buildable": item.build is None,
            "id": item.id,
            "inQueueSince": int(item.queued_at * 1000),
            "params": "".join(f"\n{k}={v}" for k, v in item.params.items()),
            "stuck": False,
            "task": {
                "_class": "hudson.model.FreeStyleProject",
                "name": item.job,
                "url": f"{self.url}job/{item.job}/",
            },
            "url": f"queue/item/{item.id}/",
        }
        if item.build is None and not item.cancelled:
            return {"_class": "hudson.model.Queue$WaitingItem", **doc, "why": "In the quiet period."}
        executable = self._build_ref(item.job, item.build) if item.build is not None else None
        return {
            "_class": "hudson.model.Queue$LeftItem",
            **doc,
            "cancelled": item.cancelled,
            "executable": executable,
        }

    # -- requests ------------------------------------------------------------------------------------

    def enqueue(self, job: str, params: dict[str, str]) -> QueueItem:
        item = QueueItem(self._next_queue_id, job, params, self.clock())
        self._next_queue_id += 1
        self.queue[item.id] = item
        return item

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.pattern.search(path) and fault.method in (None, method):
                    fault.times -= 1
                    return fault
        return None


_JOB = re.compile(r"^/job/([^/]+)/(api/json|buildWithParameters|build)$")
_BUILD = re.compile(r"^/job/([^/]+)/(\d+)/(api/json|consoleText|artifact/(.+))$")
_QUEUE_ITEM = re.compile(r"^/queue/item/(\d+)/api/json$")


def _handler_for(emu: JenkinsEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Jetty(10.0.20)"
        timeout = 10

        def log_message(self, format, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes | str | dict, ctype: str = "", headers: dict | None = None):
            if isinstance(body, dict):
                body, ctype = json.dumps(body).encode(), "application/json;charset=utf-8"
            elif isinstance(body, str):
                body, ctype = body.encode(), ctype or "text/plain;charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", ctype or "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Jenkins", "2.462.3")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _authorised(self) -> bool:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                self._send(403, "Authentication required: anonymous is missing the Overall/Read permission")
                return False
            try:
                user, _, token = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, token = "", ""
            if user != emu.user or token != emu.token:
                self._send(
                    401,
                    f"<html><body><h2>HTTP ERROR 401 Unauthorized</h2>"
                    f"<p>Invalid password/token for user: {user}</p></body></html>",
                    "text/html;charset=utf-8",
                    {"WWW-Authenticate": 'Basic realm="Jenkins"'},
                )
                return False
            return True

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            query = dict(parse_qsl(parts.query))
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode())) if length else {}
            with emu._lock:
                emu.requests.append((method, path))
            if not self._authorised():
                return
            fault = emu.take_fault(method, path)
            if fault is not None:
                time.sleep(fault.delay)
                if fault.status is not None:
                    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    self._send(fault.status, fault.body or f"injected {fault.status}", headers=headers)
                    return
            if method == "POST" and self.headers.get("Jenkins-Crumb") != emu.crumb:
                self._send(403, "No valid crumb was included in the request")
                return
            with emu._lock:
                emu.advance()
                status, body, ctype, headers = self._route(method, path, query, form)
            self._send(status, body, ctype, headers)

        def _route(self, method: str, path: str, query: dict, form: dict):
            if path == "/crumbIssuer/api/json":
                return 200, {"crumb": emu.crumb, "crumbRequestField": "Jenkins-Crumb"}, "", None
            if path == "/api/json":
                jobs = [{"name": j, "url": f"{emu.url}job/{j}/", "color": "blue"} for j in emu.jobs]
                return 200, {"_class": "hudson.model.Hudson", "jobs": jobs}, "", None
            if path == "/queue/api/json":
                waiting = [
                    emu.queue_item_json(i) for i in emu.queue.values() if i.build is None and not i.cancelled
                ]
                return 200, {"items": waiting}, "", None
            if m := _QUEUE_ITEM.match(path):
                item = emu.queue.get(int(m[1]))
                if item is None:
                    return 404, "Not Found", "", None
                return 200, emu.queue_item_json(item), "", None
            if m := _JOB.match(path):
                job = unquote(m[1])
                if job not in emu.jobs:
                    return 404, f"No job named {job}", "", None
                if m[2] == "api/json":
                    return 200, emu.job_json(job, query), "", None
                if method != "POST":
                    return 405, "Method Not Allowed", "", None
                item = emu.enqueue(job, {**query, **form})
                return 201, "", "", {"Location": f"{emu.url}queue/item/{item.id}/"}
            if m := _BUILD.match(path):
                job = unquote(m[1])
                build = emu.builds.get(job, {}).get(int(m[2]))
                if build is None:
                    return 404, "Not Found", "", None
                if m[3] == "api/json":
                    return 200, emu.build_json(build), "", None
                if m[3] == "consoleText":
                    return 200, "\n".join(build.console) + "\n", "", None
                data = build.artifacts.get(unquote(m[4]))
                if data is None:
                    return 404, "Not Found", "", None
                return 200, data, "application/octet-stream", None
            return 404, "Not Found", "", None

    return Handler
