"""The ABI reference shipped with the tool, looked up by the section numbers checks cite.

Every check names its rule as "ABI.md 4.12, 8.6; HOST.md 1.5": the section
numbers of upstream's two reference documents. Those documents are not part
of an installed tool, so ``data/abi-reference.md`` restates the cited sections
for plugin authors under the same numbers (``docs/abi-reference.md`` is the
same text), and ``conformance explain`` prints the sections a check cites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

DATA_PATH = "data/abi-reference.md"
DOCUMENTS = ("ABI.md", "HOST.md")
_HEADING = re.compile(r"^(#{2,3}) (ABI\.md|HOST\.md) (\d+(?:\.\d+)?) (.*)$")
_NUMBER = re.compile(r"^(\d+)(?:\.(\d+))?(?:-(\d+)(?:\.(\d+))?)?")


@dataclass(frozen=True)
class Section:
    document: str
    number: str
    title: str
    body: str

    @property
    def heading(self) -> str:
        return f"{self.document} \u00a7{self.number} {self.title}"


@lru_cache(maxsize=1)
def sections() -> dict[tuple[str, str], Section]:
    """Every section of the reference, keyed by (document, number)."""
    text = resources.files("conformance").joinpath(DATA_PATH).read_text(encoding="utf-8")
    found: dict[tuple[str, str], Section] = {}
    current: tuple[str, str, str] | None = None
    lines: list[str] = []

    def close() -> None:
        if current is not None:
            document, number, title = current
            found[(document, number)] = Section(document, number, title, "\n".join(lines).strip())

    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            close()
            current, lines = (match.group(2), match.group(3), match.group(4)), []
        elif line.startswith("#"):
            close()
            current, lines = None, []
        else:
            lines.append(line)
    close()
    return found


def cited(abi_ref: str) -> list[tuple[str, str]]:
    """``"ABI.md 1.2 step 4, 2.1; HOST.md 3.1-3.2"`` -> [(ABI.md, 1.2), (ABI.md, 2.1), (HOST.md, 3.1), (HOST.md, 3.2)].

    A part without a document name continues the previous document; words
    after the number (``step 4``, ``C2``, ``(registration)``) narrow the
    section and are dropped; a range ``a.b-a.c`` names every section in it.
    """
    result: list[tuple[str, str]] = []
    document = DOCUMENTS[0]
    for part in re.split(r"[;,]", abi_ref):
        words = part.strip()
        for name in DOCUMENTS:
            if words.startswith(name):
                document, words = name, words[len(name) :].strip()
        match = _NUMBER.match(words)
        if not match:
            continue
        major, minor, end_major, end_minor = match.groups()
        if end_major is not None and end_minor is not None and minor is not None and end_major == major:
            numbers = [f"{major}.{n}" for n in range(int(minor), int(end_minor) + 1)]
        elif end_major is not None and end_minor is None and minor is None:
            numbers = [str(n) for n in range(int(major), int(end_major) + 1)]
        else:
            numbers = [f"{major}.{minor}" if minor is not None else major]
        for number in numbers:
            if (document, number) not in result:
                result.append((document, number))
    return result


def section_text(document: str, number: str) -> str | None:
    """The section's text; a section that only groups subsections lists their titles."""
    found = sections().get((document, number))
    if found is None:
        return None
    if found.body:
        return found.body
    children = [s for (d, n), s in sections().items() if d == document and n.startswith(number + ".")]
    return "\n".join(f"* {child.heading}" for child in children)


def render_cited(abi_ref: str) -> str:
    """The cited sections for a terminal, each under its heading."""
    blocks = []
    for document, number in cited(abi_ref):
        text = section_text(document, number)
        found = sections().get((document, number))
        if text is None or found is None:
            blocks.append(f"{document} \u00a7{number}: not in the shipped reference")
            continue
        blocks.append(f"{found.heading}\n\n{text}")
    return "\n\n".join(blocks)


if __name__ == "__main__":
    import sys

    sys.stdout.write(resources.files("conformance").joinpath(DATA_PATH).read_text(encoding="utf-8"))
