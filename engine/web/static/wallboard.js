/* The live wallboard: per queue KPIs with traffic lights from [wallboard], call-takers by state,
   and the alert list (raised -> acknowledged -> resolved), refreshed every few seconds. */
"use strict";

const TILES = [
  ["waiting", "Waiting", (v) => H.num(v)],
  ["longest_wait", "Longest wait", (v) => H.short(v)],
  ["service_level_pct", "Service level", (v) => (v === null ? "—" : `${v.toFixed(1)} %`)],
  ["abandon_rate_pct", "Abandon rate", (v) => (v === null ? "—" : `${v.toFixed(1)} %`)],
  ["asa", "ASA", (v) => H.short(v)],
  ["aht", "AHT", (v) => H.short(v)],
  ["occupancy_pct", "Occupancy", (v) => (v === null ? "—" : `${v.toFixed(0)} %`)],
];
const STATES = [["available", "available"], ["ringing", "ringing"], ["talking", "on a call"],
  ["wrap_up", "wrap-up"], ["paused", "paused"], ["unavailable", "unavailable"]];

function queueCard(q) {
  const tiles = TILES.map(([key, label, fmt]) => H.el("div", {
    class: `tile ${q.status[key] || "none"}`, dataset: { kpi: key }, title: q.status[key] ? `${label}: ${q.status[key]}` : label,
  }, H.el("span", { class: "k" }, label), H.el("span", { class: "v" }, fmt(q[key]))));
  tiles.push(H.el("div", { class: "tile none counts" }, H.el("span", { class: "k" }, "Today"),
    H.el("span", { class: "v small-v" }, `${q.offered} offered · ${q.answered} answered · ${q.abandoned} abandoned`)));
  const agents = q.agents || {};
  return H.el("div", { class: "wb-queue", dataset: { queue: q.queue } },
    H.el("h3", {}, q.queue, H.el("span", { class: "muted small" }, ` service level ${q.sl_seconds} s · call-takers logged in: ${agents.logged_in || 0}`)),
    H.el("div", { class: "tiles" }, tiles),
    H.el("div", { class: "states" }, STATES.map(([key, label]) =>
      H.el("span", { class: `state ${key}`, dataset: { state: key } }, H.el("b", {}, String(agents[key] || 0)), ` ${label}`))));
}

function alertRow(a) {
  const ack = a.state === "raised"
    ? H.el("button", { type: "button", class: "secondary small", dataset: { alert: a.id }, onclick: () => acknowledge(a.id) }, "Acknowledge")
    : null;
  const when = a.state === "resolved" ? `resolved ${H.hm(a.resolved_at)}`
    : a.state === "acknowledged" ? `acknowledged ${H.hm(a.acknowledged_at)}` : "raised";
  return H.el("tr", { class: `alert ${a.state}`, dataset: { alert: a.id } },
    H.el("td", {}, H.time(a.raised_at)),
    H.el("td", {}, a.queue),
    H.el("td", { class: "wrap" }, a.message),
    H.el("td", {}, H.el("span", { class: `alert-state ${a.state}` }, when)),
    H.el("td", {}, ack));
}

let timer = null;

async function refresh() {
  clearTimeout(timer);
  let every = 5;
  const state = document.getElementById("wb-state");
  try {
    const wb = await H.json("/api/wallboard");
    const box = document.getElementById("queues");
    const msg = document.getElementById("wb-message");
    if (!wb.live) {
      msg.hidden = false;
      msg.replaceChildren(wb.message, " · ", H.el("a", { href: "/stats" }, "today's statistics from the store"));
      box.replaceChildren();
      state.textContent = "";
      return;  // nothing live to refresh
    }
    every = wb.refresh_seconds || every;
    box.replaceChildren(...(wb.queues.length ? wb.queues.map(queueCard) : [H.el("p", { class: "muted" }, "No queue seen yet.")]));
    const open = wb.alerts.filter((a) => a.state !== "resolved").length;
    document.getElementById("alert-count").textContent = String(open);
    document.getElementById("alert-count").classList.toggle("live", wb.alerts.some((a) => a.state === "raised"));
    document.querySelector("#alerts tbody").replaceChildren(...(wb.alerts.length ? wb.alerts.map(alertRow)
      : [H.el("tr", {}, H.el("td", { colspan: 5, class: "muted" }, "No alerts."))]));
    state.textContent = `updated ${H.time(wb.at).slice(11)}`;
  } catch (e) {
    state.textContent = `could not refresh: ${e.message}`;
  }
  timer = setTimeout(refresh, every * 1000);
}

async function acknowledge(id) {
  try {
    await H.send(`/api/alerts/${encodeURIComponent(id)}/ack`, {});
  } catch (e) {
    document.getElementById("wb-state").textContent = `could not acknowledge: ${e.message}`;
  }
  refresh();
}

document.addEventListener("DOMContentLoaded", async () => { await H.who(); refresh(); });
