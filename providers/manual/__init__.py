"""The manual provider: adopt existing clusters from a kubeconfig."""
