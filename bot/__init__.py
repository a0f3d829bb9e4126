"""bot layer of kaas."""
