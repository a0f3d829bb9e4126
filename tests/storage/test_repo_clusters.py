"""Clusters: naming rules, listing, state changes and the encrypted kubeconfig."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import repo
from storage.crypto import Crypto
from storage.errors import DecryptionError, InvalidTransition, NameTaken
from storage.models import Cluster, ClusterState

from .conftest import T0

MakeCluster = Callable[..., Cluster]


def _delete(session: Session, cluster: Cluster) -> None:
    repo.set_cluster_state(session, cluster, ClusterState.DELETING, now=T0)
    repo.set_cluster_state(session, cluster, ClusterState.DELETED, now=T0)


def test_create_and_get(session: Session, make_cluster: MakeCluster) -> None:
    cluster = make_cluster(machine_type="e2-standard-4")
    assert cluster.id is not None
    assert cluster.state == ClusterState.REQUESTED
    assert cluster.created_at.tzinfo is not None
    found = repo.get_cluster(session, team_id="T1", name="demo")
    assert found is not None and found.id == cluster.id
    assert found.provider_profile == "sandbox" and found.machine_type == "e2-standard-4"
    assert repo.get_cluster(session, team_id="T2", name="demo") is None
    by_id = repo.get_cluster_by_id(session, cluster_id=cluster.id)
    assert by_id is not None and by_id.name == "demo"
    assert repo.get_cluster_by_id(session, cluster_id=10_000) is None


def test_names_are_unique_per_team(session: Session, make_cluster: MakeCluster) -> None:
    make_cluster()
    with pytest.raises(NameTaken) as info:
        make_cluster(owner_id="U2")
    assert info.value.name == "demo" and info.value.team_id == "T1"
    other_team = make_cluster(team_id="T2")  # another workspace may use the same name
    assert other_team.id is not None
    assert repo.get_cluster(session, team_id="T1", name="demo") is not None  # session still usable


def test_name_can_be_reused_after_delete(session: Session, make_cluster: MakeCluster) -> None:
    first = make_cluster()
    _delete(session, first)
    assert first.deleted_at == T0
    assert repo.get_cluster(session, team_id="T1", name="demo") is None
    second = make_cluster()
    assert second.id != first.id
    live = repo.get_cluster(session, team_id="T1", name="demo", include_deleted=True)
    assert live is not None and live.id == second.id  # the live one wins over history
    _delete(session, second)
    latest = repo.get_cluster(session, team_id="T1", name="demo", include_deleted=True)
    assert latest is not None and latest.id == second.id and latest.state == ClusterState.DELETED


def test_unique_index_holds_even_without_the_precheck(session: Session, make_cluster: MakeCluster) -> None:
    """The database itself refuses a second live row, whatever the Python code checks."""
    make_cluster()
    session.add(
        Cluster(team_id="T1", name="demo", owner_id="U9", provider_profile="p", provider_kind="k", version="")
    )
    with pytest.raises(sa.exc.IntegrityError):
        session.commit()
    session.rollback()


def test_concurrent_creates_of_one_name(engine: Engine, new_session: Callable[[], Session]) -> None:
    racers = 6
    barrier = Barrier(racers)

    def race(i: int) -> str:
        session = new_session()
        barrier.wait()
        try:
            repo.create_cluster(
                session, team_id="T1", name="same", owner_id=f"U{i}", profile="p", kind="k",
                node_count=1, version="1.32", machine_type=None,
            )  # fmt: skip
        except NameTaken:
            return "taken"
        return "created"

    with ThreadPoolExecutor(racers) as pool:
        outcomes = sorted(pool.map(race, range(racers)))
    assert outcomes == ["created"] + ["taken"] * (racers - 1)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM clusters WHERE name = 'same'").scalar() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("name", "n" * 64), ("team_id", "T" * 33), ("owner_id", "U" * 33), ("version", "v" * 33)],
)
def test_over_long_fields_are_refused_on_every_backend(
    make_cluster: MakeCluster, field: str, value: str
) -> None:
    # SQLite would silently store them; PostgreSQL would fail with a driver error.
    with pytest.raises(ValueError, match=field):
        make_cluster(**{field: value})


def test_list_clusters_pages_by_name(session: Session, make_cluster: MakeCluster) -> None:
    for name, owner in [("delta", "U1"), ("alpha", "U2"), ("charlie", "U1"), ("bravo", "U1"), ("echo", "U2")]:
        make_cluster(name=name, owner_id=owner)
    make_cluster(name="other-team", team_id="T2")
    gone = make_cluster(name="zulu")
    _delete(session, gone)

    page, total = repo.list_clusters(session, team_id="T1", limit=2)
    assert [c.name for c in page] == ["alpha", "bravo"] and total == 5
    page, total = repo.list_clusters(session, team_id="T1", offset=4, limit=2)
    assert [c.name for c in page] == ["echo"] and total == 5
    page, total = repo.list_clusters(session, team_id="T1", offset=10)
    assert page == [] and total == 5
    page, total = repo.list_clusters(session, team_id="T1", owner_id="U1")
    assert [c.name for c in page] == ["bravo", "charlie", "delta"] and total == 3


@pytest.mark.parametrize(("offset", "limit"), [(-1, 20), (0, 0), (0, -5), (0, 10_000)])
def test_list_clusters_rejects_bad_paging(session: Session, offset: int, limit: int) -> None:
    with pytest.raises(ValueError):
        repo.list_clusters(session, team_id="T1", offset=offset, limit=limit)


def test_state_changes_follow_the_state_machine(session: Session, make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    later = T0 + dt.timedelta(minutes=5)
    repo.set_cluster_state(session, cluster, ClusterState.PROVISIONING, now=T0)
    repo.set_cluster_state(session, cluster, "failed", reason="quota exceeded", now=later)
    assert (cluster.state, cluster.state_reason, cluster.updated_at) == ("failed", "quota exceeded", later)
    repo.set_cluster_state(session, cluster, ClusterState.PROVISIONING, now=later)  # retry
    assert cluster.state_reason is None
    repo.set_cluster_state(session, cluster, ClusterState.READY, now=later)
    with pytest.raises(InvalidTransition, match=r"'ready'.*'requested'"):
        repo.set_cluster_state(session, cluster, ClusterState.REQUESTED, now=later)
    stored = repo.get_cluster_by_id(session, cluster_id=cluster.id)
    assert stored is not None and stored.state == ClusterState.READY


def test_state_change_checks_the_stored_state_not_a_stale_copy(
    new_session: Callable[[], Session], make_cluster: MakeCluster
) -> None:
    cluster = make_cluster()
    stale = repo.get_cluster_by_id(new_session(), cluster_id=cluster.id)
    assert stale is not None
    other = new_session()
    repo.set_cluster_state(other, cluster, ClusterState.DELETING, now=T0)
    repo.set_cluster_state(other, cluster, ClusterState.DELETED, now=T0)
    # The stale copy still says "requested", from which "provisioning" would be legal.
    with pytest.raises(InvalidTransition, match="'deleted'"):
        repo.set_cluster_state(new_session(), stale, ClusterState.PROVISIONING, now=T0)


def test_long_state_reason_is_clipped(session: Session, make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    repo.set_cluster_state(session, cluster, ClusterState.FAILED, reason="boom " * 1000, now=T0)
    stored = repo.get_cluster_by_id(session, cluster_id=cluster.id)
    assert stored is not None and stored.state_reason is not None
    assert len(stored.state_reason) == 2000


def test_naive_now_is_refused(session: Session, make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    with pytest.raises(ValueError, match="timezone-aware"):
        repo.set_cluster_state(session, cluster, ClusterState.PROVISIONING, now=dt.datetime(2025, 1, 1))


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- cluster: {server: 'https://127.0.0.1:6443', certificate-authority-data: LS0tLS1CRUdJTi1DQS0tLS0t}
  name: demo
users:
- name: admin
  user: {token: super-secret-bearer-token-1234567890}
"""


def test_kubeconfig_is_stored_encrypted(
    engine: Engine, session: Session, make_cluster: MakeCluster, crypto: Crypto
) -> None:
    cluster = make_cluster()
    assert repo.read_kubeconfig(cluster, crypto=crypto) is None
    repo.save_kubeconfig(session, cluster, crypto=crypto, kubeconfig=KUBECONFIG)
    assert repo.read_kubeconfig(cluster, crypto=crypto) == KUBECONFIG

    with engine.connect() as conn:
        raw = conn.execute(
            sa.text("SELECT kubeconfig_encrypted FROM clusters WHERE id = :id"), {"id": cluster.id}
        ).scalar_one()
    for fragment in ("apiVersion", "super-secret-bearer-token", "127.0.0.1", "LS0tLS1CRUdJTi1DQS0t"):
        assert fragment not in raw
    # A dump of every column of the row leaks nothing either.
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM clusters WHERE id = :id"), {"id": cluster.id}).one()
    assert not any("super-secret-bearer-token" in str(value) for value in row)

    fresh = repo.get_cluster_by_id(session, cluster_id=cluster.id)
    assert fresh is not None and repo.read_kubeconfig(fresh, crypto=crypto) == KUBECONFIG
    with pytest.raises(DecryptionError):
        repo.read_kubeconfig(fresh, crypto=Crypto(Fernet.generate_key()))


@pytest.mark.parametrize("field", ["name", "team_id", "owner_id", "kind", "profile"])
def test_nul_characters_are_refused_on_every_backend(make_cluster: MakeCluster, field: str) -> None:
    with pytest.raises(ValueError, match="NUL"):
        make_cluster(**{field: "a\x00b"})
