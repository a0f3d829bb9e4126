"""The AKS provider adapter (Azure Kubernetes Service through azure-mgmt-containerservice)."""

from providers.aks.adapter import AksProvider, AksSettings, from_profile

__all__ = ["AksProvider", "AksSettings", "from_profile"]
