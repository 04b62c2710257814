"""The HTML of the operations pages: the API reference (``/docs``), the dashboard and its login form.

Owns markup, inline CSS and inline JS only; no build step, no external asset, no CDN (the pages work on a
machine without network). Pages render data with ``textContent`` (never ``innerHTML`` of data), and data
embedded in a page is JSON inside ``<script type="application/json">`` with ``<`` escaped, so nothing a
provider or a job id contains can become markup.
"""

from __future__ import annotations

import html

__all__ = ["docs_page", "dashboard_page", "login_page", "embed_json", "DASHBOARD_SCRIPT"]

_CSS = """
:root { --fg:#1d2330; --muted:#5b6475; --bg:#f6f7f9; --card:#fff; --line:#dde1e8; --ok:#1a7f37; --warn:#9a6700;
        --bad:#cf222e; --accent:#0969da; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
body { margin:0; background:var(--bg); color:var(--fg); font-size:14px; }
header { background:#1d2330; color:#fff; padding:12px 20px; display:flex; align-items:baseline; gap:16px; }
header h1 { font-size:18px; margin:0; } header .muted { color:#aab2c0; }
main { padding:16px 20px; display:grid; gap:16px; grid-template-columns:repeat(auto-fill, minmax(340px, 1fr)); }
section { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:12px 14px;
          min-width:0; overflow-x:auto; }
section.wide { grid-column:1 / -1; }
h2 { font-size:15px; margin:0 0 10px; }
.figures { display:flex; flex-wrap:wrap; gap:14px; }
.figure { min-width:80px; } .figure .value { font-size:22px; font-weight:600; } .figure .label { color:var(--muted); }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:4px 6px; border-bottom:1px solid var(--line); }
th { color:var(--muted); font-weight:500; white-space:nowrap; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.ok { color:var(--ok); }
.warning, .degraded, .unconfigured { color:var(--warn); } .critical, .error, .failed { color:var(--bad); }
.muted { color:var(--muted); } pre { white-space:pre-wrap; word-break:break-word; margin:0; font-size:12px; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; }
"""

_DOCS_JS = r"""
const $ = (tag, attrs = {}, ...kids) => { const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k && k.nodeType ? k : String(k ?? "")); return e; };
function schemaText(s) { return JSON.stringify(s, null, 2); }
async function main() {
  const doc = await (await fetch("openapi.json")).json();
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  const nav = document.getElementById("nav"), body = document.getElementById("ops");
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item)) (byTag[op.tags[0]] ??= []).push([method, path, op]);
  for (const [tag, ops] of Object.entries(byTag)) {
    nav.append($("a", {href: "#tag-" + tag}, tag + " (" + ops.length + ")"));
    const sec = $("section", {id: "tag-" + tag, class: "wide"}, $("h2", {}, tag));
    for (const [method, path, op] of ops) {
      const d = $("details", {class: "op", id: op.operationId});
      d.append($("summary", {}, $("span", {class: "method m-" + method}, method.toUpperCase()), " ",
               $("code", {}, path), " ", $("span", {class: "muted"}, op.summary || "")));
      if (op["x-websocket"]) d.append($("p", {}, "WebSocket. " + (op.description || "")));
      if (op.security) d.append($("p", {class: "warning"}, "Admin: bearer token or dashboard session."));
      if (op.parameters) { const t = $("table", {}, $("tr", {}, $("th", {}, "parameter"), $("th", {}, "in"),
          $("th", {}, "required"), $("th", {}, "schema")));
        for (const p of op.parameters) t.append($("tr", {}, $("td", {}, $("code", {}, p.name)), $("td", {}, p.in),
          $("td", {}, p.required ? "yes" : "no"), $("td", {}, $("pre", {}, schemaText(p.schema)))));
        d.append(t); }
      if (op.requestBody) for (const [media, c] of Object.entries(op.requestBody.content))
        d.append($("h3", {}, "Request body (" + media + ")"), $("pre", {}, schemaText(c.schema)));
      const rt = $("table", {}, $("tr", {}, $("th", {}, "status"), $("th", {}, "description"), $("th", {}, "body")));
      for (const [status, r] of Object.entries(op.responses)) {
        const media = r.content ? Object.keys(r.content)[0] : "";
        rt.append($("tr", {}, $("td", {}, status), $("td", {}, r.description),
          $("td", {}, media ? $("pre", {}, media + " " + schemaText(r.content[media].schema)) : "")));
      }
      d.append($("h3", {}, "Responses"), rt); sec.append(d);
    }
    body.append(sec);
  }
  const comp = $("section", {id: "schemas", class: "wide"}, $("h2", {}, "Schemas"));
  for (const [name, s] of Object.entries(doc.components.schemas))
    comp.append($("details", {id: "schema-" + name}, $("summary", {}, $("code", {}, name)),
      $("pre", {}, schemaText(s))));
  nav.append($("a", {href: "#schemas"}, "schemas"));
  body.append(comp);
}
main().catch(e => { document.getElementById("ops").append($("p", {class: "error"}, "Could not load: " + e)); });
"""

_DOCS_CSS = """
nav { padding:8px 20px; display:flex; flex-wrap:wrap; gap:12px; background:#fff; border-bottom:1px solid var(--line); }
nav a { color:var(--accent); text-decoration:none; }
main.docs { display:block; } main.docs section { margin-bottom:16px; }
details.op { border-top:1px solid var(--line); padding:6px 0; } summary { cursor:pointer; }
.method { display:inline-block; min-width:58px; font-weight:700; font-size:12px; }
.m-get { color:#0969da; } .m-post { color:#1a7f37; } .m-delete { color:#cf222e; } .m-put, .m-patch { color:#9a6700; }
h3 { font-size:13px; margin:10px 0 4px; }
"""


def _page(title: str, body: str, *, css: str = "", script: str = "") -> str:
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}{css}</style></head>"
        f"<body>{body}{f'<script>{script}</script>' if script else ''}</body></html>"
    )


def embed_json(data: bytes) -> str:
    """JSON bytes made safe inside ``<script type="application/json">`` (no ``</script>``, no ``<!--``)."""
    return data.decode().replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def docs_page() -> str:
    body = (
        '<header><h1 id="title">BooksTrack API</h1><span class="muted">'
        '<a class="muted" href="openapi.json">openapi.json</a> (OpenAPI 3.1)</span></header>'
        '<nav id="nav"></nav><main class="docs" id="ops"></main>'
    )
    return _page("BooksTrack API reference", body, css=_DOCS_CSS, script=_DOCS_JS)


def login_page(*, error: str | None = None, next_path: str = "/admin/harvest-dashboard") -> str:
    message = f'<p class="error" id="login-error">{html.escape(error)}</p>' if error else ""
    body = (
        '<header><h1>BooksTrack operations</h1><span class="muted">sign in</span></header>'
        '<main><section><h2>Admin token</h2>'
        f"{message}"
        '<form method="post" action="/admin/login" id="login">'
        f'<input type="hidden" name="next" value="{html.escape(next_path)}">'
        '<p><label for="token">The server\'s <code>BOOKSTRACK_ADMIN_TOKEN</code></label></p>'
        '<p><input type="password" id="token" name="token" autocomplete="current-password" required '
        'style="width:100%;padding:6px"></p>'
        '<p><button type="submit" id="sign-in">Sign in</button></p></form>'
        '<p class="muted">Signing in sets an HttpOnly, SameSite=Strict session cookie for /admin.</p>'
        "</section></main>"
    )
    return _page("BooksTrack operations: sign in", body)


_DASHBOARD_JS = r"""
const $ = (tag, attrs = {}, ...kids) => { const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k && k.nodeType ? k : String(k ?? "")); return e; };
const pct = x => (100 * (x || 0)).toFixed(1) + "%";
const num = x => (x ?? 0).toLocaleString("en-US");
function figure(id, value, label) { return $("div", {class: "figure"},
  $("div", {class: "value", "data-figure": id}, value), $("div", {class: "label"}, label)); }
function table(headers, rows, empty) {
  if (!rows.length) return $("p", {class: "muted"}, empty);
  const t = $("table", {}, $("tr", {}, ...headers.map(h => $("th", {}, h))));
  for (const r of rows) t.append(r); return t; }
function kv(obj) {
  if (obj === null || obj === undefined) return $("p", {class: "muted"}, "Not available.");
  if (typeof obj !== "object") return $("span", {}, String(obj));
  const rows = Object.entries(obj).map(([k, v]) => $("tr", {}, $("th", {}, k),
    $("td", {}, typeof v === "object" && v !== null ? $("pre", {}, JSON.stringify(v, null, 1)) : String(v))));
  return table(["", ""], rows, "Empty."); }
function cell(v) {
  return v !== null && typeof v === "object" ? $("pre", {}, JSON.stringify(v, null, 1)) : String(v ?? ""); }
function rows(list, empty) {
  if (!Array.isArray(list)) return kv(list);
  if (!list.length) return $("p", {class: "muted"}, empty);
  if (typeof list[0] !== "object") return table(["value"], list.map(v => $("tr", {}, $("td", {}, cell(v)))), empty);
  const cols = [...new Set(list.flatMap(o => Object.keys(o)))];
  return table(cols, list.map(o => $("tr", {}, ...cols.map(c => $("td", {}, cell(o[c]))))), empty); }
function fill(id, ...kids) { const e = document.getElementById(id); e.replaceChildren(...kids); }
function render(d) {
  const r = d.report;
  fill("updated", "updated " + r.timestamp + " (figures " + r.window + ")");
  const h = r.health;
  fill("health",
    $("span", {class: h.status === "healthy" ? "ok" : "warning", "data-figure": "health-status"}, h.status),
    ...h.issues.map(i => $("div", {class: i.severity}, i.severity + ": " + i.message + " (since " + i.since + ")")));
  fill("cache", $("div", {class: "figures"}, figure("cache-combined", pct(r.hitRates.combined), "combined hit rate"),
    figure("cache-edge", pct(r.hitRates.edge), "memory"), figure("cache-kv", pct(r.hitRates.kv), "kv"),
    figure("cache-cold", pct(r.hitRates.r2_cold), "cold"), figure("cache-api", pct(r.hitRates.api), "upstream"),
    figure("cache-answers", num(r.volume.total_requests), "answers")),
    d.cache ? $("p", {class: "muted"}, "memory: " + num(d.cache.memory.entries) + " entries, " +
      num(d.cache.memory.bytes) + " bytes; loads " + JSON.stringify(d.cache.loads))
      : $("p", {class: "muted"}, "Cache not running."));
  fill("http", $("div", {class: "figures"}, figure("http-requests", num(r.http.requests), "requests"),
    figure("http-5xx", num(r.http.byStatus["5xx"] || 0), "5xx"),
    figure("rate-limited", num(r.http.rateLimited), "429s"),
    figure("latency-p95", r.latency.p95Ms + " ms", "p95 latency"),
    figure("subscribers", num(Object.values(r.subscribers).reduce((a, b) => a + b, 0)), "progress streams")));
  fill("providers", $("p", {}, "database: ", $("span", {class: d.database, "data-figure": "database"}, d.database)),
    table(["provider", "status", "calls", "errors"], Object.entries(r.providers).map(([n, p]) =>
      $("tr", {"data-provider": n}, $("td", {}, n), $("td", {class: p.status}, p.status),
        $("td", {class: "num"}, num(p.calls)), $("td", {class: "num"}, num(p.errors)))), "No providers."));
  fill("queues", table(["queue", "depth", "in flight", "dead letters"], Object.entries(r.queues).map(([n, q]) =>
      $("tr", {"data-queue": n}, $("td", {}, n),
        $("td", {class: "num", "data-figure": "queue-depth-" + n}, num(q.depth)),
        $("td", {class: "num"}, num(q.inFlight)),
        $("td", {class: "num " + (q.deadLetters ? "warning" : ""), "data-figure": "queue-dead-" + n},
          num(q.deadLetters)))),
    d.queuesAvailable ? "No queues." : "No queue in this server."));
  const finished = Object.entries(r.jobs.finished).map(([p, s]) => p + ": " +
    Object.entries(s).map(([k, v]) => k + " " + v).join(", "));
  fill("jobs", $("div", {class: "figures"}, figure("jobs-running",
      num(Object.values(r.jobs.running).reduce((a, b) => a + b, 0)), "running"),
      figure("jobs-started", num(Object.values(r.jobs.started).reduce((a, b) => a + b, 0)), "started")),
    $("p", {class: "muted"}, finished.join("; ") || "No job ended yet."),
    table(["job", "pipeline", "status", "items", "ended"], d.jobs.map(j =>
      $("tr", {"data-job": j.jobId}, $("td", {}, $("code", {}, j.jobId)), $("td", {}, j.pipeline),
        $("td", {class: j.status}, j.status), $("td", {class: "num"}, j.processed + "/" + j.total),
        $("td", {}, j.endTime ? new Date(j.endTime).toISOString() : "…"))), "No recent jobs."));
  const none = "No scheduler in this server.";
  fill("scheduler", d.scheduler == null ? $("p", {class: "muted"}, none) : rows(d.scheduler, "No tasks."));
  fill("alerts", d.alerts == null ? $("p", {class: "muted"}, none) : rows(d.alerts, "No alerts."));
  fill("harvest", d.harvest == null ? $("p", {class: "muted"}, none) : rows(d.harvest, "No harvest has run yet."));
}
let data = JSON.parse(document.getElementById("initial").textContent);
render(data);
async function refresh() {
  try {
    const res = await fetch("/admin/harvest-dashboard/data", {credentials: "same-origin", cache: "no-store"});
    if (res.status === 401 || res.status === 404) { location.reload(); return; }
    if (res.ok) { data = await res.json(); render(data); document.getElementById("stale").textContent = ""; }
    else document.getElementById("stale").textContent = "refresh failed: HTTP " + res.status;
  } catch (e) { document.getElementById("stale").textContent = "refresh failed: " + e; }
}
setInterval(refresh, 1000 * data.refreshSeconds);
"""


DASHBOARD_SCRIPT = _DASHBOARD_JS  # the page's only script (its CSP names its hash)


def dashboard_page(initial: bytes) -> str:
    """The dashboard: rendered by inline JS from ``initial`` (the data route's JSON), then refreshed."""
    sections = [
        ("health", "Health"), ("cache", "Cache hit rates"), ("http", "Traffic"), ("providers", "Provider health"),
        ("queues", "Queues and dead letters"), ("alerts", "Alerts"), ("scheduler", "Scheduler"),
        ("harvest", "Cover harvest"),
    ]
    wide = {"scheduler", "harvest"}  # tables of many columns
    cards = "".join(
        f'<section{" class=wide" if key in wide else ""}><h2>{title}</h2><div id="{key}"></div></section>'
        for key, title in sections
    )
    body = (
        '<header><h1>BooksTrack operations</h1><span class="muted" id="updated"></span>'
        '<span class="warning" id="stale"></span>'
        '<form method="post" action="/admin/logout" style="margin-left:auto">'
        '<button type="submit">Sign out</button></form></header>'
        f'<main>{cards}<section class="wide"><h2>Recent jobs</h2><div id="jobs"></div></section></main>'
        f'<script type="application/json" id="initial">{embed_json(initial)}</script>'
    )
    return _page("BooksTrack operations", body, script=_DASHBOARD_JS)
