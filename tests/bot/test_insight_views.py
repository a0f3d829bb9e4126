"""bot/insight_views.py: the `/kaas check` report as Block Kit (always within Slack's limits) and as text.

Every rendered message goes through `check_limits`, the Block Kit validator of tests/bot/test_views.py.
"""

from __future__ import annotations

import dataclasses
import re

from bot.insight_views import (
    MAX_NODES_SHOWN,
    MAX_WARNINGS_SHOWN,
    check_blocks,
    check_detail_text,
    check_fallback,
    check_text,
)
from handlers.insight import CheckReport, assess, summary_line
from tests.bot.test_views import check_limits
from tests.handlers.test_insight import (
    NO_CPU,
    deployment,
    healthy_snapshot,
    hostile_snapshot,
    node,
    pod,
    snapshot,
    usage,
)

INJECTION = "<!channel> <@U0123ABCD> <https://evil.example|click> & `tick` *bold*"


def message(cluster: str, report: CheckReport) -> tuple[dict, str | None]:
    """The payload the Slack face would post, checked against Slack's limits, and the detail file."""
    blocks, detail = check_blocks(cluster, report)
    return check_limits({"text": check_fallback(cluster, report), "blocks": blocks}), detail


def all_text(payload: dict) -> str:
    parts = [payload["text"]]
    for block in payload["blocks"]:
        for key in ("text", "fields", "elements"):
            value = block.get(key)
            for item in value if isinstance(value, list) else [value] if value else []:
                parts.append(item["text"])
    return "\n".join(parts)


def small_report() -> CheckReport:
    nodes = [node("node-1"), node("node-2", ready=False, message="Kubelet stopped posting node status.")]
    pods = [
        pod("web-1", cpu="1", memory="2Gi"),
        pod("web-2", unscheduled=("Unschedulable", NO_CPU)),
        pod(
            "api-1",
            ready=False,
            waiting=("CrashLoopBackOff", "back-off 5m0s"),
            restarts=6,
            last_reason="Error",
        ),
    ]
    metrics = {"node-1": usage("1", "4Gi"), "node-2": usage("100m", "1Gi")}
    return assess(snapshot(nodes, pods, [deployment("web", 2, ready=1)], node_metrics=metrics))


def big_report() -> CheckReport:
    """100 nodes (half not ready, all cordoned), 3,000 pods (350 crash-looping): 500 warnings."""
    nodes = [node(f"node-{i:03d}", ready=i % 2 == 0, unschedulable=True) for i in range(100)]
    pods = []
    for i in range(3000):
        on = f"node-{i % 100:03d}"
        if i % 60 < 7:
            pods.append(
                pod(
                    f"crash-{i:04d}",
                    f"team-{i % 7}",
                    on,
                    ready=False,
                    restarts=12,
                    waiting=("CrashLoopBackOff", "back-off 5m0s"),
                    last_reason="OOMKilled",
                )
            )
        else:
            pods.append(pod(f"pod-{i:04d}", f"team-{i % 7}", on))
    report = assess(snapshot(nodes, pods))
    assert len(report.warnings) == 500 and len(report.nodes) == 100 and report.workload.pods.total == 3000
    return report


# --- Slack ------------------------------------------------------------------------------------------------


def test_a_healthy_cluster_fits_and_attaches_nothing() -> None:
    report = assess(healthy_snapshot())
    payload, detail = message("prod-1", report)
    assert detail is None
    text = all_text(payload)
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Cluster check: prod-1", "emoji": True},
    }
    assert ":large_green_circle: 3/3 nodes ready" in text
    assert "No warnings: the cluster looks healthy." in text
    assert "`node-1` " not in text and "node-1" in text  # in the nodes table (a code block), not a span
    assert "metrics-server" in text  # says why there are no usage figures
    assert payload["text"] == f"prod-1: {summary_line(report)}"


def test_a_small_report_shows_everything_that_matters() -> None:
    report = small_report()
    payload, detail = message("prod-1", report)
    assert detail is None
    text = all_text(payload)
    assert text.count(":red_circle:") == 2  # the summary's tone and the NotReady node
    assert "*Warnings (4)*" in text
    assert "Node `node-2` is not ready since" in text and "Kubelet stopped posting node status." in text
    assert "Pod `default/web-2` can't be scheduled: 0/3 nodes are available: 3 Insufficient cpu." in text
    assert "Deployment `default/web` has 1/2 pods ready." in text
    assert "*Nodes (2)*\n```\nNODE" in text
    row = next(line for line in text.splitlines() if line.startswith("node-1"))
    assert row.split() == ["node-1", "Ready", "28%", "25%", "13%", "25%", "2/110"]
    assert "`default/api-1` on `node-1`: CrashLoopBackOff (container app): back-off 5m0s" in text
    assert "`default/api-1`: 6 restarts (most in container app), last stopped: Error (exit 137)" in text
    assert "`default/web-2`: Unschedulable: 0/3 nodes are available" in text
    assert "Deployment `default/web`: 1/2 ready, 2 up to date, 1 available" in text
    assert "Deployments 0/1 fully ready\nPods: 2 running · 1 pending · 0 succeeded · 0 failed" in text


def test_a_huge_report_is_cut_to_fit_and_the_detail_comes_as_a_file() -> None:
    report = big_report()
    payload, detail = message("big", report)
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section" and "text" in b)
    text = all_text(payload)
    assert f"… and {500 - MAX_WARNINGS_SHOWN} more warnings, see the attached file." in text
    assert f"… and {100 - MAX_NODES_SHOWN} more nodes, see the attached file." in text
    assert "… and 340 more pods, see the attached file." in text  # running pods not ready
    assert "… and 340 more restarting pods, see the attached file." in text
    assert detail is not None and detail == check_detail_text("big", report)
    for warning in report.warnings:
        assert warning.text in detail
    for n in report.nodes:
        assert n.name in detail


def test_a_huge_report_shows_the_troubled_nodes_first() -> None:
    nodes = [node(f"node-{i:03d}") for i in range(100)]
    nodes[97] = node("node-097", ready=False)
    payload, detail = message("big", assess(snapshot(nodes)))
    text = all_text(payload)
    assert "node-097" in text and "node-000" in text and "node-096" not in text
    assert detail is not None


def test_hostile_values_are_escaped_and_long_ones_cut() -> None:
    long_message = (INJECTION + " ") * 200
    nodes = [node("node-1", message=INJECTION, ready=False), node("n" * 60)]
    pods = [
        pod("a", unscheduled=("Unschedulable", long_message)),
        pod("b", phase="Pending", waiting=("ImagePullBackOff", INJECTION)),
        pod(
            "c",
            ready=False,
            waiting=("CrashLoopBackOff", f"line one\nline two\x1b[2J{INJECTION}"),
            restarts=9,
        ),
    ]
    report = assess(snapshot(nodes, pods))
    payload, detail = message(INJECTION, report)
    text = all_text(payload)
    for raw in ("<!channel>", "<@U0123ABCD>", "<https://evil"):
        assert raw not in text
    assert "&lt;!channel&gt;" in text and "\x1b" not in text
    assert detail is not None  # the long message and the long node name were cut
    assert long_message.strip() in detail


def test_the_hostile_snapshot_renders_within_limits() -> None:
    report = assess(hostile_snapshot())
    message("hostile", report)
    check_text("hostile", report)


def test_the_fallback_text_is_escaped() -> None:
    report = assess(healthy_snapshot())
    assert check_fallback("<!here>", report).startswith("&lt;!here&gt;: 3/3 nodes ready")


def test_a_cluster_without_nodes_still_renders() -> None:
    payload, detail = message("empty", assess(snapshot()))
    assert "*Nodes*: none reported." in all_text(payload) and detail is None
    assert "0/0 nodes ready" in check_text("empty", assess(snapshot()))


# --- terminal ---------------------------------------------------------------------------------------------


def test_text_shows_every_node_and_warning_in_aligned_columns() -> None:
    report = big_report()
    text = check_text("big", report)
    lines = text.splitlines()
    assert lines[0].startswith("Cluster check: big · Taken 2025-06-01 12:00 UTC")
    assert lines[1] == summary_line(report)
    assert lines[2] == (
        "No usage figures: the cluster doesn't serve metrics.k8s.io (install metrics-server to get them)."
    )
    assert "Warnings (500)" in lines
    assert sum(1 for line in lines if line.startswith(("  CRITICAL  ", "  WARNING   "))) == 500
    header = next(i for i, line in enumerate(lines) if line.startswith("NAME "))
    rows = lines[header : header + 101]
    assert [row.split()[0] for row in rows[1:]] == [f"node-{i:03d}" for i in range(100)]
    column = rows[0].index("CPU REQUESTED")
    assert all(row[column - 2 : column] == "  " and row[column] != " " for row in rows[1:])
    assert rows[1].split()[:3] == ["node-000", "Ready,SchedulingDisabled", "3/4"]
    assert rows[2].split()[1] == "NotReady,SchedulingDisabled"
    assert "Running pods not ready (350)" in lines and "Restarting pods (350)" in lines
    assert text == check_detail_text("big", report).rstrip("\n")


def test_text_of_a_small_report_has_the_key_facts() -> None:
    report = small_report()
    text = check_text("prod-1", report)
    assert "Usage from metrics-server." in text
    assert "  CRITICAL  Node `node-2` is not ready since 2025-05-02 12:00 UTC (30d ago)" in text
    assert "  node-2: Kubelet stopped posting node status." in text
    assert re.search(
        r"node-1\s+Ready\s+1\.1/4 \(28%\)\s+1 \(25%\)\s+2\.1Gi/16Gi \(13%\)\s+4Gi \(25%\)\s+2/110", text
    )
    assert re.search(r"Deployment\s+default/web\s+1/2\s+2\s+1", text)
    assert re.search(r"default/web-2\s+-\s+Unschedulable: 0/3 nodes are available", text)
    assert re.search(
        r"default/api-1\s+node-1\s+6 restarts \(most in container app\), last stopped: Error", text
    )
    assert "Pods: 2 running · 1 pending · 0 succeeded · 0 failed" in text


def test_text_replaces_control_characters_from_the_cluster() -> None:
    pods = [pod("c", ready=False, waiting=("CrashLoopBackOff", "one\ntwo\x1b[2J\x07")), pod("x\x1bname")]
    report = assess(snapshot([node("node-1")], pods))
    text = check_text("prod\x1b[31m", report)
    assert "\x1b" not in text and "\x07" not in text
    assert "CrashLoopBackOff (container app): one two [2J" in text


def test_a_report_with_no_warnings_says_so_in_text() -> None:
    report = assess(healthy_snapshot())
    assert "No warnings: the cluster looks healthy." in check_text("prod-1", report)
    assert dataclasses.replace(report, warnings=()).healthy
