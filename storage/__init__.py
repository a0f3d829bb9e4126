"""storage layer of kaas."""
