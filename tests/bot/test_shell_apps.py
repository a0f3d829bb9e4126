"""Apps, checks and backups through a piped `kaas shell`, as a user would type them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bot.test_shell import _shell
from tests.manifests import deployment, documents, pvc

pytestmark = pytest.mark.e2e

WEB = documents(
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-config\ndata:\n  greeting: hello\n",
    deployment("web"),
    pvc("data"),
)


def test_deploy_two_versions_check_backup_and_undeploy(tmp_path: Path, database_url: str) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(WEB)
    out = _shell(
        tmp_path / "home",
        database_url,
        "\n".join(
            [
                "/kaas create shop --nodes 2",
                f"/kaas deploy shop web@v1 {manifest}",
                f"/kaas deploy shop web@v2 {manifest}",
                "/kaas apps shop",
                "/kaas check shop",
                "/kaas backup shop --namespace web-v1",
                "/kaas backups shop",
                "/kaas undeploy shop web@v1",
                "/kaas apps shop",
                "/kaas undeploy shop web",
                "1",
                "/kaas apps shop",
            ]
        )
        + "\n",
    )
    assert "Deploying `web@v1` to cluster `shop`" in out
    assert "`web@v1` is ready on cluster `shop`" in out and "`web@v2` is ready on cluster `shop`" in out
    lines = out.splitlines()
    listing = lines.index("Apps on shop:")
    assert (
        "web@v1" in lines[listing + 1] and "ready" in lines[listing + 1] and "ns=web-v1" in lines[listing + 1]
    )
    assert "web@v2" in lines[listing + 2] and "ns=web-v2" in lines[listing + 2]
    assert "2/2 nodes ready" in out
    assert "Backup `shop-" in out and "the data stored in their volumes is NOT" in out
    assert "data" in out and "standard" in out  # the PVC guidance names the claim and its class
    assert "Backups of shop (newest first):" in out and "namespace web-v1" in out
    assert "`web@v1` was removed from cluster `shop`" in out
    assert "Remove every version of `web` from cluster `shop`" in out
    assert "`web` was removed from cluster `shop`" in out
    assert out.rstrip().endswith("Nothing deployed by kaas on shop yet.")


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("/kaas deploy ghost web@v1 /nonexistent/app.yaml", "cannot read"),
        ("/kaas deploy ghost web@v1 /etc", "not a regular file"),
        ("/kaas deploy ghost web@v1 F0123ABCDEF", "only be deployed from Slack"),
        ("/kaas deploy", "give what to deploy"),
        ("/kaas deploy ghost web@v1 file:///etc/passwd", "usage: /kaas deploy"),
        ("/kaas deploy ghost web@v1 http://169.254.169.254/x", "address"),
        ("/kaas deploy ghost Web@v1 x.yaml", "usage: /kaas deploy"),
        ("/kaas apps ghost", "There is no cluster called `ghost`"),
        ("/kaas check ghost", "There is no cluster called `ghost`"),
        ("/kaas backup ghost", "There is no cluster called `ghost`"),
        ("/kaas backups ghost", "There is no cluster called `ghost`"),
        ("/kaas restore ghost nothing-here", "There is no cluster called `ghost`"),
        ("/kaas undeploy ghost web", "There is no cluster called `ghost`"),
    ],
)
def test_hostile_app_lines_get_clear_errors(tmp_path: Path, line: str, fragment: str) -> None:
    out = _shell(tmp_path / "home", f"sqlite:///{tmp_path / 'k.db'}", f"{line}\n/kaas list\n")
    assert fragment in out
    assert "No clusters yet" in out


def test_helm_chart_install_and_upgrade_from_the_shell(tmp_path: Path) -> None:
    chart = Path(__file__).resolve().parents[1] / "kube" / "charts" / "webapp"
    values = tmp_path / "values.yaml"
    values.write_text("replicaCount: 2\n")
    out = _shell(
        tmp_path / "home",
        f"sqlite:///{tmp_path / 'k.db'}",
        "\n".join(
            [
                "/kaas create shop --nodes 2",
                f"/kaas deploy shop store@1.0 --chart {chart}",
                f"/kaas deploy shop store@1.0 --chart {chart} --values {values} --set replicaCount=3",
                "/kaas apps shop",
            ]
        )
        + "\n",
    )
    assert out.count("`store@1.0` is ready on cluster `shop`") == 2
    assert "helm upgrade --install store" in out
    assert "ns=store-1-0" in out and "helm:" in out
