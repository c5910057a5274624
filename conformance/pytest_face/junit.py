"""pytest's JUnit file, replaced atomically like every other file of the report directory.

pytest's ``junitxml`` plugin opens ``--junitxml`` for writing and fills it in
place: a reader (a CI artifact upload) could see half a file, and one run's
file could be cut short by another. ``written_atomically`` points it at a
temporary file beside the target for the duration of ``pytest_sessionfinish``
and renames that over the target afterwards.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

import pytest

# The stash key is how pytest itself finds its JUnit writer; there is no public handle on it.
from _pytest.junitxml import xml_key


@contextlib.contextmanager
def written_atomically(config: pytest.Config) -> Iterator[None]:
    """Around the hooks that write the JUnit file: they write a temporary file, renamed into place after."""
    xml = config.stash.get(xml_key, None)
    if xml is None:
        yield
        return
    target = os.path.abspath(xml.logfile)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", dir=directory)
    os.close(fd)
    xml.logfile = temporary
    try:
        yield
    except BaseException:
        os.unlink(temporary)
        raise
    finally:
        xml.logfile = target
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
