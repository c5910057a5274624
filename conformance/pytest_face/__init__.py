"""The pytest face of the tool: the battery as pytest items, run ahead on a pool, reported at the end.

Loaded only when a plugin is given: ``conformance.pytest_plugin`` (the entry point every
pytest process of the venv loads) imports ``session`` in ``pytest_configure`` then.
"""
