/* Per-interval queue statistics of one day from the store (/api/stats/intervals): two SVG charts
   (calls offered/answered/abandoned, service level) and the KPI table, times in the site's zone. */
"use strict";

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/* a round step for four grid lines over 0..v: 1, 2, 5, 10, 20, 50, ... */
function niceStep(v) {
  const raw = Math.max(1, v / 4);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

const W = 1100, HGT = 200, L = 44, R = 8, T = 10, B = 26;

/* a chart frame: y axis ticks and labels, x labels every two hours; returns helpers */
function frame(rows, step, unit) {
  const ymax = step * 4;
  const root = svg("svg", { viewBox: `0 0 ${W} ${HGT}`, role: "img" });
  const n = rows.length, slot = (W - L - R) / n;
  const y = (v) => T + (HGT - T - B) * (1 - v / ymax);
  for (let i = 0; i <= 4; i++) {
    const v = step * i;
    root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, `${Math.round(v)}${unit}`));
  }
  const every = Math.max(1, Math.round(n / 12));
  rows.forEach((r, i) => {
    if (i % every === 0) root.append(svg("text", { x: L + i * slot + 2, y: HGT - 8, class: "axis" }, r.interval));
  });
  return { root, slot, y, x: (i) => L + i * slot };
}

function callsChart(rows) {
  const f = frame(rows, niceStep(Math.max(1, ...rows.map((r) => r.received))), "");
  rows.forEach((r, i) => {
    let base = 0;
    for (const [cls, v] of [["answered", r.answered], ["abandoned", r.abandoned],
      ["other", r.timeout + r.callback + r.waiting]]) {
      if (!v) continue;
      const top = f.y(base + v), bottom = f.y(base);
      const bar = svg("rect", { x: f.x(i) + 1, y: top, width: Math.max(1, f.slot - 2), height: bottom - top, class: `bar ${cls}` });
      bar.append(svg("title", {}, `${r.interval}: ${v} ${cls}`));
      f.root.append(bar);
      base += v;
    }
  });
  return f.root;
}

function slChart(rows) {
  const f = frame(rows, 25, "%");
  let path = "", drawing = false;  // the line breaks at intervals without answered calls
  rows.forEach((r, i) => {
    if (r.service_level_pct === null) { drawing = false; return; }
    const cx = f.x(i) + f.slot / 2, cy = f.y(r.service_level_pct);
    path += `${drawing ? "L" : "M"}${cx.toFixed(1)},${cy.toFixed(1)} `;
    drawing = true;
    const dot = svg("circle", { cx, cy, r: 3, class: "sl-dot" });
    dot.append(svg("title", {}, `${r.interval}: ${r.service_level_pct} % of ${r.answered} answered`));
    f.root.append(dot);
  });
  const d = path.trim();
  if (d) f.root.append(svg("path", { d, class: "sl-line" }));
  return f.root;
}

const pct = (v) => (v === null || v === undefined ? "—" : v.toFixed(1));
const sec = (v) => (v === null || v === undefined ? "—" : Math.round(v).toString());

function columns(body) {
  return [
    ["Interval", (r) => r.interval],
    ["Received", (r) => r.received], ["Answered", (r) => r.answered], ["Abandoned", (r) => r.abandoned],
    ["Timeout", (r) => r.timeout], ["Callback", (r) => r.callback], ["Waiting", (r) => r.waiting],
    ...body.bands.map((b) => [`≤${b} s`, (r) => r.answered_within[String(b)]]),
    [`SL % (${body.sl_seconds} s)`, (r) => pct(r.service_level_pct)],
    ["Answ. %", (r) => pct(r.answered_rate_pct)], ["Aband. %", (r) => pct(r.abandon_rate_pct)],
    ["ASA s", (r) => sec(r.asa)], ["Max wait s", (r) => sec(r.max_wait)], ["AHT s", (r) => sec(r.aht)],
    ["Busy", (r) => (r.busy_agents === null ? "—" : r.busy_agents.toFixed(2))], ["Occup. %", (r) => pct(r.occupancy_pct)],
  ];
}

function renderTable(body, showAll) {
  const cols = columns(body);
  const table = document.getElementById("kpis");
  table.tHead.replaceChildren(H.el("tr", {}, cols.map(([h], i) => H.el("th", { class: i ? "num" : "" }, h))));
  const rows = body.intervals.filter((r) => showAll || r.received || r.talk_seconds);
  const row = (r, cls) => H.el("tr", { class: cls || "" }, cols.map(([, f], i) => H.el("td", { class: i ? "num" : "" }, String(f(r)))));
  table.tBodies[0].replaceChildren(...(rows.length ? rows.map((r) => row(r))
    : [H.el("tr", {}, H.el("td", { colspan: cols.length, class: "muted" }, "No queue calls on this day."))]));
  table.tFoot.replaceChildren(row({ ...body.total, interval: "Day" }, "total"));
}

function renderSummary(body) {
  const t = body.total;
  const item = (k, v) => H.el("div", { class: "sum" }, H.el("span", { class: "k" }, k), H.el("span", { class: "v" }, v));
  document.getElementById("summary").replaceChildren(
    item("Received", String(t.received)), item("Answered", String(t.answered)), item("Abandoned", String(t.abandoned)),
    item(`Service level (${body.sl_seconds} s)`, t.service_level_pct === null ? "—" : `${t.service_level_pct} %`),
    item("Abandon rate", t.abandon_rate_pct === null ? "—" : `${t.abandon_rate_pct} %`),
    item("ASA", H.dur(t.asa)), item("AHT", H.dur(t.aht)),
  );
}

let last = null;

async function load() {
  const form = document.getElementById("st-form");
  const q = new URLSearchParams({ day: form.elements.day.value });
  if (form.elements.queue.value) q.set("queue", form.elements.queue.value);
  history.replaceState(null, "", `/stats?${q}`);
  document.getElementById("st-note").textContent = "loading…";
  try {
    const body = await H.json(`/api/stats/intervals?${q}`);
    last = body;
    const select = form.elements.queue;
    const chosen = body.queue || "";
    select.replaceChildren(H.el("option", { value: "" }, "all queues"), ...body.queues.map((v) => H.el("option", { value: v }, v)));
    select.value = chosen;
    document.getElementById("st-note").textContent =
      `${body.day} · ${body.queue || "all queues"} · ${body.interval_minutes}-minute intervals · ${body.timezone}`;
    document.getElementById("sl-def").textContent = `answered within ${body.sl_seconds} s, of answered calls`;
    renderSummary(body);
    document.getElementById("chart-calls").replaceChildren(callsChart(body.intervals));
    document.getElementById("chart-sl").replaceChildren(slChart(body.intervals));
    renderTable(body, form.elements.all.checked);
  } catch (e) {
    document.getElementById("st-note").textContent = `could not load: ${e.message}`;
  }
}

function shiftDay(days) {
  const input = document.getElementById("st-form").elements.day;
  const d = new Date(`${input.value}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  input.value = d.toISOString().slice(0, 10);
  load();
}

document.addEventListener("DOMContentLoaded", async () => {
  await H.who();
  const form = document.getElementById("st-form");
  const params = new URLSearchParams(location.search);
  form.elements.day.value = params.get("day") || H.today();
  if (params.get("queue")) {
    form.elements.queue.append(H.el("option", { value: params.get("queue") }, params.get("queue")));
    form.elements.queue.value = params.get("queue");
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  form.elements.all.addEventListener("change", () => { if (last) renderTable(last, form.elements.all.checked); });
  document.getElementById("prev").addEventListener("click", () => shiftDay(-1));
  document.getElementById("next").addEventListener("click", () => shiftDay(1));
  load();
});
