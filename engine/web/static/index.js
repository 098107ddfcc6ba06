/* Calls list, transcript search and live calls (server-sent events). */
"use strict";

function ivrPath(path) {
  if (!path || !path.length) return H.el("span", { class: "muted" }, "—");
  return H.el("span", { class: "path" }, path.join(" › "));
}

function callRow(c) {
  const href = `/calls/${encodeURIComponent(c.id)}`;
  const tr = H.el("tr", { class: c.live ? "live" : "", onclick: () => { location.href = href; } },
    H.el("td", {}, H.el("a", { href }, H.time(c.started_at))),
    H.el("td", { class: "mono" }, c.caller_number || "—"),
    H.el("td", { class: "path-cell" }, ivrPath(c.ivr_path)),
    H.el("td", {}, c.queue || "—"),
    H.el("td", { class: "num" }, H.dur(c.wait_seconds)),
    H.el("td", {}, c.agent || "—"),
    H.el("td", {}, c.live ? H.el("span", { class: "outcome live" }, "live") : H.outcome(c.outcome)),
    H.el("td", {}, c.language || "—"),
    H.el("td", { class: "num" }, String(c.segment_count), c.has_audio ? " ♪" : ""),
  );
  return tr;
}

const PAGE = 100;
const COLS = 9;
const FILTERS = ["from", "to", "queue", "agent", "outcome", "language"];

/* the filter form as a query string (only the fields set) */
function filterQuery() {
  const form = document.getElementById("filters");
  const q = new URLSearchParams();
  for (const name of FILTERS) {
    const v = form.elements[name].value;
    if (v) q.set(name, v);
  }
  return q;
}

function filtersChanged() {
  const q = filterQuery();
  document.getElementById("csv").href = `/api/calls.csv${q.toString() ? "?" + q : ""}`;
  const url = new URLSearchParams(location.search);  // keeps ?q= (a search) as it is
  for (const name of FILTERS) url.delete(name);
  for (const [k, v] of q) url.set(k, v);
  history.replaceState(null, "", url.toString() ? `/?${url}` : "/");
  const note = document.getElementById("calls-note");
  note.textContent = q.toString() ? "filtered" : "";
}

function emptyRow(text, cls) {
  return H.el("tr", {}, H.el("td", { colspan: COLS, class: cls || "muted" }, text));
}

/* the first page, or (older=true) the next older page appended; ``extra`` replaces the filters (a lookup) */
async function loadCalls(older, extra) {
  const tbody = document.querySelector("#calls tbody");
  const more = document.getElementById("more");
  const q = extra || filterQuery();
  q.set("limit", String(PAGE));
  if (older && tbody.dataset.before) q.set("before", tbody.dataset.before);
  try {
    const { calls } = await H.json(`/api/calls?${q}`);
    const rows = calls.map(callRow);
    if (older) tbody.append(...rows);
    else tbody.replaceChildren(...(rows.length ? rows : [emptyRow(extra || filterQuery().toString()
      ? "No call matches." : "No calls stored yet.")]));
    if (calls.length) {
      const last = calls[calls.length - 1];
      tbody.dataset.before = String(last.started_at ?? last.updated_at);
    }
    more.hidden = calls.length < PAGE || Boolean(extra);
  } catch (e) {
    tbody.replaceChildren(emptyRow(`Could not load calls: ${e.message}`, "error"));
  }
}

/* the filter menus, from the values the store holds */
async function loadFacets() {
  try {
    const f = await H.json("/api/facets");
    const form = document.getElementById("filters");
    for (const [name, values] of [["queue", f.queues], ["agent", f.agents], ["outcome", f.outcomes], ["language", f.languages]]) {
      const select = form.elements[name];
      const chosen = select.value;
      select.replaceChildren(H.el("option", { value: "" }, "all"), ...values.map((v) => H.el("option", { value: v }, v)));
      select.value = chosen;
    }
  } catch (e) { /* the menus stay at "all" */ }
}

const NUMBER = /^\+?[0-9][0-9 ()-]{5,}$/;

/* a call id opens the call; a caller number (privileged token only) lists that caller's calls */
async function lookup(text) {
  const msg = document.getElementById("lookup-msg");
  msg.textContent = "";
  if (!text) return;
  try {
    if (H.me && H.me.privileged && NUMBER.test(text)) {
      const q = new URLSearchParams({ number: text });
      await loadCalls(false, q);
      msg.textContent = "calls from that number (clear the box and Filter to go back)";
      return;
    }
    const { calls } = await H.json(`/api/calls?${new URLSearchParams({ id: text })}`);
    if (calls.length) location.href = `/calls/${encodeURIComponent(calls[0].id)}`;
    else msg.textContent = `No call has the id “${text}”.`;
  } catch (e) {
    msg.textContent = `Lookup failed: ${e.message}`;
  }
}

async function search(q) {
  const box = document.getElementById("results");
  const clear = document.getElementById("clear");
  if (!q) { box.replaceChildren(); clear.hidden = true; return; }
  clear.hidden = false;
  box.replaceChildren(H.el("p", { class: "muted" }, "Searching…"));
  try {
    const { hits } = await H.json(`/api/search?q=${encodeURIComponent(q)}`);
    if (!hits.length) { box.replaceChildren(H.el("p", { class: "muted" }, `No transcript line matches “${q}”.`)); return; }
    box.replaceChildren(
      H.el("p", { class: "muted small" }, `${hits.length} line${hits.length > 1 ? "s" : ""} match “${q}”`),
      H.el("ul", { class: "hits" }, hits.map((h) => {
        const href = `/calls/${encodeURIComponent(h.call.id)}#t=${h.segment.start}`;
        return H.el("li", { class: "hit" },
          H.el("a", { href, class: "hit-link" },
            H.el("span", { class: "hit-meta" }, H.time(h.call.started_at), " · ", h.call.caller_number || "—",
              " · ", h.call.queue || "no queue", " · ", H.el("span", { class: `leg ${h.segment.leg}` }, H.legName(h.segment.leg)),
              " @ ", H.clock(h.segment.start)),
            H.el("span", { class: "hit-text" }, H.marked(h.segment.text, h.spans))));
      })));
  } catch (e) {
    box.replaceChildren(H.el("p", { class: "error" }, `Search failed: ${e.message}`));
  }
}

/* live calls */
const live = new Map();

function liveCard(c) {
  const legs = ["caller", "agent"].map((leg) => {
    const finals = (c.finals || []).filter((f) => f.leg === leg);
    const last = finals.length ? finals[finals.length - 1].text : "";
    const partial = c.partials && c.partials[leg] ? c.partials[leg].text : "";
    return H.el("div", { class: `live-leg ${leg}` },
      H.el("span", { class: `leg ${leg}` }, H.legName(leg)),
      H.el("span", { class: "final" }, last),
      partial ? H.el("span", { class: "partial" }, " ", partial) : null);
  });
  return H.el("a", { class: "live-card", href: `/calls/${encodeURIComponent(c.call_id)}`, dataset: { call: c.call_id } },
    H.el("div", { class: "live-head" },
      H.el("span", { class: "mono" }, c.caller_number || c.call_id),
      H.el("span", { class: "muted small" }, [c.queue, c.agent].filter(Boolean).join(" · ") || "in IVR")),
    ...legs);
}

function renderLive() {
  const box = document.getElementById("live-calls");
  document.getElementById("live-count").textContent = String(live.size);
  box.replaceChildren(...(live.size ? [...live.values()].map(liveCard) : [H.el("p", { class: "muted" }, "No live calls.")]));
}

function applyLive(kind, m) {
  if (kind === "snapshot") { live.clear(); for (const c of m.calls) live.set(c.call_id, c); }
  else if (kind === "call.end") { live.delete(m.call_id); loadCalls(false); }
  else if (kind === "call.start" || kind === "call.update") { live.set(m.call_id, m); }
  else if (kind === "partial" || kind === "final") {
    const c = live.get(m.call_id) || { call_id: m.call_id, partials: {}, finals: [] };
    c.partials = c.partials || {}; c.finals = c.finals || [];
    if (kind === "partial") c.partials[m.leg] = { start: m.start, text: m.text };
    else { delete c.partials[m.leg]; c.finals.push({ leg: m.leg, start: m.start, end: m.end, text: m.text }); }
    live.set(m.call_id, c);
  }
  renderLive();
}

function connectLive() {
  const state = document.getElementById("live-state");
  const es = new EventSource("/api/live/stream");
  for (const kind of ["snapshot", "partial", "final", "call.start", "call.update", "call.end"]) {
    es.addEventListener(kind, (ev) => applyLive(kind, JSON.parse(ev.data)));
  }
  es.onopen = () => { state.textContent = "connected"; };
  es.onerror = () => { state.textContent = "reconnecting…"; };
}

document.addEventListener("DOMContentLoaded", async () => {
  const me = await H.who();
  const form = document.getElementById("filters");
  const params = new URLSearchParams(location.search);
  for (const name of FILTERS) {  // filters kept in the address (a reload or a shared link keeps them)
    const value = params.get(name);
    if (!value) continue;
    const field = form.elements[name];
    if (field.tagName === "SELECT") field.append(H.el("option", { value }, value));
    field.value = value;
  }
  if (me && me.privileged) document.getElementById("lookup-q").placeholder = "call id or caller number";
  filtersChanged();
  loadFacets();
  loadCalls(false);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); filtersChanged(); loadCalls(false); });
  document.getElementById("clear-filters").addEventListener("click", () => { form.reset(); filtersChanged(); loadCalls(false); });
  document.getElementById("lookup").addEventListener("submit", (ev) => {
    ev.preventDefault();
    lookup(document.getElementById("lookup-q").value.trim());
  });
  document.getElementById("more").addEventListener("click", () => loadCalls(true));
  connectLive();
  const q = document.getElementById("q");
  document.getElementById("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search(q.value.trim()); });
  document.getElementById("clear").addEventListener("click", () => { q.value = ""; search(""); });
  const initial = new URLSearchParams(location.search).get("q");
  if (initial) { q.value = initial; search(initial); }
});
