"""The documentation holds together: links resolve, the front door stays small, every
command it lists runs, and every "rule N" in the code points at its page."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 15 * 1024

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
_CODE_CITATION = re.compile(r"\bdocs/([\w.-]+\.md)(?:#([\w-]+))?")
_RULE_MENTION = re.compile(r"\b[Rr]ules? (\d(?:(?:-|, | and )\d)*)")


def prose(text: str) -> str:
    """Markdown without its fenced code blocks (links there are examples, not links)."""
    return _FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_~]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = prose(page.read_text(encoding="utf-8"))
    found: set[str] = set(_HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(text):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def broken_links(page: Path) -> list[str]:
    broken: list[str] = []
    for target in _LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{page.name}: {target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{page.name}: {target} (no such anchor)")
    return broken


def expand_rules(spec: str) -> set[int]:
    """`1, 2, 4-8` -> {1, 2, 4, 5, 6, 7, 8}."""
    numbers: set[int] = set()
    for part in re.split(r", | and ", spec):
        low, _, high = part.partition("-")
        numbers |= set(range(int(low), int(high or low) + 1))
    return numbers


def cli_commands() -> list[list[str]]:
    """Every command and subcommand in README's command-line table (`a \\| b` alternatives)."""
    text = README.read_text(encoding="utf-8")
    table = text.split("## The command line", 1)[1].split("\n## ", 1)[0]
    commands: list[list[str]] = []
    for row in (line for line in table.splitlines() if line.startswith("| `ketenbus")):
        first_cell = row.split(" | ", 1)[0]
        for usage in re.findall(r"`ketenbus ([^`]+)`", first_cell):
            base: list[str] = []
            for n, alternative in enumerate(usage.split(r" \| ")):
                words = []
                for token in alternative.split():
                    if not re.fullmatch(r"[a-z][a-z-]*", token):
                        break
                    words.append(token)
                if n == 0:
                    base = words
                    commands.append(words)
                else:  # an alternative replaces the last word(s) of the first usage
                    commands.append(base[: max(0, len(base) - len(words))] + words)
    return commands


class TestLinks:
    """Every relative link in README.md and docs/*.md reaches its file and anchor."""

    @pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
    def test_links_resolve(self, page: Path) -> None:
        assert [] == broken_links(page)

    def test_checker_sees_a_broken_anchor(self, tmp_path: Path) -> None:
        (tmp_path / "a.md").write_text("# Top\n[x](b.md#nope) [y](b.md#rule-1) [z](#top)\n")
        (tmp_path / "b.md").write_text('<a id="rule-1"></a>\n## Rule one\n')
        assert ["a.md: b.md#nope (no such anchor)"] == broken_links(tmp_path / "a.md")

    def test_slug_follows_github(self) -> None:
        assert ["4-topicsyaml", "9-notifications-for-the-new-agency"] == [
            slug("4 topics.yaml"),
            slug("9 Notifications for the new agency"),
        ]


class TestFrontDoor:
    """README.md is the front door: small, with the command table it promises."""

    def test_readme_is_small(self) -> None:
        size = len(README.read_bytes())
        assert size < README_LIMIT, f"README.md is {size} bytes"

    def test_table_parses(self) -> None:
        commands = cli_commands()
        assert (True, True) == (["kafka", "down"] in commands, ["topics", "acls"] in commands)


class TestCommandsRun:
    """Every command and subcommand README lists runs `--help` through the console script."""

    @pytest.mark.parametrize("words", cli_commands(), ids=" ".join)
    def test_help(self, words: list[str]) -> None:
        script = Path(sys.executable).parent / "ketenbus"
        done = subprocess.run(
            [str(script), *words, "--help"], capture_output=True, text=True, timeout=120
        )
        assert (0, "") == (done.returncode, done.stderr if done.returncode else "")


class TestRuleCitations:
    """A module that speaks of rule N cites its anchor on docs/correlation.md (or the section
    of all rules), and every page and anchor the code cites exists."""

    SOURCES = sorted([*(ROOT / "services").rglob("*.py"), *(ROOT / "tests").rglob("*.py")])

    def test_every_rule_mentioned_is_cited(self) -> None:
        uncited = []
        for path in self.SOURCES:
            if path == Path(__file__).resolve():
                continue
            text = path.read_text(encoding="utf-8")
            mentioned = {n for spec in _RULE_MENTION.findall(text) for n in expand_rules(spec)}
            citations = {a for page, a in _CODE_CITATION.findall(text) if page == "correlation.md"}
            if "rules" in citations:  # the section of all nine rules
                continue
            cited = {int(a.removeprefix("rule-")) for a in citations if a.startswith("rule-")}
            uncited += [f"{path.relative_to(ROOT)}: rule {n}" for n in sorted(mentioned - cited)]
        assert [] == uncited

    def test_citations_resolve(self) -> None:
        broken = []
        for path in self.SOURCES:
            if path == Path(__file__).resolve():
                continue
            for page, anchor in _CODE_CITATION.findall(path.read_text(encoding="utf-8")):
                target = ROOT / "docs" / page
                if not target.is_file() or (anchor and anchor not in anchors(target)):
                    broken.append(f"{path.relative_to(ROOT)}: docs/{page}#{anchor}")
        assert [] == broken

    def test_rule_ranges_expand(self) -> None:
        assert {1, 2, 4, 5, 6, 7, 8} == expand_rules("1, 2, 4-8")
