"""``python -m conformance.fuzzing``: see ``conformance.fuzzing.cli``."""

from conformance.fuzzing.cli import main

raise SystemExit(main())
