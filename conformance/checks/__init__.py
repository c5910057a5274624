"""The check catalogue and its scenarios, by category."""
