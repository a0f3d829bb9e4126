"""The sandbox provider: a simulated Kubernetes control plane hosting many virtual clusters over HTTPS.

Entry points: `sandbox.Sandbox` (the control API and server) and `adapter.SandboxProvider` (the provider
protocol on top of it). See docs/SANDBOX.md for what is simulated and how.
"""
