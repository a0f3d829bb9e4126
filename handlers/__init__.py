"""handlers layer of kaas."""
