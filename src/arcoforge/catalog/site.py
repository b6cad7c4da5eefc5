"""``forge catalog html``: a static web site of the catalog that works from files.

A page opened from ``file://`` cannot fetch JSON, so every page embeds the data it
shows; the index filters an embedded list with a few lines of JavaScript.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from arcoforge.catalog.browse import Row, asset_urls, row, snippets
from arcoforge.catalog.registry import PREVIEW
from arcoforge.catalog.store import CATALOG, CatalogRoot, collection_name

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}
h1{font-size:1.6rem}table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4}.filters{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.filters label{display:flex;flex-direction:column;font-size:.85rem}
.status{padding:.1rem .45rem;border-radius:.3rem;font-size:.8rem;background:#e4f4e4}
.status.retracted{background:#f9d6d5}.status.superseded{background:#fbeccc}
.banner{padding:.8rem 1rem;border-radius:.4rem;background:#fbeccc;margin:1rem 0}
.banner.retracted{background:#f9d6d5}pre{background:#f6f8fa;padding:1rem;overflow:auto}
code{font-size:.9rem}img.preview{max-width:100%;border:1px solid #ddd}
dl{display:grid;grid-template-columns:max-content auto;gap:.3rem 1rem}dt{font-weight:600}
"""

_INDEX_SCRIPT = """
const rows = JSON.parse(document.getElementById('data').textContent);
const q = id => document.getElementById(id);
function render() {
  const text = q('search').value.trim().toLowerCase();
  const variable = q('variable').value, status = q('status').value;
  const from = q('from').value, to = q('to').value;
  let shown = 0;
  for (const r of rows) {
    const hay = [r.id, r.title, r.variables.join(' ')].join(' ').toLowerCase();
    const ok = (!text || hay.includes(text))
      && (!variable || r.variables.includes(variable))
      && (!status || r.status === status)
      && (!from || (r.end && r.end.slice(0, 10) >= from))
      && (!to || (r.start && r.start.slice(0, 10) <= to));
    document.getElementById('row-' + r.id).hidden = !ok;
    shown += ok ? 1 : 0;
  }
  q('count').textContent = shown + ' of ' + rows.length + ' datasets';
}
for (const id of ['search', 'variable', 'status', 'from', 'to']) {
  q(id).addEventListener('input', render);
  q(id).addEventListener('change', render);
}
render();
"""

_COPY_SCRIPT = """
document.getElementById('copy').addEventListener('click', async () => {
  const text = document.getElementById('snippet').textContent;
  try { await navigator.clipboard.writeText(text); }
  catch (e) {
    const area = document.createElement('textarea');
    area.value = text; document.body.appendChild(area); area.select();
    document.execCommand('copy'); area.remove();
  }
  document.getElementById('copy').textContent = 'Copied';
});
"""


def build_site(root: CatalogRoot, out: Path) -> list[Path]:
    """Write the site for the catalog at ``root`` into ``out``; returns the pages written."""
    collections = root.collections()
    out.mkdir(parents=True, exist_ok=True)
    (out / "datasets").mkdir(exist_ok=True)
    listing = [row(c) for c in collections]
    pages = [out / "index.html"]
    pages[0].write_text(_index(root, listing), encoding="utf-8")
    for collection, entry in zip(collections, listing, strict=True):
        preview = _copy_preview(root, collection, out / "datasets")
        page = out / "datasets" / f"{entry.id}.html"
        page.write_text(_dataset_page(root, collection, entry, preview), encoding="utf-8")
        pages.append(page)
    return pages


def _copy_preview(root: CatalogRoot, collection: dict[str, Any], folder: Path) -> str | None:
    """Copy the dataset's preview picture beside its page; its file name, or None."""
    if "thumbnail" not in collection.get("assets", {}):
        return None
    picture = root.read_bytes(f"{os.path.dirname(collection_name(collection['id']))}/{PREVIEW}")
    if picture is None:
        return None
    name = f"{collection['id']}.png"
    (folder / name).write_bytes(picture)
    return name


def _page(title: str, body: str, script: str = "") -> str:
    tail = f"<script>{script}</script>" if script else ""
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}{tail}</body></html>\n"
    )


def _embedded(data: Any) -> str:
    # "</" would end the script element early
    return json.dumps(data).replace("</", "<\\/")


def _index(root: CatalogRoot, listing: list[Row]) -> str:
    variables = sorted({v for r in listing for v in r.variables})
    options = "".join(f"<option>{html.escape(v)}</option>" for v in variables)
    body_rows = "".join(
        f"<tr id='row-{html.escape(r.id)}'><td><a href='datasets/{html.escape(r.id)}.html'>"
        f"{html.escape(r.id)}</a></td><td>{html.escape(r.title)}</td>"
        f"<td>{html.escape(', '.join(r.variables))}</td><td>{html.escape(r.dims_text)}</td>"
        f"<td>{html.escape(r.size)}</td><td>{html.escape(r.time_range)}</td>"
        f"<td><span class='status {r.status}'>{r.status}</span></td></tr>"
        for r in listing
    )
    stac = html.escape(root.url_of(CATALOG))
    body = f"""
<h1>ARCO Forge datasets</h1>
<p>STAC catalog: <a href="{stac}">{stac}</a></p>
<div class="filters">
<label>Search<input id="search" type="search" placeholder="id, title or variable"></label>
<label>Variable<select id="variable"><option value="">any</option>{options}</select></label>
<label>From<input id="from" type="date"></label><label>To<input id="to" type="date"></label>
<label>Status<select id="status"><option value="">any</option><option>active</option>
<option>retracted</option><option>superseded</option></select></label>
</div>
<p id="count"></p>
<table id="datasets"><thead><tr><th>id</th><th>title</th><th>variables</th><th>dims</th>
<th>size</th><th>time</th><th>status</th></tr></thead><tbody>{body_rows}</tbody></table>
<script id="data" type="application/json">{_embedded([r.to_json() for r in listing])}</script>
"""
    return _page("ARCO Forge datasets", body, _INDEX_SCRIPT)


def _table(id: str, headers: list[str], rows: list[list[str]]) -> str:
    """An HTML table of plain text cells (escaped here)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table id='{id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _definitions(id: str, pairs: list[tuple[str, str, str]]) -> str:
    """An HTML definition list of (label, element id, already escaped HTML) triples."""
    items = "".join(
        f"<dt>{html.escape(label)}</dt><dd" + (f' id="{key}"' if key else "") + f">{value}</dd>"
        for label, key, value in pairs
    )
    return f"<dl id='{id}'>{items}</dl>"


def _banner(collection: dict[str, Any], status: str) -> str:
    """The retracted or superseded notice at the top of a dataset page."""
    e = html.escape
    if status == "retracted":
        reason = str(collection.get("arcoforge:retracted_reason", ""))
        return f"<div class='banner retracted' id='status'>Retracted: {e(reason)}</div>"
    if status == "superseded":
        other = e(str(collection.get("arcoforge:superseded_by", "")))
        link = f"<a href='{other}.html'>{other}</a>"
        return f"<div class='banner' id='status'>Superseded by {link}</div>"
    return ""


def _facts(collection: dict[str, Any], entry: Row) -> list[tuple[str, str, str]]:
    """The dataset's description list: licence, providers, extents, size, citation."""
    e = html.escape
    bbox = ", ".join(f"{x:g}" for x in collection["extent"]["spatial"]["bbox"][0])
    if not collection.get("arcoforge:spatial_extent_known", True):
        bbox += " (not known: whole globe)"
    calendar = collection.get("arcoforge:calendar")
    facts = [
        ("id", "", e(entry.id)),
        ("status", "", f"<span class='status {entry.status}'>{entry.status}</span>"),
        ("license", "", e(collection.get("license", ""))),
        ("providers", "", e(", ".join(p["name"] for p in collection.get("providers", [])))),
        ("keywords", "", e(", ".join(collection.get("keywords", [])))),
        ("time", "time", e(entry.time_range + (f" ({calendar} calendar)" if calendar else ""))),
        ("bounding box", "bbox", e(bbox)),
        ("size", "", e(entry.size)),
    ]
    if citation := collection.get("arcoforge:citation"):
        facts.append(("citation", "citation", e(str(citation))))
    return facts


def _provenance(collection: dict[str, Any]) -> list[tuple[str, str, str]]:
    prov = collection.get("arcoforge:provenance", {})
    size = prov.get("input_bytes")
    versions = ", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items())
    pairs = [
        ("recipe hash", prov.get("recipe_hash")),
        ("inputs", prov.get("inputs")),
        ("input bytes", "not recorded" if size is None else size),
        ("run seconds", prov.get("run_seconds")),
        ("versions", versions),
        ("created", collection.get("arcoforge:created")),
        ("updated", collection.get("arcoforge:updated")),
    ]
    return [(label, "", html.escape(str(value))) for label, value in pairs]


def _dataset_page(
    root: CatalogRoot, collection: dict[str, Any], entry: Row, preview: str | None
) -> str:
    e = html.escape
    urls = asset_urls(root, collection)
    dims = _table(
        "dims",
        ["name", "type", "size", "extent", "step"],
        [
            [
                k,
                str(d.get("type")),
                str(entry.dims.get(k, "")),
                _extent(d),
                str(d.get("step") or ""),
            ]
            for k, d in collection.get("cube:dimensions", {}).items()
        ],
    )
    variables = _table(
        "variables",
        ["name", "long name", "units", "dims", "dtype", "chunks"],
        [
            [
                k,
                str(v.get("description", "")),
                str(v.get("unit", "")),
                ", ".join(v["dimensions"]),
                str(v.get("arcoforge:dtype", "")),
                " × ".join(map(str, v.get("arcoforge:chunks", []))),
            ]
            for k, v in collection.get("cube:variables", {}).items()
        ],
    )
    assets = "".join(
        f"<li><a href='{e(urls[k])}'>{e(a.get('title', k))}</a> <code>{e(a.get('type', ''))}</code>"
        for k, a in collection.get("assets", {}).items()
    )
    picture = (
        f"<img class='preview' id='preview' src='{e(preview)}' alt='Preview of {e(entry.id)}'>"
        if preview
        else "<p>No preview: the dataset has no latitude and longitude.</p>"
    )
    code = snippets(root.url, entry.id, collection, urls)
    stac = root.url_of(collection_name(entry.id))
    body = f"""
<p><a href="../index.html">← all datasets</a></p>
<h1 id="title">{e(entry.title)}</h1>{_banner(collection, entry.status)}
<p id="description">{e(collection.get("description", ""))}</p>
{_definitions("facts", _facts(collection, entry))}
<h2>Open it</h2>
<button id="copy" type="button">Copy</button>
<pre><code id="snippet">{e(code)}</code></pre>
<h2>Preview</h2>{picture}
<h2>Dimensions</h2>{dims}
<h2>Variables</h2>{variables}
<h2>Data</h2><ul id="assets">{assets}</ul>
<h2>Provenance</h2>{_definitions("provenance", _provenance(collection))}
<p>STAC: <a href="{e(stac)}">collection.json</a></p>
"""
    return _page(entry.title, body, _COPY_SCRIPT)


def _extent(dim: dict[str, Any]) -> str:
    if "extent" in dim:
        return " – ".join("…" if x is None else str(x) for x in dim["extent"])
    return f"{len(dim.get('values', []))} values"
