"""The event channel from a scenario child to the fork server: schema-checked JSON, nothing that executes.

The child's event pipe is a descriptor the plugin runs beside, so every byte on it is treated as the
plugin's until proven otherwise. A frame is a fixed header and a JSON object::

    <u32 payload length> <16-byte channel token> <u32 sequence number> <UTF-8 JSON payload>

The payload is one object per event, ``{"@": "<event class>", "<field>": <value>, ...}``, except for the two
events of every call into the plugin (``CallStarted``, ``CallFinished``: most of a child's frames), which are
packed (``_pack``): a kind byte (1 or 2, never the ``{`` a JSON payload starts with), the number fields,
the UTF-8 lengths of the text fields, then those texts; the lengths must add up to the payload's, the texts
must be UTF-8. One whose texts do not fit goes as JSON. ``GuardRegion`` (hundreds in a traffic-heavy check)
and ``LogSeen`` (a plugin that logs on every create, in a check of a hundred creates) are packed the same
way, kinds 3 and 4. Decoding
parses JSON (which builds only dicts, lists, strings, numbers, booleans and null), then checks the tag
against the event classes a child may send and every field against the type its dataclass declares;
an unknown tag or field, a missing field, a wrong type, bytes that are not UTF-8 or a frame over the
size limit is a ``FrameError``. Nothing is imported, called or constructed but the event dataclasses.

Forgery: the server draws a random token per child before the fork, so only the server and that
child know it, and every frame carries it with a sequence number that counts the child's frames.
Bytes a plugin writes blindly (a crafted pickle, a forged ``ScenarioDone``, junk) fail the token or
break the sequence of the child's own frames. On top of that the server holds the stream to a grammar
(``EventStream``): ``ScenarioDone`` carries the number of frames the child sent for the scenario and
is accepted only when it equals what arrived and no call the child announced is still in flight;
after it come only what host callbacks report from plugin threads and, in a shared child, a
``ScenarioBoundary``. So a completion never comes from the middle of a call, where plugin code runs.
The limit: a plugin that searches the child's memory (its own address space) can learn the token and
write what the child would; nothing it writes runs in the server, and the containment around the
child, not this channel, bounds what else it can do.
"""

from __future__ import annotations

import dataclasses
import enum
import hmac
import json
import os
import struct
import threading
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

from conformance.host.gil_held import write_all
from conformance.sandbox.framing import FrameError
from conformance.scenario.events import (
    CallFinished,
    CallStarted,
    Event,
    GuardRegion,
    HarnessError,
    LogSeen,
    Observed,
    ScenarioBoundary,
    ScenarioDone,
    StreamCorrupted,
    Violation,
)
from conformance.scenario.protocol import SandboxResult

TOKEN_BYTES = 16
#: Payload length, channel token, sequence number.
HEADER = struct.Struct(f"<I{TOKEN_BYTES}sI")
MAX_EVENT_FRAME = 64 * 1024 * 1024
TAG = "@"

_Check = Callable[[Any], Any]
#: One encoder for every frame (``json.dumps`` with options builds a new one per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"))
#: The C encoder ``_ENCODER.encode`` would build for each frame, built once (a child writes ~70 frames, the
#: corpus ~400k). Without the circular-reference marker: a cycle in an event ends in ``RecursionError``.
_make_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_compact_chunks: Callable[[Any, int], tuple[str, ...]] | None = (
    None
    if _make_c_encoder is None
    else _make_c_encoder(
        None, _ENCODER.default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )
)


def _compact_json(value: Any) -> str:
    """``_ENCODER.encode(value)``, with the C encoder made once."""
    if _compact_chunks is None:
        return _ENCODER.encode(value)
    return "".join(_compact_chunks(value, 0))


class _Invalid(Exception):
    """A value does not have the type its field declares (becomes a ``FrameError`` with the frame's context)."""


def new_token() -> bytes:
    """A channel token, drawn in the server before the fork: only the server and that child know it."""
    return os.urandom(TOKEN_BYTES)


def _checker(hint: Any) -> _Check:
    """A function that returns the field's value from its JSON form, or raises ``_Invalid``."""
    if hint is Any:
        return lambda value: value  # any JSON value (JSONValue): json.loads built only plain data
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _union(typing.get_args(hint))
    if origin is tuple:
        item, ellipsis = typing.get_args(hint)
        assert ellipsis is Ellipsis, f"only tuple[X, ...] crosses the channel, not {hint}"
        check_item = _checker(item)

        def check_tuple(value: Any) -> tuple[Any, ...]:
            if type(value) is not list:
                raise _Invalid(f"expected a list, got {type(value).__name__}")
            return tuple(check_item(element) for element in value)

        return check_tuple
    if origin is dict:
        key, _ = typing.get_args(hint)
        assert key is str, f"only dict[str, ...] crosses the channel, not {hint}"
        return _exact(dict)
    if hint is float:

        def check_float(value: Any) -> float:
            if type(value) is float:
                return value
            if type(value) is int:
                return float(value)
            raise _Invalid(f"expected a number, got {type(value).__name__}")

        return check_float
    if hint in (str, int, bool, type(None)):
        return _exact(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        members = {member.value: member for member in hint}

        def check_enum(value: Any) -> enum.Enum:
            if type(value) is not str or value not in members:
                raise _Invalid(f"not a {hint.__name__}: {value!r:.40}")
            return members[value]

        return check_enum
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        tag = (hint.__name__,)
        return lambda value: _decode_object(value, tag)
    raise TypeError(f"no channel encoding for {hint!r}")


def _exact(kind: type) -> _Check:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise _Invalid(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return check


def _union(members: tuple[Any, ...]) -> _Check:
    classes = tuple(
        member.__name__ for member in members if isinstance(member, type) and dataclasses.is_dataclass(member)
    )
    if classes:  # a union of dataclasses (Event, or one class or None): told apart by the tag
        optional = type(None) in members
        assert len(classes) + optional == len(members), "a union mixes dataclasses and plain values"
        return lambda value: None if value is None and optional else _decode_object(value, classes)
    checks = [_checker(member) for member in members]

    def check(value: Any) -> Any:
        for one in checks:
            try:
                return one(value)
            except _Invalid:
                continue
        raise _Invalid(f"{type(value).__name__} is none of {[getattr(m, '__name__', str(m)) for m in members]}")

    return check


_PLAIN = (str, int, bool, type(None))


@dataclasses.dataclass(frozen=True)
class _Schema:
    cls: type
    exact: dict[str, tuple[type, ...]]  # fields whose JSON value is the value: checked by exact type (hot path)
    converted: dict[str, _Check]  # the others: checked and converted (a list to a tuple, an int to a float...)
    required: frozenset[str]


_SCHEMAS: dict[str, _Schema] = {}


def _plain_types(hint: Any) -> tuple[type, ...] | None:
    """(str,) for ``str``, (str, NoneType) for ``str | None``...; None when the hint needs a converter."""
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return members if all(member in _PLAIN for member in members) else None


def _register(cls: type) -> None:
    hints = typing.get_type_hints(cls)
    exact: dict[str, tuple[type, ...]] = {}
    converted: dict[str, _Check] = {}
    for field in dataclasses.fields(cls):
        plain = _plain_types(hints[field.name])
        if plain is not None:
            exact[field.name] = plain
        else:
            converted[field.name] = _checker(hints[field.name])
    required = frozenset(
        field.name
        for field in dataclasses.fields(cls)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    )
    _SCHEMAS[cls.__name__] = _Schema(cls, exact, converted, required)


#: What a child may send: every event but ``StreamCorrupted``, which only the server writes.
CHILD_EVENTS: tuple[str, ...] = tuple(cls.__name__ for cls in typing.get_args(Event) if cls is not StreamCorrupted)
for _class in (*typing.get_args(Event), SandboxResult):
    _register(_class)


def _decode_object(value: Any, allowed: tuple[str, ...]) -> Any:
    if type(value) is not dict:
        raise _Invalid(f"expected an object, got {type(value).__name__}")
    tag = value.pop(TAG, None)
    if tag not in allowed:
        raise _Invalid(f"unexpected tag {tag!r:.60}")
    schema = _SCHEMAS[tag]
    for name, item in value.items():
        kinds = schema.exact.get(name)
        if kinds is not None:
            if type(item) not in kinds:
                raise _Invalid(f"{tag}.{name}: {type(item).__name__} is not {'/'.join(k.__name__ for k in kinds)}")
            continue
        check = schema.converted.get(name)
        if check is None:
            raise _Invalid(f"{tag} has no field {name!r:.60}")
        try:
            value[name] = check(item)  # replaces the value of a present key: the dict's size does not change
        except _Invalid as error:
            raise _Invalid(f"{tag}.{name}: {error}") from None
    if not value.keys() >= schema.required:
        raise _Invalid(f"{tag} lacks its field {sorted(schema.required - value.keys())[0]!r}")
    return schema.cls(**value)


def _event_json(event: Event) -> dict[str, Any]:
    """An event's JSON object: its fields are plain values already, so this is the whole encoding (hot path)."""
    return {TAG: type(event).__name__, **event.__dict__}


def _result_json(value: Any) -> Any:
    """A result's JSON form: nested events, the call in flight and the outcome enum spelled out."""
    if isinstance(value, SandboxResult):
        encoded = {TAG: "SandboxResult", **{name: _result_json(item) for name, item in value.__dict__.items()}}
        return encoded
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_result_json(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _event_json(typing.cast(Event, value))
    return value


def encode_event(event: Event, token: bytes, sequence: int) -> bytes:
    """One frame; a value JSON cannot carry (bytes, a set, an object) raises ``TypeError`` in the child."""
    payload = _pack(event)
    if payload is None:
        payload = _compact_json(_event_json(event)).encode()
    return HEADER.pack(len(payload), token, sequence) + payload


def encode_result(result: SandboxResult) -> bytes:
    """A whole result as JSON, for a process that ran the plugin in-process and hands its result back
    in a file (``sandbox.solo`` under valgrind): that file is as much the plugin's as an event pipe."""
    return _ENCODER.encode(_result_json(result)).encode()


def decode_result(data: bytes) -> SandboxResult:
    """The result ``encode_result`` wrote, checked like an event; anything else is a ``FrameError``."""
    result: SandboxResult = decode_payload(data, ("SandboxResult",))
    return result


#: Packed ``CallStarted``: kind 1, budget_s, tid, then the UTF-8 lengths of entry, detail and thread.
_STARTED = struct.Struct("<BdqHHH")
#: Packed ``CallFinished``: kind 2, duration_s, then the UTF-8 lengths of entry, result and thread.
_FINISHED = struct.Struct("<BdHHH")
#: Packed ``GuardRegion``: kind 3, writable (0 or 1), the four addresses, then the UTF-8 lengths of kind and label.
_REGION = struct.Struct("<BBQQQQHH")
#: Packed ``LogSeen``: kind 4, level, the flags below, then the UTF-8 lengths of target, message, thread and during.
_LOG = struct.Struct("<BqBHHHH")
_STARTED_KIND = 1
_FINISHED_KIND = 2
_REGION_KIND = 3
_LOG_KIND = 4
#: ``LogSeen`` flags: which optional texts are there (an absent one has length 0), the two booleans, the answer.
_HAS_TARGET, _HAS_MESSAGE, _HAS_DURING, _AFTER_DESTROY, _ENABLED_QUERY, _HAS_ANSWER, _ANSWER = (1 << n for n in range(7))
_LOG_FLAGS = (1 << 7) - 1


def _pack(event: Event) -> bytes | None:
    """The event packed when its kind is packed (``_PACKERS``), or None: another event, or a field that is not of
    its declared type or does not fit (a lone surrogate, a text over 64 KiB, a number over 64 bits). JSON then
    says it, or refuses it in the child as it refuses any value it cannot carry."""
    packer = _PACKERS.get(type(event))
    if packer is None:
        return None
    try:
        return packer(event)
    except (AttributeError, UnicodeEncodeError, struct.error):
        return None


def _pack_started(event: CallStarted) -> bytes | None:
    if type(event.budget_s) is not float or type(event.tid) is not int:
        return None
    entry, detail, thread = event.entry.encode(), event.detail.encode(), event.thread.encode()
    head = _STARTED.pack(_STARTED_KIND, event.budget_s, event.tid, len(entry), len(detail), len(thread))
    return head + entry + detail + thread


def _pack_finished(event: CallFinished) -> bytes | None:
    if type(event.duration_s) is not float:
        return None
    entry, result, thread = event.entry.encode(), event.result.encode(), event.thread.encode()
    return _FINISHED.pack(_FINISHED_KIND, event.duration_s, len(entry), len(result), len(thread)) + (
        entry + result + thread
    )


def _pack_region(region: GuardRegion) -> bytes | None:
    addresses = (region.body_start, region.body_end, region.guard_start, region.guard_end)
    if type(region.writable) is not bool or any(type(address) is not int for address in addresses):
        return None
    kind, label = region.kind.encode(), region.label.encode()
    return _REGION.pack(_REGION_KIND, region.writable, *addresses, len(kind), len(label)) + kind + label


def _pack_log(log: LogSeen) -> bytes | None:
    optional = (log.target, log.message, log.during)
    if type(log.level) is not int or type(log.thread) is not str or type(log.after_destroy) is not bool:
        return None
    if type(log.enabled_query) is not bool or not (log.answer is None or type(log.answer) is bool):
        return None
    if any(text is not None and type(text) is not str for text in optional):
        return None
    flags = (
        (_HAS_TARGET if log.target is not None else 0)
        | (_HAS_MESSAGE if log.message is not None else 0)
        | (_HAS_DURING if log.during is not None else 0)
        | (_AFTER_DESTROY if log.after_destroy else 0)
        | (_ENABLED_QUERY if log.enabled_query else 0)
        | (_HAS_ANSWER if log.answer is not None else 0)
        | (_ANSWER if log.answer else 0)
    )
    target, message, thread, during = (
        (text or "").encode() for text in (log.target, log.message, log.thread, log.during)
    )
    head = _LOG.pack(_LOG_KIND, log.level, flags, len(target), len(message), len(thread), len(during))
    return head + target + message + thread + during


def _packed_header(payload: bytes, allowed: tuple[str, ...], name: str, layout: struct.Struct) -> tuple[Any, ...]:
    """The fields of a packed payload's header, once the kind is allowed here and the header is all there."""
    if name not in allowed:
        raise _Invalid(f"unexpected packed {name}")
    if len(payload) < layout.size:
        raise _Invalid(f"a packed {name} shorter than its header")
    return layout.unpack_from(payload)


def _unpack_log(payload: bytes, allowed: tuple[str, ...]) -> LogSeen:
    _, level, flags, *lengths = _packed_header(payload, allowed, "LogSeen", _LOG)
    if flags > _LOG_FLAGS or (flags & _ANSWER and not flags & _HAS_ANSWER):
        raise _Invalid(f"a packed LogSeen with flags {flags:#x}")
    present = (flags & _HAS_TARGET, flags & _HAS_MESSAGE, True, flags & _HAS_DURING)
    if any(length and not there for length, there in zip(lengths, present, strict=True)):
        raise _Invalid("a packed LogSeen with the text of an absent field")
    if _LOG.size + sum(lengths) != len(payload):
        raise _Invalid("a packed LogSeen whose lengths do not add up to its size")
    texts: list[str | None] = []
    start = _LOG.size
    for length, there in zip(lengths, present, strict=True):
        texts.append(payload[start : start + length].decode() if there else None)
        start += length
    target, message, thread, during = texts
    answer = bool(flags & _ANSWER) if flags & _HAS_ANSWER else None
    return LogSeen(
        level, target, message, thread or "", during, bool(flags & _AFTER_DESTROY), bool(flags & _ENABLED_QUERY), answer
    )


def _texts(payload: bytes, layout: struct.Struct, lengths: Sequence[int], name: str) -> tuple[str, str, str]:
    """The three texts after a packed header (the third empty where a kind packs two), each UTF-8, filling
    the payload exactly."""
    first, second, third = lengths
    start = layout.size
    if start + first + second + third != len(payload):
        raise _Invalid(f"a packed {name} whose lengths do not add up to its size")
    middle = start + first
    end = middle + second
    return payload[start:middle].decode(), payload[middle:end].decode(), payload[end:].decode()


def _unpack_region(payload: bytes, allowed: tuple[str, ...]) -> GuardRegion:
    header = _packed_header(payload, allowed, "GuardRegion", _REGION)
    _, writable, body_start, body_end, guard_start, guard_end, first, second = header
    if writable > 1:
        raise _Invalid(f"a packed GuardRegion whose writable flag is {writable}")
    kind, label, _ = _texts(payload, _REGION, (first, second, 0), "GuardRegion")
    return GuardRegion(kind, label, body_start, body_end, guard_start, guard_end, bool(writable))


def _unpack_call(payload: bytes, allowed: tuple[str, ...]) -> Event:
    started = payload[0] == _STARTED_KIND
    layout = _STARTED if started else _FINISHED
    name = "CallStarted" if started else "CallFinished"
    _, *numbers, first, second, third = _packed_header(payload, allowed, name, layout)
    one, two, three = _texts(payload, layout, (first, second, third), name)
    if started:
        budget, tid = numbers
        return CallStarted(one, budget, two, three, tid)
    (duration,) = numbers
    return CallFinished(one, duration, two, three)


#: How each packed kind is written, and read back by its kind byte.
_PACKERS: dict[type, Callable[[Any], bytes | None]] = {
    CallStarted: _pack_started,
    CallFinished: _pack_finished,
    GuardRegion: _pack_region,
    LogSeen: _pack_log,
}
_UNPACKERS: dict[int, Callable[[bytes, tuple[str, ...]], Event]] = {
    _STARTED_KIND: _unpack_call,
    _FINISHED_KIND: _unpack_call,
    _REGION_KIND: _unpack_region,
    _LOG_KIND: _unpack_log,
}


def decode_payload(payload: bytes, allowed: tuple[str, ...] = CHILD_EVENTS) -> Any:
    """One payload as an event of one of the ``allowed`` classes, or a ``FrameError``."""
    try:
        unpack = _UNPACKERS.get(payload[0]) if payload else None
        if unpack is not None:
            return unpack(payload, allowed)
        return _decode_object(json.loads(payload.decode("utf-8")), allowed)
    except _Invalid as error:
        raise FrameError(f"not an event of the sandbox protocol ({error})") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise FrameError(f"not an event of the sandbox protocol ({type(error).__name__}: {error})"[:300]) from None


class EventWriter:
    """The child's end: stamps each event with the token and the next sequence number, one ``write`` per frame.

    It also keeps the child's own count of frames per scenario, sent in ``ScenarioDone.frames``. Plugin
    threads may emit (log callbacks), so writing is serialised.
    """

    def __init__(self, fd: int, token: bytes) -> None:
        self._fd = fd
        self._token = token
        self._sequence = 0
        self._in_scenario = 0
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, ScenarioDone):
                event = dataclasses.replace(event, frames=self._in_scenario)
            # keeps the GIL while other threads run (``host.gil_held``)
            write_all(self._fd, encode_event(event, self._token, self._sequence))
            self._sequence += 1
            self._in_scenario = 0 if isinstance(event, ScenarioBoundary) else self._in_scenario + 1


#: What may follow ``ScenarioDone``: what host callbacks report from plugin threads still running (a log, a
#: breach, a guarded buffer handed out) and the boundary of a shared child; never the scenario's own steps.
_AFTER_COMPLETION = (LogSeen, Violation, Observed, GuardRegion, ScenarioBoundary)


class EventStream:
    """The server's end: decodes a child's frames from arbitrary chunks and holds the stream to its grammar.

    Any breach raises ``FrameError`` whose ``decoded`` holds the good events before it. ``shared`` says the
    child runs a group of scenarios, each closed by a ``ScenarioBoundary``.
    """

    def __init__(self, token: bytes, *, shared: bool = False) -> None:
        self._token = token
        self._shared = shared
        self._buffer = bytearray()
        self._sequence = 0
        self._received = 0  # frames of the current scenario
        self._done = False
        self._harness_error = False
        self._open_calls: dict[str, str] = {}  # thread label -> entry of the call it has in flight

    def feed(self, chunk: bytes) -> list[Event]:
        """The events of the whole frames buffered so far.

        The frames are read at an offset and the buffer is cut once per chunk: cutting it per frame moved
        the rest of a 64 KiB chunk once for each of its hundreds of frames (a dense stream's chunk).
        """
        buffer = self._buffer
        buffer.extend(chunk)
        decoded: list[Event] = []
        start = 0
        try:
            while len(buffer) - start >= HEADER.size:
                size, token, sequence = HEADER.unpack_from(buffer, start)
                if not hmac.compare_digest(token, self._token):
                    raise FrameError("a frame without this channel's token")
                if sequence != self._sequence:
                    raise FrameError(f"frame number {sequence} where {self._sequence} was due")
                if size > MAX_EVENT_FRAME:
                    raise FrameError(f"frame of {size} bytes exceeds the {MAX_EVENT_FRAME}-byte limit")
                end = start + HEADER.size + size
                if len(buffer) < end:
                    break
                event = decode_payload(bytes(memoryview(buffer)[start + HEADER.size : end]))
                self._follow(event)
                start = end
                self._sequence += 1
                decoded.append(event)
        except FrameError as error:
            raise FrameError(str(error), list(decoded)) from None
        finally:
            del buffer[:start]
        return decoded

    def _follow(self, event: Event) -> None:
        """The grammar: raises ``FrameError`` for an event the child would never send at this point."""
        if self._done and not isinstance(event, _AFTER_COMPLETION):
            raise FrameError(f"a {type(event).__name__} frame after the scenario's completion event")
        if isinstance(event, CallStarted):
            self._open_calls[event.thread] = event.entry
        elif isinstance(event, CallFinished):
            self._open_calls.pop(event.thread, None)
        elif isinstance(event, HarnessError):
            self._harness_error = True  # a validator bug may abandon a call: the verdict is an error anyway
        elif isinstance(event, ScenarioDone):
            if event.frames != self._received:
                raise FrameError(
                    f"a completion event counting {event.frames} frames where the server received {self._received}"
                )
            if self._open_calls and not self._harness_error:
                raise FrameError(f"a completion event while {', '.join(self._open_calls.values())} was in flight")
            self._done = True
        elif isinstance(event, ScenarioBoundary):
            if not self._shared:
                raise FrameError("a scenario boundary from a child that runs one scenario")
            if not self._done:
                raise FrameError("a scenario boundary before the scenario's completion event")
            self._received, self._done, self._harness_error = 0, False, False
            self._open_calls.clear()
            return
        self._received += 1

    def end(self) -> None:
        """At the end of the stream: leftover bytes that cannot begin one of our frames are the plugin's.

        A frame cut short after a good header is the child dying while it wrote (a crash, judged as one).
        """
        if self._buffer and len(self._buffer) < HEADER.size:
            raise FrameError(f"the stream ended on {len(self._buffer)} bytes that are not a frame")

    @property
    def completed(self) -> bool:
        """The (current) scenario's completion event has been received and accepted."""
        return self._done

    @property
    def pending(self) -> int:
        return len(self._buffer)
