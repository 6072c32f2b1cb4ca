"""Every relative link in README.md and docs/**/*.md leads to a file that exists.

The README links to the measurement reports in docs/measurements/, and the reports link to
their plots and numbers; a report moved or renamed must not leave a link to nothing. Links to
a heading (`page.md#heading`, `#heading`) must name a heading of that page.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])

# [text](target) and ![alt](target), and <img src="target">; a target ends at a space or ")".
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_SOURCE = re.compile(r"<img\s[^>]*src=\"([^\"]+)\"")
FENCE = re.compile(r"^(```|~~~)")


def prose_lines(text):
    """The lines outside fenced code blocks: links are only read there."""
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield line


def links(page):
    """The link targets of a page; a link's text may wrap onto the next line."""
    prose = "\n".join(prose_lines(page.read_text(encoding="utf-8")))
    for pattern in (MARKDOWN_LINK, HTML_SOURCE):
        yield from pattern.findall(prose)


def is_relative(target):
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)


def heading_anchors(page):
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to -."""
    anchors = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        title = re.sub(r"[`*_]|<[^>]+>", "", match.group(1)).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        base, n = slug, 1
        while slug in anchors:
            slug, n = f"{base}-{n}", n + 1
        anchors.add(slug)
    return anchors


def broken_links(page):
    broken = []
    for target in links(page):
        if not is_relative(target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file: {linked})")
        elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked):
            broken.append(f"{target} (no heading #{anchor} in {linked})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = broken_links(page)
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "plot.png").write_bytes(b"")
    page = tmp_path / "page.md"
    page.write_text(
        "# A report\n\n![plot](plot.png) [gone](missing.md) [up](#a-report) [a wrapped\n"
        'link](#no-such)\n<img src="lost.png">\n\n```\n[in code](not-a-link.md)\n```\n'
    )
    found = broken_links(page)
    assert [entry.split(" ")[0] for entry in found] == ["missing.md", "#no-such", "lost.png"]


def test_the_measurement_reports_are_indexed():
    index = ROOT / "docs" / "measurements" / "README.md"
    listed = {(index.parent / target).resolve() for target in links(index) if is_relative(target)}
    reports = set((ROOT / "docs" / "measurements").glob("*.md")) - {index}
    assert sorted(p.name for p in reports - listed) == []
