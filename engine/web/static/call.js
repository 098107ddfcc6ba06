/* One call: summary, audio player, and a single timeline of both legs' transcripts, IVR steps
   and queue events. Clicking a line seeks the player; the line being played is highlighted. */
"use strict";

const callId = decodeURIComponent(location.pathname.replace(/^\/calls\//, ""));
const player = document.getElementById("player");
let audioOffset = 0;  // call time (s) at which the current audio file starts
let lines = [];       // speech lines: {t, end, node}
let current = null;

const EVENT_LABELS = {
  "call.start": "Call started",
  "call.answer": "Answered",
  "call.hangup": "Hung up",
  "call.end": "Call ended",
  "ivr.start": "IVR started",
  "ivr.node": "IVR",
  "ivr.input": "Caller input",
  "ivr.end": "IVR finished",
  "queue.join": "Joined queue",
  "queue.answer": "Answered from queue",
  "queue.abandon": "Abandoned in queue",
  "queue.leave": "Left queue",
  "agent.ring": "Ringing call-taker",
  "agent.connect": "Call-taker connected",
  "agent.complete": "Call-taker finished",
  "callback.offer": "Callback offered",
  "callback.accept": "Callback accepted",
};

function eventText(item) {
  const d = item.data || {};
  const parts = [];
  for (const k of ["node", "verb", "queue", "agent", "input", "digits", "position", "outcome", "reason"]) {
    if (d[k] !== undefined && d[k] !== null && d[k] !== "") parts.push(k === "node" || k === "queue" || k === "agent" ? String(d[k]) : `${k} ${d[k]}`);
  }
  if (d.wait !== undefined) parts.push(`after ${H.dur(d.wait)}`);
  if (d.text) parts.push(`“${d.text}”`);
  return parts.join(" · ");
}

function seek(t) {
  if (!player.src) return;
  const pos = Math.max(0, t - audioOffset);
  player.currentTime = pos;
  const p = player.play();
  if (p && p.catch) p.catch(() => { /* autoplay refused: the position still moved */ });
  highlight(t);
}

function highlightWord(t) {
  const words = current ? [...current.node.querySelectorAll(".word")] : [];
  let on = null;  // the last word started by t, while it lasts
  for (const w of words) if (parseFloat(w.dataset.t) <= t + 0.02) on = w;
  if (on && t > parseFloat(on.dataset.end) + 0.3) on = null;
  for (const w of words) w.classList.toggle("current", w === on);
}

function highlight(t) {
  highlightWord(t);
  let found = null;
  for (const l of lines) {
    if (l.t <= t + 0.05 && t < Math.max(l.end, l.t + 0.3)) found = l;
  }
  if (found === current) return;
  if (current) {
    current.node.classList.remove("current");
    for (const w of current.node.querySelectorAll(".word.current")) w.classList.remove("current");
  }
  current = found;
  if (current) {
    current.node.classList.add("current");
    highlightWord(t);
    const r = current.node.getBoundingClientRect();
    if (r.top < 120 || r.bottom > window.innerHeight) current.node.scrollIntoView({ block: "center", behavior: "smooth" });
  }
}

/* the text, or its words as spans (so the word being spoken can be highlighted and clicked);
   words are spaced as their script is written (H.spaceBetween: none between Chinese characters) */
function speechText(item) {
  const words = (item.words || []).filter((w) => typeof w.start === "number");
  if (!words.length) return [item.text];
  const out = [];
  words.forEach((w, i) => {
    if (i && H.spaceBetween(words[i - 1].word, w.word)) out.push(" ");
    const span = H.el("span", { class: "word", dataset: { t: w.start, end: w.end ?? w.start } }, w.word);
    span.addEventListener("click", (ev) => { ev.stopPropagation(); seek(w.start); });
    out.push(span);
  });
  return out;
}

function speechLine(item) {
  const node = H.el("li", {
    class: `line speech ${item.leg}`, tabindex: 0, dataset: { t: item.t, end: item.end },
    title: "Play from here",
  },
    H.el("span", { class: "stamp" }, H.clock(item.t)),
    H.el("div", { class: "bubble" },
      H.el("span", { class: `leg ${item.leg}` }, H.legName(item.leg)),
      H.el("span", { class: "text" }, speechText(item))));
  node.addEventListener("click", () => seek(item.t));
  node.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); seek(item.t); } });
  lines.push({ t: item.t, end: item.end ?? item.t, node });
  return node;
}

function eventLine(item) {
  const node = H.el("li", { class: `line event ${item.kind.split(".")[0]}`, dataset: { t: item.t }, title: "Play from here" },
    H.el("span", { class: "stamp" }, H.clock(item.t)),
    H.el("span", { class: "event-label" }, EVENT_LABELS[item.kind] || item.kind),
    H.el("span", { class: "event-text" }, eventText(item)));
  node.addEventListener("click", () => seek(item.t));
  return node;
}

function fact(dt, dd) { return [H.el("dt", {}, dt), H.el("dd", {}, dd)]; }

/* other calls of the same request: the call back of a booking, the booking of a call back */
const RELATION_LABELS = { callback: "Called back in", callback_of: "Call back of" };

function relatedFacts(related) {
  return related.flatMap((r) => fact(RELATION_LABELS[r.kind] || r.kind,
    H.el("a", { href: `/calls/${encodeURIComponent(r.call_id)}`, class: "mono related" }, r.call_id)));
}

function renderSummary(call, related) {
  document.getElementById("title").textContent = `Call ${call.id}`;
  document.title = `Hotline supervisor · call ${call.id}`;
  document.getElementById("facts").replaceChildren(
    ...fact("Started", H.time(call.started_at)),
    ...fact("Caller", H.el("span", { class: "mono" }, call.caller_number || "—")),
    ...fact("Name", call.caller_name || "—"),
    ...fact("Queue", call.queue || "—"),
    ...fact("Wait", H.dur(call.wait_seconds)),
    ...fact("Call-taker", call.agent || "—"),
    ...fact("Outcome", call.live ? H.el("span", { class: "outcome live" }, "live") : H.outcome(call.outcome)),
    ...fact("Ended", H.time(call.ended_at)),
    ...relatedFacts(related),
  );
  const ivr = document.getElementById("ivr");
  const path = call.ivr_path || [];
  const chips = [];
  if (path.length) {
    chips.push(H.el("span", { class: "muted small" }, "IVR path"));
    path.forEach((n, i) => {
      if (i) chips.push(H.el("span", { class: "sep" }, "›"));
      chips.push(H.el("span", { class: "chip" }, n));
    });
    if (call.ivr_outcome) chips.push(H.el("span", { class: "muted small" }, `→ ${call.ivr_outcome}`));
  }
  ivr.replaceChildren(...chips);
}

function renderAudio(audio) {
  const card = document.getElementById("player-card");
  if (!audio.length) { card.hidden = true; return; }
  card.hidden = false;
  const tracks = document.getElementById("tracks");
  const choose = (a) => {
    audioOffset = a.offset || 0;
    player.src = a.url;
    for (const b of tracks.children) b.classList.toggle("active", b.dataset.id === String(a.id));
  };
  tracks.replaceChildren(...(audio.length > 1 ? audio.map((a) =>
    H.el("button", { type: "button", class: "secondary small", dataset: { id: a.id }, onclick: () => choose(a) }, H.legName(a.leg))) : []));
  const preferred = audio.find((a) => a.leg === "mixed") || audio[0];
  choose(preferred);
}

function renderTimeline(items) {
  lines = [];
  const ol = document.getElementById("timeline");
  ol.replaceChildren(...(items.length ? items.map((it) => (it.kind === "speech" ? speechLine(it) : eventLine(it)))
    : [H.el("li", { class: "muted" }, "Nothing recorded for this call yet.")]));
}

/* live: finals are appended, one partial line per leg is kept up to date */
function followLive() {
  document.getElementById("live-badge").hidden = false;
  const ol = document.getElementById("timeline");
  const partials = {};
  const es = new EventSource(`/api/live/stream?call=${encodeURIComponent(callId)}`);
  const partialLine = (leg) => {
    if (!partials[leg]) {
      partials[leg] = H.el("li", { class: `line speech partial ${leg}` },
        H.el("span", { class: "stamp" }, ""), H.el("div", { class: "bubble" },
          H.el("span", { class: `leg ${leg}` }, H.legName(leg)), H.el("span", { class: "text" }, "")));
      ol.append(partials[leg]);
    }
    return partials[leg];
  };
  es.addEventListener("partial", (ev) => {
    const m = JSON.parse(ev.data);
    const li = partialLine(m.leg);
    li.querySelector(".stamp").textContent = H.clock(m.start);
    li.querySelector(".text").textContent = m.text;
  });
  es.addEventListener("final", (ev) => {
    const m = JSON.parse(ev.data);
    if (partials[m.leg]) { partials[m.leg].remove(); delete partials[m.leg]; }
    const empty = ol.querySelector("li.muted");
    if (empty) empty.remove();
    ol.append(speechLine({ t: m.start, end: m.end, leg: m.leg, text: m.text }));
  });
  es.addEventListener("call.end", () => { es.close(); document.getElementById("live-badge").hidden = true; setTimeout(load, 500); });
}

async function load() {
  try {
    const body = await H.json(`/api/calls/${encodeURIComponent(callId)}`);
    renderSummary(body.call, body.related || []);
    renderAudio(body.audio || []);
    renderTimeline(body.items || []);
    if (body.live) followLive();
    const m = location.hash.match(/^#t=([0-9.]+)/);
    if (m) {
      const t = parseFloat(m[1]);
      highlight(t);
      if (current) current.node.scrollIntoView({ block: "center" });
      if (player.src) player.addEventListener("loadedmetadata", () => { player.currentTime = Math.max(0, t - audioOffset); }, { once: true });
    }
  } catch (e) {
    document.getElementById("timeline").replaceChildren(H.el("li", { class: "error" }, `Could not load the call: ${e.message}`));
  }
}

player.addEventListener("timeupdate", () => highlight(player.currentTime + audioOffset));
player.addEventListener("seeked", () => highlight(player.currentTime + audioOffset));

document.addEventListener("DOMContentLoaded", async () => { await H.who(); load(); });
