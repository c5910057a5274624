"""metadata: the static description the host copies at load (ABI.md 4.2, 5.11, 8.2; HOST.md 6.2).

Most checks share one reading of the metadata and look for their own issue
codes in it; the stability checks call get_metadata repeatedly, from several
threads and around instance activity.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from conformance.abi import ffi
from conformance.checks.common import valid_params
from conformance.checks.model import Applicability, Severity
from conformance.checks.registry import FamilyRow, check, declare_family
from conformance.checks.traffic import drive
from conformance.host.instance import Instance
from conformance.host.metadata import MetadataReading, NodeMetadata, count_overruns, read_metadata
from conformance.scenario.context import Scenario, ScenarioContext, ScenarioSkip

POINTER_CALLS = 51
READER_THREADS = 8
READS_PER_THREAD = 25
#: What one thread reads at most, in bytes of decoded metadata: valid metadata may hold megabytes of text
#: (the ABI sets no limit), and 200 full reads of an 80 MiB description would outlast any budget.
BYTES_PER_THREAD = 64 << 20


def _reading(ctx: ScenarioContext) -> MetadataReading:
    reading: MetadataReading = ctx.plugin.metadata
    ctx.observe("metadata_pointer", f"0x{reading.pointer:x}")
    return reading


@dataclass(frozen=True, kw_only=True)
class IssueCheck(FamilyRow):
    """A check that passes when the shared metadata reading has none of its issue ``codes``."""

    codes: tuple[str, ...]
    what: str


def _issue_scenario(row: IssueCheck) -> Scenario:
    def scenario(ctx: ScenarioContext) -> None:
        reading = _reading(ctx)
        if reading.pointer == 0:
            ctx.skip("get_metadata returned NULL (see metadata.non-null)")
        found = [issue for issue in reading.issues if issue.code in row.codes]
        ctx.expect(not found, row.what, "; ".join(issue.message for issue in found))

    scenario.__name__ = "metadata_" + row.suffix.replace("-", "_")
    return scenario


#: Issues in where the arrays are; declared before ``metadata.counts-plausible``.
LAYOUT_ISSUES: tuple[IssueCheck, ...] = (
    IssueCheck(
        suffix="pointers-readable",
        codes=("pointer.unreadable",),
        what="every pointer in the metadata is readable",
        abi_ref="ABI.md 4.2",
        rationale="The host follows every pointer of the metadata at load; an unreadable one crashes it.",
    ),
    IssueCheck(
        suffix="arrays-non-null",
        codes=("array.null", "array.null-empty"),
        what="every array pointer is non-NULL, even when its count is 0",
        abi_ref="ABI.md 4.2, 8.2; HOST.md 1.2",
        rationale="The host builds slices from (pointer, count) without NULL checks: NULL with a count crashes it, "
        "NULL with 0 is undefined behaviour (debug hosts abort).",
    ),
    IssueCheck(
        suffix="arrays-aligned",
        codes=("array.misaligned",),
        what="every array pointer is 8-byte aligned",
        abi_ref="ABI.md 8.2",
        rationale="Rust slices require aligned pointers; a misaligned array is undefined behaviour in the host.",
    ),
)
#: Issues in what the arrays hold; declared after ``metadata.counts-plausible``.
CONTENT_ISSUES: tuple[IssueCheck, ...] = (
    IssueCheck(
        suffix="utf8",
        codes=("string.utf8",),
        what="every string is valid UTF-8",
        abi_ref="ABI.md 4.2, 5.12",
        rationale="The host refuses to load a plugin whose kind, description, pin names, schema or categories are not UTF-8.",
    ),
    IssueCheck(
        suffix="enum-ranges",
        codes=("enum.packet-type", "enum.sample-format", "enum.pixel-format"),
        what="every enum value is within its range",
        abi_ref="ABI.md 3.1, 3.2; HOST.md 1.2",
        rationale="Enums are read as Rust enums; an out-of-range discriminant is undefined behaviour in the host.",
    ),
    IssueCheck(
        suffix="pin-type-pointers",
        codes=("pin.missing-format", "pin.missing-type-id"),
        what="each pin type carries the pointer its discriminant requires",
        abi_ref="ABI.md 5.11",
        rationale="RawAudio needs audio_format, RawVideo raw_video_format and Custom custom_type_id, else the load fails.",
    ),
    IssueCheck(
        suffix="codec-names",
        codes=("pin.codec-unknown",),
        what="codec names are exactly one of opus, aac, vp9, h264, av1",
        abi_ref="ABI.md 5.11",
        rationale="The host refuses an EncodedAudio/EncodedVideo pin whose codec name it does not know (lowercase, strict).",
    ),
    IssueCheck(
        suffix="codec-present",
        codes=("pin.codec-missing",),
        what="encoded pins name their codec",
        abi_ref="ABI.md 5.11",
        rationale="Without a codec name the host falls back to Binary (video) or Opus (audio) with a warning.",
        severity=Severity.RECOMMENDED,
    ),
    IssueCheck(
        suffix="kind",
        codes=("kind.null", "kind.empty", "kind.reserved"),
        what="the kind is a non-empty string without '::' and not under 'core::'",
        abi_ref="ABI.md 1.2 (registration), 8.2",
        rationale="The host namespaces kinds as plugin::native::<kind> and rejects '::' and 'core::'; "
        "a NULL or empty kind registers as 'plugin::native::'.",
    ),
    IssueCheck(
        suffix="param-schema-json",
        codes=("schema.json",),
        what="param_schema is NULL, empty or valid JSON",
        abi_ref="ABI.md 4.2",
        rationale="The host refuses to load a plugin whose param_schema does not parse ('Failed to parse param schema JSON').",
    ),
)
declare_family("metadata.", LAYOUT_ISSUES, _issue_scenario)


@check(
    "metadata.counts-plausible",
    abi_ref="ABI.md 4.2, 8.2; Appendix A.5",
    rationale="Counts are trusted by the host: a garbage count reads far out of bounds, and a count larger than "
    "the array makes it read the next object as one more pin, type or category.",
)
def counts_plausible(ctx: ScenarioContext) -> None:
    reading = _reading(ctx)
    if reading.pointer == 0:
        ctx.skip("get_metadata returned NULL (see metadata.non-null)")
    found = [issue for issue in reading.issues if issue.code == "count.implausible"] + count_overruns(reading)
    ctx.observe("arrays_judged", len(reading.arrays))
    ctx.expect(
        not found,
        "every count is plausible (at most 4096, and no more than its array holds)",
        "; ".join(issue.message for issue in found),
    )


declare_family("metadata.", CONTENT_ISSUES, _issue_scenario)


@check(
    "metadata.non-null",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.2",
    rationale="A NULL metadata pointer fails the load with 'Plugin metadata is null'.",
)
def non_null(ctx: ScenarioContext) -> None:
    reading = _reading(ctx)
    ctx.expect(reading.pointer != 0, "get_metadata returns a non-NULL pointer", "Plugin metadata is null")


@check(
    "metadata.param-schema-object",
    severity=Severity.RECOMMENDED,
    abi_ref="HOST.md 6.2",
    rationale="A param schema is merged into the UI's schema; anything but a JSON object (or nothing) is useless there.",
)
def schema_is_object(ctx: ScenarioContext) -> None:
    reading = _reading(ctx)
    metadata = reading.metadata
    if metadata is None or not metadata.param_schema:
        ctx.expect(True, "no param schema")
        return
    try:
        value = json.loads(metadata.param_schema)
    except ValueError:
        ctx.skip("param_schema is not JSON (see metadata.param-schema-json)")
        return
    ctx.expect(isinstance(value, dict), "param_schema is a JSON object", f"it is a JSON {type(value).__name__}")


@check(
    "metadata.pin-names",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 4.2",
    rationale="The host does not check pin names, but empty or duplicate names make pins impossible to wire.",
)
def pin_names(ctx: ScenarioContext) -> None:
    metadata = _reading(ctx).metadata
    if metadata is None:
        ctx.skip("metadata is unusable")
        return
    for side, names in (("input", [p.name for p in metadata.inputs]), ("output", [p.name for p in metadata.outputs])):
        dupes = sorted({name for name in names if names.count(name) > 1})
        ctx.expect(all(names), f"every {side} pin has a name")
        ctx.expect(not dupes, f"{side} pin names are unique", ", ".join(dupes))


@check(
    "metadata.source-inputs",
    severity=Severity.RECOMMENDED,
    abi_ref="ABI.md 1.2 (registration), 8.2",
    rationale="The host registers source plugins with no input pins whatever they declare; declared inputs are dead.",
    applies=Applicability(node_kinds=frozenset({"source"})),
)
def source_inputs(ctx: ScenarioContext) -> None:
    metadata = _reading(ctx).metadata
    if metadata is None:
        ctx.skip("metadata is unusable")
        return
    ctx.expect(not metadata.inputs, "a source declares no input pins", ", ".join(p.name for p in metadata.inputs))


def _snapshot(ctx: ScenarioContext) -> tuple[int, bytes, object]:
    pointer = ctx.plugin.metadata_pointer()
    reading = read_metadata(pointer)
    return reading.pointer, reading.raw, reading.metadata


@check(
    "metadata.stable-pointer",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.2, 8.2",
    rationale="The returned struct must stay valid and unchanged while the library is loaded: the same pointer every call.",
)
def stable_pointer(ctx: ScenarioContext) -> None:
    first = _reading(ctx)
    pointers = {first.pointer}
    for _ in range(POINTER_CALLS - 1):
        pointers.add(int(ffi().cast("uintptr_t", ctx.plugin.metadata_pointer())))
    ctx.expect(
        len(pointers) == 1,
        f"get_metadata returns the same pointer on {POINTER_CALLS} calls",
        f"{len(pointers)} distinct pointers: " + ", ".join(f"0x{p:x}" for p in sorted(pointers)[:5]),
    )


@check(
    "metadata.stable-content",
    severity=Severity.REQUIRED,
    abi_ref="ABI.md 4.2, 8.2",
    rationale="Metadata content must be byte-identical before and after instances are created, used and destroyed, "
    "and after running packets (the host copies it once, at load; later readers see the same storage).",
)
def stable_content(ctx: ScenarioContext) -> None:
    first = _reading(ctx)
    if first.metadata is None:
        ctx.skip("metadata is unusable")
    before = _snapshot(ctx)
    if ctx.plugin.missing_required():
        ctx.skip("required entries are NULL")
    for _ in range(3):
        instance = Instance.create(ctx.plugin, None)
        if instance is not None:
            instance.destroy()
    after = _snapshot(ctx)
    ctx.expect(before[2] == first.metadata, "decoded metadata is identical on the second call")
    ctx.expect(
        after[2] == first.metadata,
        "decoded metadata is identical after instances were created and destroyed",
        _changes(first.metadata, after[2]),
    )
    ctx.expect(before[1] == after[1], "the CNodeMetadata struct bytes do not change")
    ran = _run_packets(ctx)
    ctx.observe("traffic", ran)
    if ran.startswith("not run"):
        return
    late = _snapshot(ctx)
    ctx.expect(
        late[2] == first.metadata and late[1] == first.raw,
        f"metadata is unchanged after running packets ({ran})",
        _changes(first.metadata, late[2]) or "the CNodeMetadata struct bytes changed",
    )


def _run_packets(ctx: ScenarioContext) -> str:
    """The ordinary traffic on one instance with valid params (ABI.md 8.2: "after running packets")."""
    try:
        instance = Instance.create(ctx.plugin, valid_params(ctx))
        if instance is None:
            return "not run: create_instance with valid params returned NULL"
        try:
            run = drive(ctx, instance)
        finally:
            instance.destroy()
    except ScenarioSkip as skipped:
        return f"not run: {skipped}"
    return f"{len(run.results)} calls, {len(run.outputs)} outputs"


def _changes(before: NodeMetadata | None, after: object) -> str:
    """The first fields that differ, for the report."""
    if before is None or not isinstance(after, NodeMetadata):
        return f"now {after!r}"[:300]
    old, new = before.as_json(), after.as_json()
    changed = [f"{key}: {old[key]!r} -> {new[key]!r}" for key in old if old[key] != new[key]]
    return "; ".join(changed)[:600]


@check(
    "metadata.threads",
    severity=Severity.REQUIRED,
    abi_ref="HOST.md 6.2",
    rationale="Metadata storage is shared process-wide; 8 threads calling get_metadata at once must all see "
    "one pointer and one content.",
)
def metadata_threads(ctx: ScenarioContext) -> None:
    first = _reading(ctx)
    if first.metadata is None:
        ctx.skip("metadata is unusable")
    barrier = threading.Barrier(READER_THREADS)
    seen: list[tuple[int, object]] = []
    lock = threading.Lock()
    reads = max(2, min(READS_PER_THREAD, BYTES_PER_THREAD // max(1, len(repr(first.metadata)))))

    def worker() -> None:
        barrier.wait()
        for _ in range(reads):
            snapshot = _snapshot(ctx)
            with lock:
                seen.append((snapshot[0], snapshot[2]))

    threads = [threading.Thread(target=worker, name=f"meta-{n}") for n in range(READER_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pointers = {pointer for pointer, _ in seen}
    contents = [content for _, content in seen if content != first.metadata]
    ctx.expect(pointers == {first.pointer}, "every thread sees the same pointer", f"{len(pointers)} distinct pointers")
    ctx.expect(not contents, "every thread decodes the same content", f"{len(contents)} differing readings")
