"""The report as one web page: ``report.html``, self-contained (every image inlined as base64, no
script, no font or style sheet fetched), readable on a laptop screen and in print.

The report's writer (evaluation/report.py) fills it section by section beside report.md::

    page = ReportPage("Training report")
    summary = page.section("Summary")
    summary.table(header, rows, decimals)
    summary.image(out / "accuracy.png", "accuracy curves")
    page.write(out / "report.html")

Tables from elsewhere (e.g. significance verdicts) go into any section with ``table``; the
``significance`` slot (``page.section("Significance", key=SIGNIFICANCE)``) renders what they add,
and ``add_csv_tables`` renders CSV files of a pattern found in the output folder.
"""

from __future__ import annotations

import base64
import csv
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

SIGNIFICANCE = "significance"  # the slot for statistical verdicts (see add_csv_tables)

CSS = """
:root { --ink: #1d1d1f; --muted: #5f6368; --rule: #d9dce1; --band: #f4f6f8; --good: #1b7f3b; --bad: #b3261e; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1180px; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.8rem; margin: 0 0 .3rem; } h2 { font-size: 1.35rem; margin: 2.2rem 0 .6rem;
  border-bottom: 2px solid var(--rule); padding-bottom: .2rem; } h3 { font-size: 1.08rem; margin: 1.4rem 0 .4rem; }
p.note, figcaption, .caption { color: var(--muted); font-size: .9rem; }
nav { background: var(--band); padding: .5rem .9rem; border-radius: 6px; font-size: .92rem; }
nav a { margin-right: 1rem; color: #1a5fb4; text-decoration: none; white-space: nowrap; }
.scroll { overflow-x: auto; }
.tiles { display: flex; flex-wrap: wrap; gap: 0 2.2rem; align-items: flex-start; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .9rem; font-variant-numeric: tabular-nums; }
th, td { padding: .28rem .6rem; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
th { background: var(--band); font-weight: 600; } td.num { text-align: right; }
tbody tr:nth-child(even) td { background: #fafbfc; }
figure { margin: .6rem 0 1.2rem; } figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: .8rem; }
.card { border: 1px solid var(--rule); border-radius: 6px; padding: .45rem; break-inside: avoid; }
.card .pair { display: grid; grid-template-columns: 1fr 1fr; gap: .3rem; }
.card img { width: 100%; height: auto; image-rendering: pixelated; display: block; }
.card .caption { margin-top: .3rem; line-height: 1.3; word-break: break-all; }
.ok { color: var(--good); font-weight: 600; } .wrong { color: var(--bad); font-weight: 600; }
.row-label { font-size: .85rem; font-weight: 600; margin: .5rem 0 .25rem; color: var(--muted); }
@media (max-width: 700px) { body { padding: 1rem; } .gallery { grid-template-columns: 1fr 1fr; } }
@media print {
  @page { size: A4; margin: 14mm 12mm; }
  body { font-size: 10pt; max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-after: avoid; } table, figure, .card { break-inside: avoid; }
  .gallery { grid-template-columns: repeat(4, 1fr); gap: 4mm; }
  a { color: inherit; text-decoration: none; }
}
"""


def _cell(value: Any, decimals: Optional[int]) -> tuple[str, bool]:
    """(text, numeric) of one table cell."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, (int, float)):
        if decimals is not None:
            return f"{value:.{decimals}f}", True
        return (f"{value:,}" if isinstance(value, int) and value >= 10_000 else str(value)), True
    return str(value), False


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


@dataclass
class Section:
    title: str
    key: str
    parts: list[str] = field(default_factory=list)

    def text(self, text: str, note: bool = False) -> None:
        self.parts.append(f'<p{" class=note" if note else ""}>{html.escape(text)}</p>')

    def html(self, fragment: str) -> None:
        """Markup written by this package (not from a file the report reads)."""
        self.parts.append(fragment)

    def tiles(self, tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]], Sequence[Optional[int]]]]
              ) -> None:
        """Small tables side by side (title, header, rows, decimals), wrapping on a narrow screen."""
        parts, self.parts = self.parts, []
        for title, header, rows, decimals in tables:
            self.parts.append("<div>")
            self.heading(title)
            self.table(header, rows, decimals)
            self.parts.append("</div>")
        parts.append("<div class=tiles>" + "".join(self.parts) + "</div>")
        self.parts = parts

    def heading(self, title: str) -> None:
        self.parts.append(f"<h3>{html.escape(title)}</h3>")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]],
              decimals: Optional[Sequence[Optional[int]]] = None, caption: str = "") -> None:
        decimals = list(decimals) if decimals is not None else [None] * len(header)
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = []
        for row in rows:
            cells = []
            for value, d in zip(row, decimals):
                text, numeric = _cell(value, d)
                cells.append(f'<td{" class=num" if numeric else ""}>{html.escape(text)}</td>')
            body.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption class=caption>{html.escape(caption)}</caption>" if caption else ""
        self.parts.append(f"<div class=scroll><table>{cap}<thead><tr>{head}</tr></thead>"
                          f"<tbody>{''.join(body)}</tbody></table></div>")

    def image(self, image: Path | bytes, alt: str, caption: str = "") -> None:
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.parts.append(f'<figure><img src="{data_uri(data)}" alt="{html.escape(alt)}">{cap}</figure>')


class ReportPage:
    def __init__(self, title: str) -> None:
        self.title = title
        self.intro: list[str] = []
        self.sections: list[Section] = []

    def section(self, title: str, key: Optional[str] = None) -> Section:
        """The section ``key`` (default: the title), made at the end of the page if new."""
        key = key or title
        for existing in self.sections:
            if existing.key == key:
                return existing
        self.sections.append(Section(title, key))
        return self.sections[-1]

    def render(self) -> str:
        shown = [s for s in self.sections if s.parts]
        nav = "".join(f'<a href="#s{i}">{html.escape(s.title)}</a>' for i, s in enumerate(shown))
        body = "".join(f'<section id="s{i}"><h2>{html.escape(s.title)}</h2>{"".join(s.parts)}</section>'
                       for i, s in enumerate(shown))
        return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
                '<meta name=viewport content="width=device-width, initial-scale=1">'
                f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head>"
                f"<body><h1>{html.escape(self.title)}</h1>{''.join(self.intro)}<nav>{nav}</nav>{body}</body></html>\n")

    def write(self, path: Path) -> Path:
        path.write_text(self.render(), encoding="utf-8")
        return path


def add_csv_tables(page: ReportPage, folder: Path, pattern: str, title: str, key: str) -> int:
    """Every CSV file ``folder/pattern`` as a table of section ``key``; how many there were.

    The hook for tables other modules write next to the report (significance verdicts:
    ``significance*.csv``): whatever exists when the page is written is shown, numbers as written.
    """
    found = sorted(folder.glob(pattern))
    for path in found:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            continue
        section = page.section(title, key)
        section.heading(path.stem.replace("_", " "))
        section.table(rows[0], [[_number(v) for v in row] for row in rows[1:]], caption=f"from {path.name}")
    return len(found)


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text) if text.strip() else None
        except ValueError:
            return text
