"""A loopback HTTPS emulator of Azure Resource Manager for AKS managed clusters, backed by the sandbox."""

from tests.emulators.aks.server import AksEmulator

__all__ = ["AksEmulator"]
