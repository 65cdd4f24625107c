// altsa page: talks to the JSON API of the same server (no build step, no external code).
// Whole conversation -> POST /v1/predict; turn by turn -> a session
// (POST /v1/sessions, POST /v1/sessions/{id}/utterances, DELETE /v1/sessions/{id});
// a recording -> POST /v1/recordings, its timeline drawn against the audio (or video) player.
"use strict";

const KNOWN = ["anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise", "negative", "positive"];
const MODS = ["text", "audio", "video"];
const EXAMPLE = [
  "Monica: There's nothing to tell! He's just some guy I work with!",
  "Joey: C'mon, you're going out with the guy! There's gotta be something wrong with him!",
  "Chandler: All right Joey, be nice. So does he have a hump? A hump and a hairpiece?",
  "Phoebe: Wait, does he eat chalk?",
  "Monica: Okay, everybody relax. This is not even a date.",
  "Ross: I just feel like someone reached down my throat and pulled out my small intestine.",
].join("\n");

const $ = (id) => document.getElementById(id);
let sessionId = null;
// The API of the model this page belongs to: "/" for the default model, "/models/<name>/"
// for another one the server offers (GET /v1/models at the root lists them).
const BASE = location.pathname.replace(/[^/]*$/, "");
const url = (path) => BASE + path.replace(/^\//, "");
let mediaUrl = null; // object URL of the recording being played (revoked when replaced)

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function labelClass(label) {
  const key = String(label).toLowerCase();
  return "label-" + (KNOWN.includes(key) ? key : "other");
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

// Every error of the API has the shape {"error": {"code", "message"}}.
async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(url(path), init);
  } catch (err) {
    throw Object.assign(new Error("cannot reach the server (" + err.message + ")"), { code: "network" });
  }
  if (response.status === 204) return null;
  let data = null;
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const e = (data && data.error) || { code: "http_" + response.status, message: response.statusText };
    throw Object.assign(new Error(e.message), { code: e.code, status: response.status });
  }
  return data;
}

// "Speaker: text" -> {speaker, text}; a line without a short "name:" prefix has no speaker.
function parseLine(line) {
  const m = line.match(/^\s*([^:]{1,60}?)\s*:\s*(.*)$/);
  if (m && m[2].trim()) return { speaker: m[1].trim(), text: m[2].trim() };
  return { speaker: "", text: line.trim() };
}

function parseConversation(text) {
  return text.split(/\r?\n/).filter((l) => l.trim()).map(parseLine);
}

function bar(name, value, fillClass) {
  const row = el("div", "bar");
  row.append(el("span", "name", name));
  const track = el("div", "track");
  const fill = el("div", "fill " + fillClass);
  fill.style.width = Math.round(Math.max(0, Math.min(1, value)) * 100) + "%";
  track.append(fill);
  row.append(track, el("span", "num", Math.round(value * 100) + "%"));
  return row;
}

function renderTurn(p, index) {
  const li = el("li", "turn");
  li.dataset.label = p.label;
  li.dataset.index = String(index);
  li.append(el("div", "stripe " + labelClass(p.label)));

  const body = el("div", "body");
  const head = el("div");
  if (typeof p.start === "number") {
    li.dataset.start = String(p.start);
    li.dataset.end = String(p.end);
    li.classList.add("seekable");
    li.title = "play from here";
    head.append(el("span", "time", clock(p.start) + "–" + clock(p.end)));
  }
  head.append(el("span", "speaker", p.speaker || "speaker"), document.createTextNode(" "));
  const chip = el("span", "chip emotion " + labelClass(p.label), p.label);
  chip.title = "confidence " + Math.round(p.confidence * 100) + "%";
  head.append(chip);
  body.append(head, el("div", "text", p.text));
  const probs = el("details", "probs");
  probs.append(el("summary", null, "all labels"));
  Object.entries(p.probabilities)
    .sort((a, b) => b[1] - a[1])
    .forEach(([label, v]) => probs.append(bar(label, v, labelClass(label))));
  body.append(probs);
  li.append(body);

  const side = el("div", "side");
  side.append(bar("confidence", p.confidence, labelClass(p.label)));
  side.append(el("div", "caption", "modality weights"));
  MODS.forEach((m) => side.append(bar(m, (p.weights && p.weights[m]) || 0, "mod-" + m)));
  li.append(side);

  const why = Object.entries(p.absent || {})
    .filter(([, reason]) => reason !== "not_provided") // weight 0 already says "not given"
    .map(([m, reason]) => m + ": " + reason.replace(/_/g, " "));
  if (why.length) li.append(el("div", "absent muted", "not used: " + why.join(", ")));
  return li;
}

// The conversation at a glance: one coloured block per turn, in order.
function stripBlock(p, index) {
  const block = el("span", labelClass(p.label));
  block.title = (index + 1) + ". " + (p.speaker || "speaker") + ": " + p.label + " (" + Math.round(p.confidence * 100) + "%)";
  return block;
}

function renderTimeline(predictions) {
  const list = $("timeline");
  list.replaceChildren(...predictions.map(renderTurn));
  $("strip").replaceChildren(...predictions.map(stripBlock));
  $("empty").hidden = predictions.length > 0;
  const timed = predictions.length > 0 && typeof predictions[0].start === "number";
  if (!timed) $("player").hidden = true;
  $("strip").hidden = timed; // a recording's utterances are drawn along its player instead
}

// Seconds -> m:ss.s
function clock(seconds) {
  const t = Math.max(0, Math.round(seconds * 10) / 10);
  const m = Math.floor(t / 60);
  const s = (t - 60 * m).toFixed(1).padStart(4, "0");
  return m + ":" + s;
}

function player() {
  return $("rec-video").hidden ? $("rec-audio") : $("rec-video");
}

// The recording's utterances along a bar as long as the recording, under the player.
function drawTrack(predictions, duration) {
  const track = $("track");
  const head = $("playhead");
  const segs = predictions.map((p, i) => {
    const seg = el("span", "seg " + labelClass(p.label));
    seg.style.left = (100 * p.start / duration).toFixed(3) + "%";
    seg.style.width = Math.max(0.3, 100 * (p.end - p.start) / duration).toFixed(3) + "%";
    seg.title = clock(p.start) + " " + (p.speaker || "speaker") + ": " + p.label + " (" + Math.round(p.confidence * 100) + "%)";
    seg.dataset.index = String(i);
    return seg;
  });
  track.replaceChildren(...segs, head);
  track.dataset.duration = String(duration);
}

function onTime() {
  const media = player();
  const duration = Number($("track").dataset.duration || 0);
  if (duration > 0) $("playhead").style.left = Math.min(100, 100 * media.currentTime / duration).toFixed(3) + "%";
  document.querySelectorAll("#timeline .turn.seekable").forEach((li) => {
    const on = media.currentTime >= Number(li.dataset.start) && media.currentTime < Number(li.dataset.end);
    li.classList.toggle("current", on);
  });
}

function seek(seconds) {
  const media = player();
  media.currentTime = seconds;
  media.play().catch(() => { /* autoplay refused: the position is set */ });
}

async function onRecording(event) {
  event.preventDefault();
  showError("");
  const file = $("rec-file").files[0];
  if (!file) return showError("Choose an audio or video file.");
  const form = new FormData();
  form.append("recording", file, file.name);
  const speakers = $("rec-speakers").value.trim();
  if (speakers) form.append("speakers", speakers);
  busy($("rec-submit"), true);
  try {
    const out = await api("POST", "/v1/recordings", form);
    if (mediaUrl) URL.revokeObjectURL(mediaUrl);
    mediaUrl = URL.createObjectURL(file);
    const isVideo = out.video || file.type.startsWith("video/");
    $("rec-video").hidden = !isVideo;
    $("rec-audio").hidden = isVideo;
    player().src = mediaUrl;
    renderTimeline(out.predictions);
    drawTrack(out.predictions, out.duration);
    $("player").hidden = false;
    const n = out.predictions.length;
    $("rec-notes").textContent = [clock(out.duration) + " · " + n + " utterance" + (n === 1 ? "" : "s") + " · " +
      out.speakers + " speaker" + (out.speakers === 1 ? "" : "s"), ...out.notices].join(" · ");
    $("empty").hidden = n > 0;
  } catch (err) {
    showError(err.message);
  } finally {
    busy($("rec-submit"), false);
  }
}

function appendTurn(p) {
  const list = $("timeline");
  $("strip").append(stripBlock(p, list.children.length));
  list.append(renderTurn(p, list.children.length));
  $("empty").hidden = true;
  list.lastElementChild.scrollIntoView({ block: "nearest" });
}

function busy(button, on) {
  button.disabled = on;
  button.classList.toggle("pending", on);
}

async function onConversation(event) {
  event.preventDefault();
  showError("");
  const utterances = parseConversation($("conv-text").value);
  if (!utterances.length) return showError("Type or paste at least one line.");
  busy($("conv-submit"), true);
  try {
    const out = await api("POST", "/v1/predict", { dialogue_id: "page", utterances });
    renderTimeline(out.predictions);
  } catch (err) {
    showError(err.message);
  } finally {
    busy($("conv-submit"), false);
  }
}

function setSession(id) {
  sessionId = id;
  $("session-state").textContent = id ? "Session open." : "No session yet.";
  $("live-end").disabled = !id;
}

async function openSession() {
  const s = await api("POST", "/v1/sessions");
  setSession(s.id);
  renderTimeline([]);
  return s.id;
}

async function onTurn(event) {
  event.preventDefault();
  showError("");
  const text = $("live-text").value.trim();
  if (!text) return showError("Type what the speaker says.");
  const form = new FormData();
  form.append("speaker", $("live-speaker").value.trim());
  form.append("text", text);
  const clip = $("live-clip").files[0];
  if (clip) form.append("media", clip, clip.name);
  busy($("live-submit"), true);
  try {
    if (!sessionId) await openSession();
    let p;
    try {
      p = await api("POST", "/v1/sessions/" + encodeURIComponent(sessionId) + "/utterances", form);
    } catch (err) {
      if (err.code !== "unknown_session") throw err;
      await openSession(); // expired while idle: start again rather than fail
      showError("The previous session expired; a new one was started.");
      p = await api("POST", "/v1/sessions/" + encodeURIComponent(sessionId) + "/utterances", form);
    }
    appendTurn(p);
    $("live-text").value = "";
    $("live-clip").value = "";
    $("live-text").focus();
  } catch (err) {
    showError(err.message);
  } finally {
    busy($("live-submit"), false);
  }
}

async function onEnd() {
  if (!sessionId) return;
  try { await api("DELETE", "/v1/sessions/" + encodeURIComponent(sessionId)); } catch (_) { /* gone already */ }
  setSession(null);
}

function selectTab(name) {
  document.querySelectorAll("[role=tab]").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === name)));
  document.querySelectorAll("[data-pane]").forEach((p) => { p.hidden = p.dataset.pane !== name; });
  showError("");
}

async function loadModels() {
  // The model menu: every model this server offers; picking one opens its page.
  let models = [];
  try { models = await (await fetch("/v1/models")).json(); } catch (_) { /* an older server */ }
  const select = $("model-select");
  if (!Array.isArray(models) || models.length < 2) { select.parentElement.hidden = true; return; }
  select.replaceChildren(...models.map((m) => {
    const option = el("option", "", m.name + (m.default ? " (default)" : ""));
    option.value = m.path;
    option.selected = m.path === BASE;
    return option;
  }));
  select.addEventListener("change", () => { location.href = select.value; });
}

async function loadModel() {
  loadModels();
  try {
    const info = await api("GET", "/v1/model");
    $("model-info").textContent = info.name + " · reads " + info.modalities.join(", ") + " · labels: " + info.labels.join(", ");
    const legend = $("legend");
    legend.replaceChildren(...info.labels.map((l) => el("span", "chip " + labelClass(l), l)));
  } catch (err) {
    $("model-info").textContent = "model info unavailable: " + err.message;
  }
  try {
    const limits = await api("GET", "/v1/limits");
    if (limits.max_recording_minutes) {
      $("rec-limit").textContent = "Up to " + limits.max_recording_minutes + " min and " + limits.max_upload_mb + " MB.";
    }
    if (!limits.sessions_enabled) {
      $("tab-live").disabled = true;
      $("tab-live").title = "this server runs several worker processes; sessions are off";
    }
  } catch (_) { /* optional */ }
}

document.addEventListener("DOMContentLoaded", () => {
  $("conv-form").addEventListener("submit", onConversation);
  $("live-form").addEventListener("submit", onTurn);
  $("live-end").addEventListener("click", onEnd);
  $("conv-example").addEventListener("click", () => { $("conv-text").value = EXAMPLE; });
  $("rec-form").addEventListener("submit", onRecording);
  ["rec-audio", "rec-video"].forEach((id) => $(id).addEventListener("timeupdate", onTime));
  $("timeline").addEventListener("click", (e) => {
    const li = e.target.closest(".turn.seekable");
    if (li && !e.target.closest("details")) seek(Number(li.dataset.start));
  });
  $("track").addEventListener("click", (e) => {
    const box = $("track").getBoundingClientRect();
    seek(Number($("track").dataset.duration || 0) * (e.clientX - box.left) / box.width);
  });
  document.querySelectorAll("[role=tab]").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));
  window.addEventListener("pagehide", () => {
    // Free the server's memory now instead of waiting for the idle expiry.
    if (sessionId) fetch(url("/v1/sessions/" + encodeURIComponent(sessionId)), { method: "DELETE", keepalive: true });
  });
  loadModel();
});
