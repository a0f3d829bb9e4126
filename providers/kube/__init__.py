"""The cluster-side client: talking to a cluster through its kubeconfig (apply, inspect, export)."""
