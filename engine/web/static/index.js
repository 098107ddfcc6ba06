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
    H.el("td", {}, ivrPath(c.ivr_path)),
    H.el("td", {}, c.queue || "—"),
    H.el("td", { class: "num" }, H.dur(c.wait_seconds)),
    H.el("td", {}, c.agent || "—"),
    H.el("td", {}, c.live ? H.el("span", { class: "outcome live" }, "live") : H.outcome(c.outcome)),
    H.el("td", { class: "num" }, String(c.segment_count), c.has_audio ? " ♪" : ""),
  );
  return tr;
}

const PAGE = 100;

/* the first page, or (older=true) the next older page appended */
async function loadCalls(older) {
  const tbody = document.querySelector("#calls tbody");
  const more = document.getElementById("more");
  let url = `/api/calls?limit=${PAGE}`;
  if (older && tbody.dataset.before) url += `&before=${tbody.dataset.before}`;
  try {
    const { calls } = await H.json(url);
    const rows = calls.map(callRow);
    if (older) tbody.append(...rows);
    else tbody.replaceChildren(...(rows.length ? rows
      : [H.el("tr", {}, H.el("td", { colspan: 8, class: "muted" }, "No calls stored yet."))]));
    if (calls.length) {
      const last = calls[calls.length - 1];
      tbody.dataset.before = String(last.started_at ?? last.updated_at);
    }
    more.hidden = calls.length < PAGE;
  } catch (e) {
    tbody.replaceChildren(H.el("tr", {}, H.el("td", { colspan: 8, class: "error" }, `Could not load calls: ${e.message}`)));
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

document.addEventListener("DOMContentLoaded", () => {
  H.who();
  loadCalls(false);
  document.getElementById("more").addEventListener("click", () => loadCalls(true));
  connectLive();
  const form = document.getElementById("search-form");
  const q = document.getElementById("q");
  form.addEventListener("submit", (ev) => { ev.preventDefault(); search(q.value.trim()); });
  document.getElementById("clear").addEventListener("click", () => { q.value = ""; search(""); });
  const initial = new URLSearchParams(location.search).get("q");
  if (initial) { q.value = initial; search(initial); }
});
