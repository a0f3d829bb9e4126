"""Who may do what to which cluster. One place, so every face and every button asks the same question."""

from __future__ import annotations

from handlers.actors import Actor
from storage.models import Cluster


def can_manage(actor: Actor, cluster: Cluster) -> bool:
    """Owners and KaaS admins of the cluster's workspace may read credentials of and delete a cluster."""
    if actor.team_id != cluster.team_id:
        return False
    return actor.is_admin or actor.user_id == cluster.owner_id


def can_see(actor: Actor, cluster: Cluster) -> bool:
    """Anyone in the workspace may see that a cluster exists and its public details (not credentials)."""
    return actor.team_id == cluster.team_id
