"""Google Kubernetes Engine provider adapter (google-cloud-container, REST transport)."""

from providers.gke.adapter import GkeProvider, GkeSettings, from_profile

__all__ = ["GkeProvider", "GkeSettings", "from_profile"]
