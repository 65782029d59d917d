"""Adding an agency to topics.yaml as text, so its comments and layout stay as they are.

Pure: text in, text out. The result is validated with `topics_spec.parse_topics` by the
caller before anything is written.
"""

from __future__ import annotations

import re

import yaml

_TOP_LEVEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:")


class TopicsEditFailed(ValueError):
    """topics.yaml does not have the shape the scaffold can extend (say which part)."""


def _end_of_section(lines: list[str], key: str) -> int:
    """Index where new list items of top-level `key` go: before the next top-level key,
    above the comment block and blank lines that introduce that key."""
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    except StopIteration:
        raise TopicsEditFailed(f"topics.yaml has no top-level `{key}:`") from None
    end = next(
        (i for i in range(start + 1, len(lines)) if _TOP_LEVEL_KEY.match(lines[i])), len(lines)
    )
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return end


def _flow_item(value: str) -> str:
    return value if re.fullmatch(r"[a-z][a-z0-9.-]*", value) else f'"{value}"'


def add_to_flow_list(text: str, topic: str, field: str, value: str) -> str:
    """`value` in the one-line `field: [...]` (producers, consumers) of topic `topic`."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {topic}")
    except StopIteration:
        raise TopicsEditFailed(f"topics.yaml has no `- name: {topic}` entry") from None
    indent = len(lines[start]) - len(lines[start].lstrip())
    for i in range(start + 1, len(lines)):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("- ") and len(line) - len(line.lstrip()) <= indent:
            break  # the next entry: no such line in this one
        match = re.match(rf"^(\s+{field}:\s*)(\[.*\])\s*$", line)
        if match:
            listed_now = yaml.safe_load(match.group(2))
            if value in listed_now:
                return text
            # keep the municipality pattern last, as the file has it
            patterns = [p for p in listed_now if "{" in p]
            listed = [p for p in listed_now if "{" not in p] + [value] + patterns
            lines[i] = f"{match.group(1)}[{', '.join(_flow_item(p) for p in listed)}]\n"
            return "".join(lines)
    raise TopicsEditFailed(f"the `{topic}` entry has no one-line `{field}: [...]`")


def add_dead_letter_producer(text: str, agency: str, topic: str = "deadletter") -> str:
    """`agency` (or its agency service) among the producers of the dead-letter topic (the
    service dead-letters refused records)."""
    return add_to_flow_list(text, topic, "producers", agency)


def add_fingerprint_access(text: str, service: str, topic: str = "intake.fingerprints") -> str:
    """The agency service among the producers and consumers of the ref fingerprints
    (docs/intake-trust.md); a topics.yaml without that topic is left as it is."""
    if f"- name: {topic}" not in text:
        return text
    text = add_to_flow_list(text, topic, "producers", service)
    return add_to_flow_list(text, topic, "consumers", service)


def add_agency(
    text: str,
    agency_block: str,
    topics_block: str,
    code: str,
    service_block: str | None = None,
    service: str | None = None,
) -> str:
    """topics.yaml with the agency entry, its topics, its agency service (the principal
    the service runs as) and that service's dead-letter grant added."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    at = _end_of_section(lines, "agencies")
    lines[at:at] = [agency_block if agency_block.endswith("\n") else agency_block + "\n"]
    if service_block is not None:
        at = _end_of_section(lines, "services")
        lines[at:at] = [service_block if service_block.endswith("\n") else service_block + "\n"]
    at = _end_of_section(lines, "topics")
    block = topics_block if topics_block.endswith("\n") else topics_block + "\n"
    lines[at:at] = ["\n", block]
    text = add_dead_letter_producer("".join(lines), service or code)
    return add_fingerprint_access(text, service) if service else text
