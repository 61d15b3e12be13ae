"""The demo's ``index.html``: one self-contained page (plain CSS, no scripts, no network) linking
the figures' PNG files in the same folder by relative names, with an explanation of each figure and
what produced it (conditions, plan, seed, timing), or a labelled note where a figure was skipped.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from omnimask.demo.context import Figure

CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
.lead { color: #555; }
.banner { background: #fff4d6; border: 1px solid #e0b84c; padding: 0.8em 1em; border-radius: 6px; }
figure { margin: 2.2em 0; padding-top: 1em; border-top: 1px solid #ddd; }
figure img { max-width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #ccc; }
figcaption h2 { margin: 0 0 0.3em 0; font-size: 1.25em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 1em; font-size: 0.92em; }
dt { font-weight: 600; color: #444; }
dd { margin: 0; }
.note { background: #f3f3f3; border-left: 4px solid #999; padding: 0.5em 0.8em; }
code { background: #f3f3f3; padding: 0 0.25em; }
table { border-collapse: collapse; font-size: 0.92em; }
td, th { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def figure_html(fig: Figure) -> str:
    """One ``<figure>``: the picture (or a note), and a caption with title, explanation and details."""
    parts = [f'<figure id="{_e(fig.slug)}">']
    if fig.image is not None:
        parts.append(f'<img src="{_e(fig.slug)}.png" alt="{_e(fig.title)}">')
    details = [("conditions", fig.conditions), ("plan", fig.plan),
               ("seed", "" if fig.seed is None else fig.seed), ("time", f"{fig.seconds:.1f} s")]
    details += [("measured", fact) for fact in fig.facts]
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in details if v != "")
    note = f'<p class="note">{_e(fig.note)}</p>' if fig.note else ""
    parts.append(f"<figcaption><h2>{_e(fig.title)}</h2><p>{_e(fig.explanation)}</p>{note}<dl>{rows}</dl>"
                 "</figcaption></figure>")
    return "".join(parts)


def write_page(out: str | Path, title: str, lead: Sequence[str], figures: Sequence[Figure],
               banner: str = "", extra: Sequence[tuple[str, str, str]] = ()) -> Path:
    """Write ``out/index.html``; ``figures`` whose image is set must already be saved as ``<slug>.png``.

    Args:
        out: the output folder.
        title: page title.
        lead: paragraphs under the title (model, seed, total time).
        figures: the figures, in order.
        banner: a highlighted message at the top (e.g. no shipped model found).
        extra: more pictures as (file name, heading, caption) — the SynthWorld preview of the fallback.
    """
    out = Path(out)
    body = [f"<h1>{_e(title)}</h1>", *[f'<p class="lead">{_e(p)}</p>' for p in lead]]
    if banner:
        body.append(f'<p class="banner">{_e(banner)}</p>')
    if figures:
        items = "".join(f'<li><a href="#{_e(f.slug)}">{_e(f.title)}</a> — {f.seconds:.1f} s'
                        f"{' (skipped)' if f.skipped else ''}</li>" for f in figures)
        body.append(f"<ol>{items}</ol>")
    body += [figure_html(f) for f in figures]
    for name, heading, caption in extra:
        body.append(f'<figure id="{_e(Path(name).stem)}"><img src="{_e(name)}" alt="{_e(heading)}">'
                    f"<figcaption><h2>{_e(heading)}</h2><p>{_e(caption)}</p></figcaption></figure>")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
