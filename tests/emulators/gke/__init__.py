"""Loopback emulator of the GKE v1 REST API."""
