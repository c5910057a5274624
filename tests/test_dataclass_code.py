"""The cache of compiled dataclass methods: same classes as without it, hits across processes, never stale."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import _dataclass_code
from conformance._dataclass_code import _Cache

MODULE = "conformance._test_cached_classes"
SOURCE = """
from dataclasses import dataclass, field

@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list, hash=False)
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Cache]:
    """A cache of its own in ``tmp_path``, routed as ``install`` routes the process-wide one."""
    made = _Cache(tmp_path)
    monkeypatch.setattr(dataclasses, "exec", made.exec, raising=False)
    yield made
    sys.modules.pop(MODULE, None)


def define(source: str = SOURCE, name: str = MODULE) -> types.ModuleType:
    """Run ``source`` as the module ``name`` (dataclasses compiles in that module's namespace)."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 - test module text
    return module


def test_classes_built_from_the_cache_behave_as_compiled_ones(cache: _Cache) -> None:
    first = define().Point
    cache.save()
    assert (cache.directory / f"{MODULE}.marshal").is_file()
    reread = _Cache(cache.directory)
    dataclasses.exec = reread.exec  # type: ignore[attr-defined]
    second = define().Point
    codes = reread.modules[MODULE]
    assert not codes.missed, "every method text was found in the file the first definition saved"
    assert codes.used.keys() == cache.modules[MODULE].used.keys()
    for cls in (first, second):
        point = cls(1, tags=("a",))
        assert point == cls(1, 0, ("a",), [])
        assert repr(point) == "Point(x=1, y=0, tags=('a',), notes=[])"
        assert point.notes == [] and point.notes is not cls(1).notes
        with pytest.raises(dataclasses.FrozenInstanceError):
            point.x = 2
        assert hash(point) == hash(cls(1, tags=("a",)))
    assert second.__init__.__annotations__ == first.__init__.__annotations__  # no __future__ flag leaked in


def test_a_changed_class_compiles_again_and_old_texts_leave_the_file(cache: _Cache) -> None:
    define()
    cache.save()
    old = set(cache.modules[MODULE].used)
    reread = _Cache(cache.directory)
    dataclasses.exec = reread.exec  # type: ignore[attr-defined]
    changed = define(SOURCE.replace("y: int = 0", "y: int = 0\n    z: float = 1.5"))
    assert changed.Point(1).z == 1.5
    assert reread.modules[MODULE].missed
    reread.save()
    stored = _dataclass_code._read(cache.directory / f"{MODULE}.marshal")
    assert set(stored) == set(reread.modules[MODULE].used)
    assert old - set(stored), "the texts of the old definition were dropped"


def test_other_packages_dataclasses_are_not_cached(cache: _Cache) -> None:
    other = "someone_elses_module"
    try:
        assert define(name=other).Point(3).x == 3
    finally:
        sys.modules.pop(other, None)
    assert cache.modules == {}
    cache.save()
    assert list(cache.directory.iterdir()) == []


def test_an_unreadable_cache_file_falls_back_to_compiling(cache: _Cache) -> None:
    (cache.directory / f"{MODULE}.marshal").write_bytes(b"not a cache file")
    assert define().Point(2).y == 0
    assert cache.modules[MODULE].missed
    cache.save()
    assert _dataclass_code._read(cache.directory / f"{MODULE}.marshal")


def test_a_forked_child_never_writes(cache: _Cache) -> None:
    define()
    pid = os.fork()
    if pid == 0:
        cache.save()
        os._exit(0)
    os.waitpid(pid, 0)
    assert list(cache.directory.iterdir()) == []


def test_the_package_installs_it_and_a_second_process_hits(tmp_path: Path) -> None:
    """Two interpreters in a row: the first compiles and saves at exit, the second compiles nothing."""
    probe = textwrap.dedent(
        """
        import conformance.scenario.events, dataclasses
        from conformance import _dataclass_code
        cache = _dataclass_code._installed[0]
        print(sum(codes.missed for codes in cache.modules.values()), len(cache.modules))
        """
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    runs = [
        subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    first, second = (tuple(int(word) for word in run.stdout.split()) for run in runs)
    assert first[0] > 0 and first[1] > 0
    assert second == (0, first[1])
