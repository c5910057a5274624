"""The commands of the ``conformance`` command line, one module each.

``conformance.cli`` parses the command line and imports only the module of the
command given, so a light command (``explain``, ``list-checks``) never pays for
a heavy one (``check`` imports pytest and the battery). Each module has
``run(args) -> int`` returning its exit status; this package's ``__init__``
stays empty because importing any command imports it.
"""
