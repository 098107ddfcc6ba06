/* Helpers shared by the supervisor pages. DOM is built with textContent only (no innerHTML),
   so transcript text can never inject markup. */
"use strict";

const H = {
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  },

  async json(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (r.status === 401) { location.reload(); throw new Error("token required"); }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    return body;
  },

  pad(n) { return String(n).padStart(2, "0"); },

  time(epoch) {
    if (epoch === null || epoch === undefined) return "—";
    const d = new Date(epoch * 1000);
    return `${d.getFullYear()}-${H.pad(d.getMonth() + 1)}-${H.pad(d.getDate())} ${H.pad(d.getHours())}:${H.pad(d.getMinutes())}:${H.pad(d.getSeconds())}`;
  },

  /* seconds from call start, as m:ss.s */
  clock(t) {
    if (t === null || t === undefined) return "";
    const s = Math.max(0, t);
    return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;
  },

  dur(s) {
    if (s === null || s === undefined) return "—";
    if (s < 60) return `${Math.round(s)} s`;
    return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  },

  /* text with <mark> around the given [start, end) character spans */
  marked(text, spans) {
    const out = [];
    let pos = 0;
    for (const [s, e] of spans || []) {
      if (s > pos) out.push(text.slice(pos, s));
      out.push(H.el("mark", {}, text.slice(s, e)));
      pos = e;
    }
    out.push(text.slice(pos));
    return out;
  },

  legName(leg) { return { caller: "Caller", agent: "Call-taker", mixed: "Both legs" }[leg] || leg; },

  outcome(o) {
    return H.el("span", { class: `outcome ${o || "none"}` }, o || "—");
  },

  async who() {
    try {
      const me = await H.json("/api/me");
      const w = document.getElementById("who");
      if (w) w.textContent = me.personal_data_shown ? "personal data shown" : "personal data masked";
    } catch (e) { /* the page itself reports errors */ }
  },
};
