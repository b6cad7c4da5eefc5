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
    body = f"""
<h1>ARCO Forge datasets</h1>
<p>STAC catalog: <a href="{html.escape(root.url_of(CATALOG))}">{html.escape(root.url_of(CATALOG))}</a></p>
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


def _dataset_page(
    root: CatalogRoot, collection: dict[str, Any], entry: Row, preview: str | None
) -> str:
    e = html.escape
    id = entry.id
    urls = asset_urls(root, collection)
    code = snippets(root.url, id, collection, urls)
    banner = ""
    if entry.status == "retracted":
        banner = (
            "<div class='banner retracted' id='status'>Retracted: "
            f"{e(str(collection.get('arcoforge:retracted_reason', '')))}</div>"
        )
    elif entry.status == "superseded":
        other = str(collection.get("arcoforge:superseded_by", ""))
        banner = (
            "<div class='banner' id='status'>Superseded by "
            f"<a href='{e(other)}.html'>{e(other)}</a></div>"
        )
    spatial = collection["extent"]["spatial"]["bbox"][0]
    known = collection.get("arcoforge:spatial_extent_known", True)
    prov = collection.get("arcoforge:provenance", {})
    dims = "".join(
        f"<tr><td>{e(k)}</td><td>{e(str(d.get('type')))}</td><td>{entry.dims.get(k, '')}</td>"
        f"<td>{e(_extent(d))}</td><td>{e(str(d.get('step') or ''))}</td></tr>"
        for k, d in collection.get("cube:dimensions", {}).items()
    )
    variables = "".join(
        f"<tr><td>{e(k)}</td><td>{e(str(v.get('description', '')))}</td>"
        f"<td>{e(str(v.get('unit', '')))}</td><td>{e(', '.join(v['dimensions']))}</td>"
        f"<td>{e(str(v.get('arcoforge:dtype', '')))}</td>"
        f"<td>{e(' × '.join(map(str, v.get('arcoforge:chunks', []))))}</td></tr>"
        for k, v in collection.get("cube:variables", {}).items()
    )
    assets = "".join(
        f"<li><a href='{e(urls[k])}'>{e(a.get('title', k))}</a> <code>{e(a.get('type', ''))}</code></li>"
        for k, a in collection.get("assets", {}).items()
    )
    providers = ", ".join(p["name"] for p in collection.get("providers", []))
    picture = (
        f"<img class='preview' id='preview' src='{e(preview)}' alt='Preview of {e(id)}'>"
        if preview
        else "<p>No preview: the dataset has no latitude and longitude.</p>"
    )
    citation = collection.get("arcoforge:citation")
    body = f"""
<p><a href="../index.html">← all datasets</a></p>
<h1 id="title">{e(entry.title)}</h1>{banner}
<p id="description">{e(collection.get("description", ""))}</p>
<dl>
<dt>id</dt><dd>{e(id)}</dd>
<dt>status</dt><dd><span class='status {entry.status}'>{entry.status}</span></dd>
<dt>license</dt><dd>{e(collection.get("license", ""))}</dd>
<dt>providers</dt><dd>{e(providers)}</dd>
<dt>keywords</dt><dd>{e(", ".join(collection.get("keywords", [])))}</dd>
<dt>time</dt><dd id="time">{e(entry.time_range)} ({e(str(collection.get("arcoforge:calendar", "")))} calendar)</dd>
<dt>bounding box</dt><dd id="bbox">{e(", ".join(f"{x:g}" for x in spatial))}{"" if known else " (not known: whole globe)"}</dd>
<dt>size</dt><dd>{e(entry.size)}</dd>
{f"<dt>citation</dt><dd>{e(str(citation))}</dd>" if citation else ""}
</dl>
<h2>Open it</h2>
<button id="copy" type="button">Copy</button>
<pre><code id="snippet">{e(code)}</code></pre>
<h2>Preview</h2>{picture}
<h2>Dimensions</h2>
<table id="dims"><thead><tr><th>name</th><th>type</th><th>size</th><th>extent</th><th>step</th></tr></thead>
<tbody>{dims}</tbody></table>
<h2>Variables</h2>
<table id="variables"><thead><tr><th>name</th><th>long name</th><th>units</th><th>dims</th><th>dtype</th><th>chunks</th></tr></thead>
<tbody>{variables}</tbody></table>
<h2>Data</h2><ul id="assets">{assets}</ul>
<h2>Provenance</h2>
<dl id="provenance">
<dt>recipe hash</dt><dd>{e(str(prov.get("recipe_hash")))}</dd>
<dt>inputs</dt><dd>{e(str(prov.get("inputs")))}</dd>
<dt>input bytes</dt><dd>{e(str(prov.get("input_bytes") if prov.get("input_bytes") is not None else "not recorded"))}</dd>
<dt>run seconds</dt><dd>{e(str(prov.get("run_seconds")))}</dd>
<dt>versions</dt><dd>{e(", ".join(f"{k} {v}" for k, v in prov.get("versions", {}).items()))}</dd>
<dt>created</dt><dd>{e(str(collection.get("arcoforge:created")))}</dd>
<dt>updated</dt><dd>{e(str(collection.get("arcoforge:updated")))}</dd>
</dl>
<p>STAC: <a href="{e(root.url_of(collection_name(id)))}">collection.json</a></p>
"""
    return _page(entry.title, body, _COPY_SCRIPT)


def _extent(dim: dict[str, Any]) -> str:
    if "extent" in dim:
        return " – ".join("…" if x is None else str(x) for x in dim["extent"])
    return f"{len(dim.get('values', []))} values"
