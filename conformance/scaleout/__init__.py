"""Splitting a run over several CI runners and merging what they wrote."""
