"""Rendering a report's blocks as Markdown and as a self-contained HTML page (figures embedded)."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlml.reports.records import (
    LEAK_TAG,
)

Block = tuple[Any, ...]


def _render_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            out.append(block[1])
        elif kind == "warn":
            out.append(f"> **Warning:** {block[1]}")
        elif kind == "table":
            header, body = block[1], block[2]
            esc = [[cell.replace("|", "\\|") for cell in cells] for cells in [header, *body]]
            out.append(
                "\n".join(
                    ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(header)]
                    + ["| " + " | ".join(cells) + " |" for cells in esc[1:]]
                )
            )
        elif kind == "list":
            out.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "details":
            fence = "````" if "```" in block[2] else "```"
            out.append(
                f"<details><summary>{html.escape(block[1])}</summary>\n\n{fence}\n{block[2]}\n{fence}\n\n</details>"
            )
        elif kind == "figure":
            png, pdf, caption = block[1:]
            out.append(f"![{caption}]({png})\n\n*{caption}* ([PDF]({pdf}))")
        elif kind == "headline":
            note, sentences, table = block[1:]
            out.append("## Headline")
            if table is not None:
                out.append(_render_markdown([("table", *table)]).rstrip("\n"))
            out.append("\n".join(f"- {sentence}" for sentence in sentences) if sentences else note)
            if sentences:
                out.append(f"*{note}*")
    return "\n\n".join(out) + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td:nth-child(-n+2), th:nth-child(-n+2) { text-align: left; }
.warn { background: #fff3cd; border-left: 4px solid #d39e00; padding: 0.5em 0.8em; }
.leak { background: #fde2e1; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-style: italic; font-size: 0.9em; }
.headline { background: #eef6ee; border-left: 4px solid #2e7d32; padding: 0.2em 1em 0.6em; }
.headline .note { font-size: 0.85em; color: #444; }
.headline td, .headline th { text-align: left; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
"""


def _render_html(blocks: Sequence[Block], title: str, run_dir: Path) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif kind == "p":
            out.append(f"<p>{e(block[1])}</p>")
        elif kind == "warn":
            out.append(f'<p class="warn"><strong>Warning:</strong> {e(block[1])}</p>')
        elif kind == "table":
            header, body = block[1], block[2]
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in header) + "</tr>")
            for cells in body:
                leak = any(LEAK_TAG in c for c in cells)
                out.append(
                    ('<tr class="leak">' if leak else "<tr>")
                    + "".join(f"<td>{e(c)}</td>" for c in cells)
                    + "</tr>"
                )
            out.append("</table>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "details":
            out.append(f"<details><summary>{e(block[1])}</summary><pre>{e(block[2])}</pre></details>")
        elif kind == "headline":
            note, sentences, table = block[1:]
            out.append('<section id="headline" class="headline"><h2>Headline</h2>')
            if table is not None:
                header, body = table
                out.append("<table>" + "<tr>" + "".join(f"<th>{e(c)}</th>" for c in header) + "</tr>"
                           + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>" for cells in body)
                           + "</table>")
            if sentences:
                out.append("<ul>" + "".join(f"<li>{e(s)}</li>" for s in sentences) + "</ul>")
            out.append(f'<p class="note">{e(note)}</p></section>')
        elif kind == "figure":
            png, pdf, caption = block[1:]
            data = base64.b64encode((run_dir / png).read_bytes()).decode("ascii")
            out.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{e(caption)}">'
                f'<figcaption>{e(caption)} (<a href="{e(pdf)}">PDF</a>, <a href="{e(png)}">PNG</a>)'
                "</figcaption></figure>"
            )
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
