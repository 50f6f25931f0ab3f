// The skydns console: four pages over the console's JSON views, kept live by one event stream.
// Plain DOM, no framework, no build step; every text from the server goes in with textContent.
"use strict";

const state = { session: null, zones: null, page: "", name: null, offset: 0, healthOffset: 0, searchOffset: 0,
                search: "", healthQuery: "", downOnly: false, redraw: null };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function data(view, params) {
  const q = new URLSearchParams(params || {}).toString();
  const r = await fetch("data/" + view + (q ? "?" + q : ""), { credentials: "same-origin" });
  if (r.status === 401) { location.reload(); throw new Error("logged out"); }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

async function write(method, name, body, ttl) {
  const url = "../api/records/" + encodeURIComponent(name) + (ttl ? "?ttl=" + encodeURIComponent(ttl) : "");
  const r = await fetch(url, {
    method, credentials: "same-origin",
    headers: { "X-CSRF-Token": state.session.csrf, "Content-Type": "application/json" },
    body: body === undefined ? undefined : body,
  });
  let out = {};
  try { out = await r.json(); } catch (e) { /* an empty body */ }
  return { status: r.status, body: out };
}

function ago(unix) {
  if (!unix) return "";
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  const text = s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" : s < 86400 ?
    Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
  return new Date(unix * 1000).toLocaleString() + " (" + text + " ago)";
}

function pager(total, offset, limit, go) {
  if (total <= limit) return null;
  return el("div", { class: "pager" },
    el("button", { class: "plain", type: "button", disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, "Previous"),
    el("span", { class: "muted" }, `${offset + 1}–${Math.min(total, offset + limit)} of ${total}`),
    el("button", { class: "plain", type: "button", disabled: offset + limit >= total, onclick: () => go(offset + limit) }, "Next"));
}

function fill(where, ...nodes) {
  where.replaceChildren(...nodes.flat(Infinity).filter(n => n !== null && n !== undefined));
}

function show(...nodes) {
  fill(document.getElementById("main"), ...nodes);
}

function fail(where, err) {
  fill(where, el("p", { class: "error" }, String(err.message || err)));
}

// -- names ------------------------------------------------------------------------------------------
function nameLink(name, label) {
  return el("a", { href: "#names/" + encodeURIComponent(name), "data-name": name }, label || name);
}

async function namesPage() {
  const side = el("div", { class: "card", id: "tree-card" });
  const detail = el("div", { id: "detail" });
  const searchBox = el("input", { type: "search", id: "search", placeholder: "Search names…", value: state.search });
  const results = el("div", { id: "search-results" });
  let timer = null;
  searchBox.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.search = searchBox.value.trim(); state.searchOffset = 0; drawSearch(results); }, 150);
  });
  side.append(el("h2", {}, "Names"), searchBox, results, el("div", { id: "tree" }));
  show(el("div", { class: "cols" }, el("div", {}, side, newNameCard()), detail));
  state.redraw = async () => {
    await Promise.all([drawSearch(results), drawTree(side.querySelector("#tree")), drawDetail(detail)]);
  };
  await state.redraw();
}

function newNameCard() {
  if (!state.session.write) return null;
  const name = el("input", { type: "text", id: "new-name", placeholder: "name (relative to " + state.zones.zones[0] + ")" });
  const body = el("textarea", { id: "new-body" }, '{"host": "10.0.0.1"}');
  const msg = el("p", { id: "new-msg" });
  const add = el("button", { type: "button", id: "new-save" }, "Add");
  add.addEventListener("click", async () => {
    const r = await write("PUT", name.value.trim(), body.value);
    msg.className = r.status === 200 ? "ok" : "error";
    msg.textContent = r.status === 200 ? "Written: " + (r.body.written || []).join(", ") : `${r.status}: ${r.body.error || ""}`;
    if (r.status === 200 && r.body.written && r.body.written.length) location.hash = "#names/" + encodeURIComponent(r.body.written[0]);
  });
  return el("div", { class: "card" }, el("h2", {}, "Add a name"), name, el("p", { class: "muted" },
    "SkyDNS's service JSON, a list of them, or the fork's bodies ({\"type\":\"A\",\"ips\":[...]})."), body,
    el("div", { class: "row" }, add), msg);
}

async function drawSearch(where) {
  if (!state.search) { fill(where); return; }
  try {
    const r = await data("search", { q: state.search, offset: state.searchOffset, limit: 50 });
    fill(where, el("p", { class: "muted" }, `${r.total} names contain “${r.q}”`),
      el("ul", { class: "tree" }, r.names.map(n => el("li", {}, nameLink(n)))),
      pager(r.total, r.offset, 50, o => { state.searchOffset = o; drawSearch(where); }));
  } catch (e) { fail(where, e); }
}

async function drawTree(where) {
  const zones = state.zones.zones;
  let at = state.name && zones.some(z => state.name === z || state.name.endsWith("." + z)) ? state.name : null;
  if (!at) {
    fill(where, el("h3", {}, "Zones"), el("ul", { class: "tree" }, zones.map(z => el("li", {}, nameLink(z)))));
    return;
  }
  if (!state.zones.browse) { fill(where); return; }
  try {
    const zone = zones.filter(z => at === z || at.endsWith("." + z)).sort((a, b) => b.length - a.length)[0];
    let r = await data("children", { name: at, offset: state.offset, limit: 100 });
    if (!r.total && at !== zone) {  // a leaf: its siblings, the leaf among them
      at = at.slice(at.indexOf(".") + 1);
      r = await data("children", { name: at, offset: 0, limit: 500 });
    }
    const crumbs = [el("a", { href: "#names" }, "zones")];
    let n = zone;
    const rest = at === zone ? [] : at.slice(0, at.length - zone.length - 1).split(".").reverse();
    crumbs.push(" / ", nameLink(zone));
    for (const label of rest) { n = label + "." + n; crumbs.push(" / ", nameLink(n, label)); }
    fill(where, el("p", { class: "crumbs", id: "crumbs" }, crumbs),
      r.children.length ? el("ul", { class: "tree", id: "children" }, r.children.map(c => el("li", { class: c.name === state.name ? "selected" : null },
        nameLink(c.name, c.label + (c.below ? " /" : "")), c.record ? el("span", { class: "muted" }, " record") : null)))
        : el("p", { class: "muted" }, "Nothing below this name."),
      pager(r.total, r.offset, 100, o => { state.offset = o; drawTree(where); }));
  } catch (e) { fail(where, e); }
}

async function drawDetail(where) {
  if (!state.name) {
    fill(where, el("div", { class: "card" }, el("p", { class: "muted" },
      "Pick a zone, browse its names, or search. Each name shows what the server answers for it, its stored records, and who changed it.")));
    return;
  }
  let r;
  try { r = await data("name", { name: state.name }); } catch (e) { fail(where, e); return; }
  const answers = el("table", { id: "answers" }, el("tr", {}, el("th", {}, "type"), el("th", {}, "rcode"), el("th", {}, "answer")),
    r.answers.map(a => el("tr", {}, el("td", {}, a.type), el("td", {}, a.rcode),
      el("td", { class: "mono" }, a.answer.length ? a.answer.map(line => el("div", {}, line)) : el("span", { class: "muted" }, "none")))));
  const records = el("pre", { id: "records" }, r.records ? JSON.stringify(r.records, null, 1) : "no record stored at this name");
  const history = r.history === null ? el("p", { class: "muted" }, "This store keeps no history.") :
    r.history.length === 0 ? el("p", { class: "muted", id: "history" }, "No change noted (written around skydns, or before it kept history).") :
    el("table", { id: "history" }, el("tr", {}, el("th", {}, "when"), el("th", {}, "who"), el("th", {}, "what"), el("th", {}, "revision")),
      r.history.slice().reverse().map(h => el("tr", {}, el("td", {}, ago(h.at)), el("td", {}, h.author), el("td", {}, h.op), el("td", {}, h.revision))));
  fill(where, el("div", { class: "card" },
    el("h2", { id: "detail-name" }, r.name),
    el("h3", {}, "Answers"), answers,
    el("h3", {}, "Stored records"), records,
    editCard(r),
    el("h3", {}, "History"), history,
    r.compacted ? el("p", { class: "muted" }, `etcd has forgotten changes before revision ${r.compacted}.`) : null));
}

function editCard(r) {
  if (!state.session.write || !r.may_change) return null;
  // a redraw (a change arrived) keeps what is being typed and the last result
  const draft = state.draft && state.draft.name === r.name ? state.draft.text : null;
  const stored = r.records ? JSON.stringify(r.records.length === 1 ? r.records[0] : r.records, null, 1) : "";
  const body = el("textarea", { id: "edit-body" }, draft !== null ? draft : stored);
  body.addEventListener("input", () => { state.draft = { name: r.name, text: body.value }; });
  const ttl = el("input", { type: "number", id: "edit-ttl", min: 1, placeholder: "ttl (s): a lease, optional" });
  const said = state.said && state.said.name === r.name ? state.said : null;
  const msg = el("p", { id: "edit-msg", class: said ? said.cls : null }, said ? said.text : "");
  const done = (res, verb) => {
    const ok = res.status === 200;
    state.said = { name: r.name, cls: ok ? "ok" : "error", text: ok ? verb : `${res.status}: ${res.body.error || ""}` };
    if (ok) state.draft = null;
    msg.className = state.said.cls;
    msg.textContent = state.said.text;
  };
  return el("div", {}, el("h3", {}, "Change"), body, el("div", { class: "row" }, ttl,
    el("button", { type: "button", id: "edit-save", onclick: async () => done(await write("PUT", r.name, body.value, ttl.value), "Saved.") }, "Save"),
    el("button", { type: "button", class: "danger", id: "edit-delete", onclick: async () => {
      if (confirm("Delete " + r.name + "?")) done(await write("DELETE", r.name), "Deleted.");
    } }, "Delete")), msg);
}

// -- health -----------------------------------------------------------------------------------------
async function healthPage() {
  const box = el("input", { type: "search", id: "health-search", placeholder: "Filter by address or name…", value: state.healthQuery });
  const down = el("input", { type: "checkbox", id: "down-only", checked: state.downOnly });
  const table = el("div", { id: "health" });
  let timer = null;
  box.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => { state.healthQuery = box.value.trim(); state.healthOffset = 0; draw(); }, 150); });
  down.addEventListener("change", () => { state.downOnly = down.checked; state.healthOffset = 0; draw(); });
  show(el("div", { class: "card" }, el("h2", {}, "Health of monitored addresses"),
    el("div", { class: "row" }, box, el("label", {}, down, " only DOWN")), table));
  async function draw() {
    let r;
    try { r = await data("health", { q: state.healthQuery, down: state.downOnly ? "1" : "0", offset: state.healthOffset, limit: 100 }); }
    catch (e) { fail(table, e); return; }
    if (!r.monitored) { fill(table, el("p", { class: "muted" }, "No health monitor: add monitor to the etcd plugin and run a scanner.")); return; }
    fill(table,
      el("p", { class: "muted", id: "health-summary" }, `${r.total} addresses shown, ${r.down} DOWN (UNKNOWN: no status written yet, served); scanners: ${r.scanners.join(", ") || "none registered"}`),
      el("table", { id: "health-table" }, el("tr", {}, ["address", "status", "since", "scanner", "names"].map(h => el("th", {}, h))),
        r.rows.map(row => el("tr", { "data-ip": row.ip },
          el("td", { class: "mono" }, row.ip), el("td", {}, el("span", { class: "badge " + row.status, "data-status": row.status }, row.status)),
          el("td", {}, ago(row.since)), el("td", { class: "mono" }, row.by || ""),
          el("td", {}, row.names.map((n, i) => [i ? ", " : "", nameLink(n)]), row.more ? ` and ${row.more} more` : "")))),
      pager(r.total, r.offset, 100, o => { state.healthOffset = o; draw(); }));
  }
  state.redraw = draw;
  await draw();
}

// -- instance ---------------------------------------------------------------------------------------
async function instancePage() {
  const where = el("div", { id: "instance" });
  show(where);
  async function draw() {
    let r;
    try { r = await data("instance"); } catch (e) { fail(where, e); return; }
    const notReady = r.readiness.filter(x => !x.ready);
    fill(where,
      el("div", { class: "card" }, el("h2", {}, "This instance"), el("table", {},
        [["version", r.version], ["process", r.pid], ["console started", ago(r.started)],
         ["reloads", `${r.reloads} (${r.reload_failures} refused)`]].map(([k, v]) => el("tr", {}, el("td", { class: "k" }, k), el("td", {}, v)))),
        el("h3", {}, "Ready"),
        el("p", { id: "ready", class: notReady.length ? "error" : "ok" }, notReady.length ? "Not ready" : "Ready"),
        r.readiness.length ? el("ul", {}, r.readiness.map(x => el("li", {}, `plugin/${x.plugin}: `, x.ready ? "ready" : x.why))) : null),
      r.states.map(s => el("div", { class: "card" }, el("h2", {}, s.name), el("table", {},
        s.items.map(([k, v]) => el("tr", {}, el("td", { class: "k" }, k), el("td", { class: "mono" }, v)))))),
      el("div", { class: "card" }, el("h2", {}, "Server blocks and their chains"), el("table", { id: "blocks" },
        el("tr", {}, el("th", {}, "block"), el("th", {}, "ports"), el("th", {}, "chain, in order")),
        r.blocks.map(b => el("tr", {}, el("td", { class: "mono" }, b.name), el("td", {}, b.ports.join(", ")),
          el("td", { class: "mono" }, b.plugins.join(" → ")))))));
  }
  state.redraw = draw;
  await draw();
}

// -- traffic ----------------------------------------------------------------------------------------
const COLORS = { queries: "#2a6fb0", p50: "#1f883d", p90: "#9a6700", p99: "#cf222e" };

function plot(points, keys, scale) {
  const w = 360, h = 70, n = Math.max(points.length, 2);
  const max = Math.max(1e-9, ...points.flatMap(p => keys.map(k => p[k] || 0)));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "plot");
  for (const k of keys) {
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.map((p, i) => `${(i * w / (n - 1)).toFixed(1)},${(h - 4 - (p[k] || 0) / max * (h - 8)).toFixed(1)}`).join(" "));
    line.setAttribute("stroke", COLORS[k]);
    svg.append(line);
  }
  const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
  title.textContent = `max ${scale(max)}`;
  svg.append(title);
  return svg;
}

async function trafficPage() {
  const where = el("div", { id: "traffic" });
  show(where);
  async function draw() {
    let r;
    try { r = await data("traffic"); } catch (e) { fail(where, e); return; }
    const zones = [...new Set(r.points.flatMap(p => Object.keys(p.zones)))].sort();
    if (!zones.length) {
      fill(where, el("div", { class: "card" }, el("p", { class: "muted" },
        `No queries counted yet: a point every ${r.step} s, the last ${r.keep * r.step / 60} minutes kept.`)));
      return;
    }
    fill(where, ...zones.map(z => {
      const series = r.points.map(p => {
        const s = p.zones[z] || {};
        return { queries: (s.queries || 0) / r.step, p50: (s.p50 || 0) * 1000, p90: (s.p90 || 0) * 1000, p99: (s.p99 || 0) * 1000 };
      });
      const rcodes = {};
      let total = 0;
      for (const p of r.points) for (const [k, v] of Object.entries((p.zones[z] || {}).rcodes || {})) { rcodes[k] = (rcodes[k] || 0) + v; total += v; }
      const last = series[series.length - 1];
      return el("div", { class: "card zone-traffic", "data-zone": z }, el("h2", {}, z),
        el("div", { class: "cols" },
          el("div", {}, el("h3", {}, "Queries per second"), plot(series, ["queries"], v => v.toFixed(1) + " q/s"),
            el("p", { class: "muted" }, `now ${last.queries.toFixed(1)} q/s; ${total} queries in ${r.points.length * r.step / 60} min`)),
          el("div", {}, el("h3", {}, "Latency (ms)"), plot(series, ["p50", "p90", "p99"], v => v.toFixed(2) + " ms"),
            el("p", { class: "legend" }, ["p50", "p90", "p99"].map(k => el("span", {}, `${k} ${last[k].toFixed(2)} ms`))))),
        el("table", { class: "rcodes" }, el("tr", {}, el("th", {}, "rcode"), el("th", {}, "queries"), el("th", {}, "share")),
          Object.entries(rcodes).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v), el("td", {}, (100 * v / total).toFixed(1) + " %")))));
    }));
  }
  state.redraw = draw;
  await draw();
  state.trafficTimer = setInterval(() => state.page === "traffic" && draw(), 10000);
}

// -- routing and live updates -----------------------------------------------------------------------
async function route() {
  const [page, ...rest] = (location.hash.slice(1) || "names").split("/");
  state.page = page;
  clearInterval(state.trafficTimer);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.id === "nav-" + page);
  if (page === "names") {
    const name = rest.length ? decodeURIComponent(rest.join("/")) : null;
    if (name !== state.name) state.offset = 0;
    state.name = name;
    await namesPage();
  } else if (page === "health") await healthPage();
  else if (page === "instance") await instancePage();
  else if (page === "traffic") await trafficPage();
  else location.hash = "#names";
}

function live() {
  const badge = document.getElementById("live");
  const events = new EventSource("events");
  let pending = null;
  events.addEventListener("open", () => badge.classList.remove("off"));
  events.addEventListener("error", () => badge.classList.add("off"));
  events.addEventListener("change", () => {
    if (pending) return;
    pending = setTimeout(() => { pending = null; if (state.redraw && state.page !== "traffic") state.redraw(); }, 50);
  });
}

async function start() {
  state.session = await data("session");
  state.zones = await data("zones");
  document.getElementById("who").textContent = `${state.session.token} (${state.session.write ? "write" : "read"})`;
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": state.session.csrf } });
    location.reload();
  });
  window.addEventListener("hashchange", route);
  live();
  await route();
  document.body.dataset.ready = "1";
}

start();
