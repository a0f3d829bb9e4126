"""`/kaas check` rendered for Slack (Block Kit) and for the terminal (`kaas shell`, the attached detail file).

Slack: `check_blocks` always fits one message, within bot/views.py's limits (50 blocks, 3000 characters per
section). Long lists are cut, most troubled first, with a note; the full report then comes back as a
plain-text document for the Slack face to attach. Every value from the cluster (names, scheduler and kubelet
messages) is escaped before it goes into mrkdwn, as bot/views.py does for every value kaas didn't write.

Terminal: `check_text` shows everything, in aligned columns. The values come from a cluster kaas doesn't
control, so control characters (terminal escape sequences, line breaks) are replaced before printing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from bot import slack_messages
from bot.messages import escape
from bot.views import (
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    _code,
    _context,
    _field,
    _fit,
    _plain,
    _section,
    progress_bar,
)
from handlers.insight import (
    CRITICAL,
    CheckReport,
    NodeInsight,
    PodProblem,
    ResourceUse,
    WorkloadStatus,
    format_cpu,
    format_memory,
    format_percent,
    summary_line,
)

# --- how much one message shows ---------------------------------------------------------------------------
#
# The worst case, every list cut: header, summary, fields, context (4) + 3 dividers + warnings (3 sections
# + a note) + nodes (2 + a note) + workload summary (1) + 4 lists (1 section + a note each) = 23 blocks, well
# within Slack's 50; and a message people can still read.

MAX_WARNINGS_SHOWN = 20
WARNING_SECTIONS = 3
MAX_NODES_SHOWN = 25
NODE_SECTIONS = 2
MAX_ITEMS_SHOWN = 10
"""Per workload list: workloads not fully ready, pending, not ready and restarting pods."""
LINE_CHARS = 700
"""One warning or list line; a longer one (a scheduler message about many nodes) is cut."""
NODE_NAME_CHARS = 32
"""The name column of the nodes table; cloud node names are long, the table should not wrap."""
KEY_CHARS = 320
"""A namespace (63) + "/" + a name (253) fits: real names are never cut."""

# --- wording ----------------------------------------------------------------------------------------------

TITLE = "Cluster check: {name}"
_UNSAFE_IN_HEADER = re.compile(r"[^A-Za-z0-9._-]")
"""A header is plain text, which can't be escaped; kaas cluster names (DNS labels) never contain these."""
SEVERITY_EMOJI = {CRITICAL: ":red_circle:", "warning": slack_messages.LEVEL_EMOJI["warning"]}
HEALTHY_EMOJI = ":large_green_circle:"
NO_WARNINGS = "No warnings: the cluster looks healthy."
NO_METRICS = "no usage figures: the cluster doesn't serve metrics.k8s.io (install metrics-server to get them)"
BEYOND_ALLOCATABLE = "more than allocatable"
NO_WORKLOADS = "No deployments, statefulsets or daemonsets."


def _more(hidden: int, noun: str) -> str:
    return f"… and {hidden} more {noun}{'' if hidden == 1 else 's'}, see the attached file."


def _taken(report: CheckReport) -> str:
    taken = report.taken_at if report.taken_at.tzinfo else report.taken_at.replace(tzinfo=dt.UTC)
    return f"Taken {taken.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def _metered(report: CheckReport) -> str:
    totals = report.totals
    if not totals.metrics_available:
        return NO_METRICS
    if totals.nodes_metered < totals.nodes_total:
        return f"usage from metrics-server, for {totals.nodes_metered} of {totals.nodes_total} nodes"
    return "usage from metrics-server"


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _workload_summary(report: CheckReport) -> str:
    """The kinds the cluster has, e.g. "Deployments 12/14 fully ready · DaemonSets 5/5 fully ready"."""
    w = report.workload
    parts = [
        f"{label} {sum(1 for s in statuses if s.fully_ready)}/{len(statuses)} fully ready"
        for label, statuses in (
            ("Deployments", w.deployments),
            ("StatefulSets", w.statefulsets),
            ("DaemonSets", w.daemonsets),
        )
        if statuses
    ]
    return " · ".join(parts) or NO_WORKLOADS


def _pods_summary(report: CheckReport) -> str:
    p = report.workload.pods
    return (
        f"Pods: {p.running} running · {p.pending} pending · {p.succeeded} succeeded · {p.failed} failed"
        + (f" · {p.unknown} unknown" if p.unknown else "")
    )


def _workload_detail(status: WorkloadStatus) -> str:
    return f"{status.ready}/{status.desired} ready, {status.updated} up to date, {status.available} available"


def _problem_detail(problem: PodProblem) -> str:
    """What is wrong with a pod, in words: the reason, the container it is about, the message."""
    unexplained = "waiting for the scheduler" if problem.phase == "Pending" else "not ready"
    reason = problem.reason or unexplained
    container = f" (container {problem.container})" if problem.container else ""
    message = f": {problem.message}" if problem.message else ""
    return f"{reason}{container}{message}"


def _restart_detail(problem: PodProblem) -> str:
    container = f" (most in container {problem.container})" if problem.container else ""
    last = f", last stopped: {problem.last_termination_reason}" if problem.last_termination_reason else ""
    return f"{_counted(problem.restarts, 'restart')}{container}{last}"


# --- Slack ------------------------------------------------------------------------------------------------


class _Blocks:
    """Builds the message, remembering whether anything had to be cut (then the detail file goes along)."""

    def __init__(self) -> None:
        self.blocks: list[dict] = []
        self.cut = False

    def line(self, mrkdwn: str) -> str:
        if len(mrkdwn) > LINE_CHARS:
            self.cut = True
        return _fit(mrkdwn, LINE_CHARS)

    def listing(self, title: str, lines: list[str], *, shown: int, sections: int, noun: str) -> None:
        """`title` and up to `shown` lines (escaped mrkdwn) in at most `sections` sections, then a note."""
        texts = [title]
        count = 0
        for raw in lines[:shown]:
            line = self.line(raw)
            if len(texts[-1]) + 1 + len(line) <= MAX_SECTION_TEXT:
                texts[-1] += "\n" + line
            elif len(texts) < sections:
                texts.append(line)
            else:
                break
            count += 1
        self.blocks.extend(_section(text) for text in texts)
        self.note(len(lines) - count, noun)

    def table(self, title: str, rows: list[list[str]], *, hidden: int, noun: str) -> None:
        """An aligned table in code blocks (the header repeated in each), at most NODE_SECTIONS of them."""
        lines = [escape(line.replace("`", slack_messages.BACKTICK_LOOKALIKE)) for line in _aligned(rows)]
        header, body = lines[0], lines[1:]
        fence_open, fence_close = f"```\n{header}", "\n```"
        texts = [f"{title}\n{fence_open}"]
        count = 0
        for line in body:
            if len(texts[-1]) + 1 + len(line) + len(fence_close) <= MAX_SECTION_TEXT:
                texts[-1] += "\n" + line
            elif len(texts) < NODE_SECTIONS:
                texts.append(f"{fence_open}\n{line}")
            else:
                break
            count += 1
        self.blocks.extend(_section(text + fence_close) for text in texts)
        self.note(hidden + len(body) - count, noun)

    def note(self, hidden: int, noun: str) -> None:
        if hidden > 0:
            self.cut = True
            self.blocks.append(_context(_more(hidden, noun)))

    def divider(self) -> None:
        self.blocks.append({"type": "divider"})


def _bar(use: ResourceUse, percent: float | None, amount: int | None, show: Callable[[int], str]) -> str:
    """A field value: a bar of `percent` and the figures; beyond 100% it is said, not drawn."""
    if percent is None or amount is None:
        return slack_messages.NO_VALUE
    figure = f"{show(amount)} of {show(use.allocatable)}"
    if percent > 100:
        return f"{format_percent(percent)} ({BEYOND_ALLOCATABLE})\n{figure}"
    return f"`{progress_bar(round(percent))}`\n{figure}"


def _totals_section(report: CheckReport) -> dict:
    """Nodes, pods, and CPU and memory requested and used, cluster-wide, as two columns of fields."""
    totals = report.totals
    resources = (("CPU", totals.cpu, format_cpu), ("Memory", totals.memory, format_memory))
    fields = [
        _field("Nodes ready", f"{totals.nodes_ready}/{totals.nodes_total}"),
        _field("Pods", f"{totals.pods}/{totals.pods_allocatable} of node capacity"),
    ]
    fields += [
        _field(f"{label} requested", _bar(use, use.requested_percent, use.requested, show))
        for label, use, show in resources
    ]
    fields += [
        _field(f"{label} used", _bar(use, use.usage_percent, use.usage, show))
        for label, use, show in resources
    ]
    return {"type": "section", "fields": fields}


def _nodes_shown(report: CheckReport) -> list[NodeInsight]:
    """The nodes the message has room for: those named in a warning first, then the rest, by name."""
    if len(report.nodes) <= MAX_NODES_SHOWN:
        return list(report.nodes)
    warned = {subject for warning in report.warnings for subject in warning.subjects}
    first = [n for n in report.nodes if n.name in warned or n.troubled]
    rest = [n for n in report.nodes if not (n.name in warned or n.troubled)]
    chosen = {n.name for n in (first + rest)[:MAX_NODES_SHOWN]}
    return [n for n in report.nodes if n.name in chosen]


def _subject_line(subject: str, detail: str, node: str = "") -> str:
    """`ns/name` (on `node`): detail, as escaped mrkdwn."""
    where = f" on {_code(node, KEY_CHARS)}" if node else ""
    return f"{_code(subject, KEY_CHARS)}{where}: {escape(_one_line(detail))}"


def check_fallback(cluster_name: str, report: CheckReport) -> str:
    """The message's notification text: the cluster and the summary line, escaped."""
    return _fit(escape(f"{cluster_name}: {summary_line(report)}"), MAX_FALLBACK_TEXT)


def check_blocks(cluster_name: str, report: CheckReport) -> tuple[list[dict], str | None]:
    """The check report as Block Kit, and the full report as text when the message had to leave some out.

    The blocks always fit one message (at most 50 blocks, 3000 characters per section): long lists are cut,
    with a note pointing to the attached file, and the second element is then `check_detail_text`; it is
    None when the message shows everything.
    """
    out = _Blocks()
    worst = CRITICAL if report.critical else "warning"
    emoji = HEALTHY_EMOJI if report.healthy else SEVERITY_EMOJI[worst]
    title = TITLE.format(name=_UNSAFE_IN_HEADER.sub("?", cluster_name))
    out.blocks.append({"type": "header", "text": _plain(title, MAX_HEADER_TEXT)})
    out.blocks.append(_section(f"{emoji} {escape(summary_line(report))}"))
    out.blocks.append(_totals_section(report))
    out.blocks.append(_context(escape(f"{_taken(report)} · {_metered(report)}")))

    out.divider()
    if report.warnings:
        lines = [f"{SEVERITY_EMOJI.get(w.severity, '')} {escape(_one_line(w.text))}" for w in report.warnings]
        title = f"*Warnings ({len(report.warnings)})*"
        out.listing(title, lines, shown=MAX_WARNINGS_SHOWN, sections=WARNING_SECTIONS, noun="warning")
    else:
        out.blocks.append(_section(f"{HEALTHY_EMOJI} {NO_WARNINGS}"))

    out.divider()
    if report.nodes:
        shown = _nodes_shown(report)
        if any(len(n.name) > NODE_NAME_CHARS for n in shown):
            out.cut = True
        rows = [["NODE", "STATUS", "CPU REQ", "CPU USE", "MEM REQ", "MEM USE", "PODS"]]
        rows += [
            [
                _cut_name(node.name),
                node.status,
                format_percent(node.cpu.requested_percent),
                format_percent(node.cpu.usage_percent),
                format_percent(node.memory.requested_percent),
                format_percent(node.memory.usage_percent),
                f"{node.pods}/{node.pods_allocatable}",
            ]
            for node in shown
        ]
        title = f"*Nodes ({len(report.nodes)})*"
        out.table(title, rows, hidden=len(report.nodes) - len(shown), noun="node")
    else:
        out.blocks.append(_section("*Nodes*: none reported."))

    out.divider()
    workload = report.workload
    out.blocks.append(_section(f"*Workloads*\n{_workload_summary(report)}\n{_pods_summary(report)}"))
    lists = (
        (
            "Not fully ready",
            [f"{s.kind} {_subject_line(s.key, _workload_detail(s))}" for s in workload.not_fully_ready],
            "workload",
        ),
        ("Pending pods", [_subject_line(p.key, _problem_detail(p)) for p in workload.pending], "pending pod"),
        (
            "Running pods not ready",
            [_subject_line(p.key, _problem_detail(p), p.node) for p in workload.not_ready],
            "pod",
        ),
        (
            "Restarting pods",
            [_subject_line(p.key, _restart_detail(p)) for p in workload.restarting],
            "restarting pod",
        ),
    )
    for title, lines, noun in lists:
        if lines:
            out.listing(f"*{title} ({len(lines)})*", lines, shown=MAX_ITEMS_SHOWN, sections=1, noun=noun)
    return out.blocks, check_detail_text(cluster_name, report) if out.cut else None


def _cut_name(name: str) -> str:
    return name if len(name) <= NODE_NAME_CHARS else name[: NODE_NAME_CHARS - 1] + slack_messages.ELLIPSIS


# --- terminal ---------------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    """Cluster-supplied text on one line, with no control characters (escape sequences, line breaks)."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _aligned(rows: list[list[str]]) -> list[str]:
    """Rows as left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _amount(use: ResourceUse, show: Callable[[int], str]) -> str:
    return f"{show(use.requested)}/{show(use.allocatable)} ({format_percent(use.requested_percent)})"


def _used(use: ResourceUse, show: Callable[[int], str]) -> str:
    return "-" if use.usage is None else f"{show(use.usage)} ({format_percent(use.usage_percent)})"


def check_text(cluster_name: str, report: CheckReport) -> str:
    """The whole check report as terminal text: every warning, node, workload and pod worth a look."""
    clean = _one_line
    out = [
        f"{TITLE.format(name=clean(cluster_name))} · {_taken(report)}",
        summary_line(report),
        _sentence_case(_metered(report)) + ".",
        "",
    ]
    if report.warnings:
        out.append(f"Warnings ({len(report.warnings)})")
        out += [f"  {w.severity.upper():<8}  {clean(w.text)}" for w in report.warnings]
    else:
        out.append(NO_WARNINGS)

    out += ["", f"Nodes ({len(report.nodes)})"]
    if report.nodes:
        rows = [["NAME", "STATUS", "CPU REQUESTED", "CPU USED", "MEMORY REQUESTED", "MEMORY USED", "PODS"]]
        rows += [
            [
                clean(n.name),
                n.status,
                _amount(n.cpu, format_cpu),
                _used(n.cpu, format_cpu),
                _amount(n.memory, format_memory),
                _used(n.memory, format_memory),
                f"{n.pods}/{n.pods_allocatable}",
            ]
            for n in report.nodes
        ]
        out += _aligned(rows)
        for n in report.nodes:
            if not n.ready and (n.ready_message or n.ready_reason):
                out.append(f"  {clean(n.name)}: {clean(n.ready_message or n.ready_reason)}")

    workload = report.workload
    out += ["", "Workloads", _workload_summary(report), _pods_summary(report)]
    statuses = [*workload.deployments, *workload.statefulsets, *workload.daemonsets]
    if statuses:
        rows = [["KIND", "NAMESPACE/NAME", "READY", "UP-TO-DATE", "AVAILABLE"]]
        rows += [
            [s.kind, clean(s.key), f"{s.ready}/{s.desired}", str(s.updated), str(s.available)]
            for s in statuses
        ]
        out += _aligned(rows)

    for title, problems, header, cells in (
        ("Pending pods", workload.pending, "PROBLEM", _problem_detail),
        ("Running pods not ready", workload.not_ready, "PROBLEM", _problem_detail),
        ("Restarting pods", workload.restarting, "RESTARTS", _restart_detail),
    ):
        if problems:
            out += ["", f"{title} ({len(problems)})"]
            rows = [["POD", "NODE", header]]
            rows += [[clean(p.key), clean(p.node) or "-", clean(cells(p))] for p in problems]
            out += _aligned(rows)
    return "\n".join(out)


def check_detail_text(cluster_name: str, report: CheckReport) -> str:
    """The file attached when the Slack message had to leave things out: the full report, as the shell
    shows it."""
    return check_text(cluster_name, report) + "\n"
