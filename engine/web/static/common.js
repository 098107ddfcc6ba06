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

  async send(url, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
    });
    if (r.status === 401) { location.reload(); throw new Error("token required"); }
    const out = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(out.error || `HTTP ${r.status}`);
    return out;
  },

  pad(n) { return String(n).padStart(2, "0"); },

  /* the site's time zone ([site] timezone, from /api/me); times on every page are shown in it */
  tz: undefined,
  me: null,

  _parts(epoch) {
    const f = new Intl.DateTimeFormat("en-GB", {
      timeZone: H.tz, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
    });
    const p = {};
    for (const { type, value } of f.formatToParts(new Date(epoch * 1000))) p[type] = value;
    return p;
  },

  time(epoch) {
    if (epoch === null || epoch === undefined) return "—";
    const p = H._parts(epoch);
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
  },

  /* HH:MM in the site's zone */
  hm(epoch) {
    if (epoch === null || epoch === undefined) return "—";
    const p = H._parts(epoch);
    return `${p.hour}:${p.minute}`;
  },

  /* today's date (YYYY-MM-DD) in the site's zone */
  today() {
    const p = H._parts(Date.now() / 1000);
    return `${p.year}-${p.month}-${p.day}`;
  },

  num(v, digits) {
    if (v === null || v === undefined) return "—";
    return digits === undefined ? String(v) : Number(v).toFixed(digits);
  },

  /* seconds from call start, as m:ss.s (rounded before splitting: 59.96 s is 1:00.0, not 0:60.0) */
  clock(t) {
    if (t === null || t === undefined) return "";
    const tenths = Math.round(Math.max(0, t) * 10);
    return `${Math.floor(tenths / 600)}:${((tenths % 600) / 10).toFixed(1).padStart(4, "0")}`;
  },

  /* whole minutes and seconds of a duration, rounded once (119.6 s is 2 and 0, not 1 and 60) */
  _minSec(s) {
    const whole = Math.round(Math.max(0, s));
    return [Math.floor(whole / 60), whole % 60];
  },

  /* a duration for a small tile: 45 s, 2m 10s */
  short(s) {
    if (s === null || s === undefined) return "—";
    const [m, sec] = H._minSec(s);
    return m ? `${m}m ${H.pad(sec)}s` : `${sec} s`;
  },

  dur(s) {
    if (s === null || s === undefined) return "—";
    const [m, sec] = H._minSec(s);
    return m ? `${m} min ${sec} s` : `${sec} s`;
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

  /* Whether two recognised words are written with a space between them. Chinese and Japanese
     (Han, kana, full-width forms) are written without spaces; every other script keeps them:
     Latin, digits, and Korean (Hangul separates words with spaces). */
  UNSPACED: /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u3000-\u303f\uff00-\uffef]/u,

  spaceBetween(before, after) {
    if (!before || !after) return false;
    return !(H.UNSPACED.test(before.slice(-1)) && H.UNSPACED.test(after.charAt(0)));
  },

  legName(leg) { return { caller: "Caller", agent: "Call-taker", mixed: "Both legs" }[leg] || leg; },

  outcome(o) {
    return H.el("span", { class: `outcome ${o || "none"}` }, o || "—");
  },

  /* who is looking and the site's settings; every page awaits it before showing times */
  async who() {
    try {
      const me = await H.json("/api/me");
      H.me = me;
      H.tz = me.timezone || undefined;
      const w = document.getElementById("who");
      if (w) w.textContent = `${me.personal_data_shown ? "personal data shown" : "personal data masked"} · ${me.timezone}`;
    } catch (e) { /* the page itself reports errors */ }
    return H.me;
  },
};
