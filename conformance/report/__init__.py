"""Reports: the result model and its renderers (JSON now; Markdown, HTML and JUnit build on it)."""
