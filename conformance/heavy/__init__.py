"""Heavy modes: re-running scenarios under valgrind (``--race``, ``--memcheck``) and reading what it found."""
