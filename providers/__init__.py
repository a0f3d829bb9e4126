"""providers layer of kaas."""
