#!/usr/bin/env python3
"""Checks every relative link of the repository's markdown documents: the file it names exists and,
for a `#anchor`, that file has a heading with that anchor (GitHub's rule: lower case, punctuation
other than '-' and '_' dropped, spaces to '-'). Links inside code blocks and absolute URLs are skipped.

    dev/check-doc-links.py            # README.md, docs/, dev/, cluster/, benchmarks/, clients/*/README.md
    dev/check-doc-links.py FILE.md... # just these

Prints each broken link and exits 1 when there is one. Standard library only."""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def slug(heading: str) -> str:
    heading = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return heading.replace(" ", "-")


def anchors(path: str) -> set[str]:
    out, fence = set(), False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"#{1,6} (.*)", line)):
            out.add(slug(m.group(1)))
    return out


def main(files: list[str]) -> int:
    if not files:
        patterns = ["README.md", "docs/*.md", "dev/*.md", "cluster/*.md", "benchmarks/**/*.md", "clients/*/README.md"]
        files = sorted({f for p in patterns for f in glob.glob(os.path.join(ROOT, p), recursive=True)})
    bad = checked = 0
    for f in files:
        text = re.sub(r"```.*?```", "", open(f, encoding="utf-8").read(), flags=re.S)
        for m in re.finditer(r"\[[^\]]*\]\(([^)\s]+)\)", text):
            url = m.group(1)
            checked += 1
            if re.match(r"[a-z]+://", url) or url.startswith("mailto:"):
                continue
            path, _, frag = url.partition("#")
            target = os.path.normpath(os.path.join(os.path.dirname(f), path)) if path else f
            name = os.path.relpath(f, ROOT)
            if not os.path.exists(target):
                print(f"{name}: link {url}: no such file")
                bad += 1
            elif frag and (not target.endswith(".md") or frag not in anchors(target)):
                print(f"{name}: link {url}: no heading #{frag} in {os.path.relpath(target, ROOT)}")
                bad += 1
    print(f"doc links: {checked} checked, {bad} broken")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
