// deconflict live map: what the logged-in party may see (the service filters; this page only draws).
// Aircraft are drawn on one canvas over the Leaflet map and dead-reckoned between updates, so motion
// stays smooth with 10,000 aircraft; Leaflet draws the basemap (Natural Earth) and plan volumes.
"use strict";

const LOOKAHEAD_VECTOR = 120;        // s of predicted track drawn ahead of each aircraft
const LABEL_LIMIT = 400;             // labels only when fewer aircraft than this are in view
const EARTH = 6371008.8;             // m
const LEVEL_COLOURS = ["#999", "#e9c400", "#f08a00", "#d9161b"];
const PARTY_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

const state = {
  token: sessionStorage.getItem("deconflict-token") || "",
  me: null, parties: [], colours: {},
  aircraft: null,            // columns of the latest /v1/tracks answer
  receivedAt: 0,             // performance.now() when it arrived
  serverTime: 0,             // service time (UNIX s) of those states
  conflicts: { tactical: [], strategic: [] },
  selected: null,            // conflict id
  thread: null,
  frameTimes: [],
  timers: [],
  clockSkew: 0,              // service time minus browser time, ms
  speed: 1,                  // service seconds per real second (the demo runs accelerated)
};

// -- API -------------------------------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const answer = await fetch(path, { ...options, headers });
  if (!answer.ok) {
    let detail = answer.statusText;
    try { detail = (await answer.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(`${answer.status}: ${detail}`);
  }
  const type = answer.headers.get("content-type") || "";
  return type.includes("json") && !type.includes("ndjson") ? answer.json() : answer.text();
}

function showError(error) {
  const box = document.getElementById("error");
  box.textContent = error ? String(error.message || error) : "";
  if (error) setTimeout(() => { if (box.textContent === String(error.message || error)) box.textContent = ""; }, 6000);
}

// -- map -------------------------------------------------------------------------------------------

const map = L.map("map", { preferCanvas: true, worldCopyJump: true, attributionControl: true })
  .setView([45, 5], 6);
map.attributionControl.setPrefix("Leaflet").addAttribution("Natural Earth (world-atlas)");
const planLayer = L.geoJSON(null, { style: planStyle, interactive: false }).addTo(map);
let countries = 0;

fetch("/static/vendor/countries-50m.json").then((r) => r.json()).then((topology) => {
  const land = topojson.feature(topology, topology.objects.countries);
  countries = land.features.length;
  L.geoJSON(land, { interactive: false, style: { color: "#9a9a8e", weight: 0.6, fillColor: "#efeadb", fillOpacity: 1 } })
    .addTo(map).bringToBack();
});

function partyColour(party) {
  if (!party) return "#555";
  if (!(party in state.colours)) {
    state.colours[party] = PARTY_COLOURS[Object.keys(state.colours).length % PARTY_COLOURS.length];
    renderLegend();
  }
  return state.colours[party];
}

function planStyle(feature) {
  const p = feature.properties;
  if (p.kind === "conflicting") return { color: "#d9161b", weight: 2, dashArray: "6 4", fillOpacity: 0.12 };
  return { color: partyColour(p.party), weight: 1.5, fillOpacity: 0.08 };
}

function renderLegend() {
  document.getElementById("legend").innerHTML = Object.entries(state.colours)
    .map(([party, colour]) => `<span><i style="background:${colour}"></i>${escapeHtml(party)}</span>`).join("");
}

// -- traffic canvas --------------------------------------------------------------------------------

const canvas = document.getElementById("traffic");
const context = canvas.getContext("2d");

function resizeCanvas() {
  const box = canvas.parentElement.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  canvas.width = box.width * ratio;
  canvas.height = box.height * ratio;
  canvas.style.width = `${box.width}px`;
  canvas.style.height = `${box.height}px`;
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
}
window.addEventListener("resize", resizeCanvas);
resizeCanvas();

function columns(rows) {
  const n = rows.length;
  const c = {
    n, id: new Array(n), callsign: new Array(n), party: new Array(n), intruder: new Uint8Array(n),
    lat: new Float64Array(n), lon: new Float64Array(n), north: new Float64Array(n), east: new Float64Array(n),
    altitude: new Float64Array(n), vertrate: new Float64Array(n), index: new Map(),
  };
  rows.forEach((row, k) => {
    const h = row.heading * Math.PI / 180;
    c.id[k] = row.icao24; c.callsign[k] = row.callsign || row.icao24; c.party[k] = row.party;
    c.intruder[k] = row.intruder ? 1 : 0;
    c.lat[k] = row.lat; c.lon[k] = row.lon; c.north[k] = row.velocity * Math.cos(h); c.east[k] = row.velocity * Math.sin(h);
    c.altitude[k] = row.altitude; c.vertrate[k] = row.vertrate;
    c.index.set(row.icao24, k);
  });
  return c;
}

// Web Mercator pixel of (lat, lon) at this zoom, minus the container's top-left pixel.
function projector() {
  const scale = 256 * Math.pow(2, map.getZoom());
  const topLeft = map.containerPointToLayerPoint([0, 0]).add(map.getPixelOrigin());
  return (lat, lon) => {
    const phi = Math.max(Math.min(lat, 85.05), -85.05) * Math.PI / 180;
    return [(lon + 180) / 360 * scale - topLeft.x,
      (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2 * scale - topLeft.y];
  };
}

function ahead(c, k, seconds) {
  const lat = c.lat[k] + (c.north[k] * seconds / EARTH) * 180 / Math.PI;
  const lon = c.lon[k] + (c.east[k] * seconds / (EARTH * Math.cos(c.lat[k] * Math.PI / 180))) * 180 / Math.PI;
  return [lat, lon];
}

function draw() {
  const started = performance.now();
  const width = canvas.clientWidth, height = canvas.clientHeight;
  context.clearRect(0, 0, width, height);
  const c = state.aircraft;
  if (c && c.n) {
    const age = (started - state.receivedAt) / 1000 * state.speed;
    const project = projector();
    const x = new Float32Array(c.n), y = new Float32Array(c.n), visible = [];
    for (let k = 0; k < c.n; k++) {
      const [lat, lon] = ahead(c, k, age);
      const p = project(lat, lon);
      x[k] = p[0]; y[k] = p[1];
      if (p[0] > -20 && p[0] < width + 20 && p[1] > -20 && p[1] < height + 20) visible.push(k);
    }
    // predicted vectors, one path
    context.strokeStyle = "#33445588"; context.lineWidth = 1; context.beginPath();
    for (const k of visible) {
      const [lat, lon] = ahead(c, k, age + LOOKAHEAD_VECTOR);
      const p = project(lat, lon);
      context.moveTo(x[k], y[k]); context.lineTo(p[0], p[1]);
    }
    context.stroke();
    // aircraft: one filled path per party colour
    const byColour = new Map();
    for (const k of visible) {
      const colour = partyColour(c.party[k]);
      if (!byColour.has(colour)) byColour.set(colour, []);
      byColour.get(colour).push(k);
    }
    for (const [colour, rows] of byColour) {
      context.fillStyle = colour; context.beginPath();
      for (const k of rows) {
        const h = Math.atan2(c.east[k], c.north[k]);
        const sin = Math.sin(h), cos = Math.cos(h);
        context.moveTo(x[k] + 7 * sin, y[k] - 7 * cos);
        context.lineTo(x[k] - 4 * sin - 4 * cos, y[k] + 4 * cos - 4 * sin);
        context.lineTo(x[k] - 4 * sin + 4 * cos, y[k] + 4 * cos + 4 * sin);
        context.closePath();
      }
      context.fill();
    }
    if (visible.length < LABEL_LIMIT) {
      context.font = "11px system-ui"; context.fillStyle = "#111";
      for (const k of visible) {
        const fl = Math.round(c.altitude[k] / 0.3048 / 100);
        const trend = c.vertrate[k] > 1 ? "↑" : c.vertrate[k] < -1 ? "↓" : "";
        context.fillText(`${c.callsign[k]} FL${String(fl).padStart(3, "0")}${trend}${c.intruder[k] ? " ⚠" : ""}`,
          x[k] + 8, y[k] - 6);
      }
    }
    drawConflicts(c, x, y, project, age);
  }
  const spent = performance.now() - started;
  state.frameTimes.push(spent);
  if (state.frameTimes.length > 600) state.frameTimes.shift();
  requestAnimationFrame(draw);
}

function drawConflicts(c, x, y, project, age) {
  for (const conflict of state.conflicts.tactical) {
    const a = c.index.get(conflict.a), b = c.index.get(conflict.b);
    if (a === undefined || b === undefined) continue;
    const colour = LEVEL_COLOURS[conflict.level];
    const selected = conflict.id === state.selected;
    context.strokeStyle = colour; context.lineWidth = selected ? 3 : 2;
    for (const k of [a, b]) { context.beginPath(); context.arc(x[k], y[k], selected ? 13 : 10, 0, 2 * Math.PI); context.stroke(); }
    // closest approach: where each will be at t_cpa (counted from the states' time), joined
    const tcpa = Math.max(0, conflict.t_cpa - age);
    if (tcpa < 3600) {
      const pa = project(...ahead(c, a, age + tcpa)), pb = project(...ahead(c, b, age + tcpa));
      context.setLineDash([5, 4]); context.beginPath();
      context.moveTo(x[a], y[a]); context.lineTo(pa[0], pa[1]);
      context.moveTo(x[b], y[b]); context.lineTo(pb[0], pb[1]);
      context.stroke(); context.setLineDash([]);
      context.beginPath(); context.moveTo(pa[0], pa[1]); context.lineTo(pb[0], pb[1]); context.lineWidth = 4; context.stroke();
      context.fillStyle = colour; context.font = "bold 11px system-ui";
      context.fillText(`CPA ${(conflict.d_cpa / 1852).toFixed(1)} NM in ${Math.round(tcpa)} s`, pa[0] + 6, pa[1] + 14);
    }
  }
}

// -- panels ----------------------------------------------------------------------------------------

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

function renderConflicts() {
  const tactical = state.conflicts.tactical;
  document.getElementById("conflict-count").textContent = tactical.length + state.conflicts.strategic.length;
  document.getElementById("conflicts").innerHTML = tactical.map((c) => `
    <li class="level-${c.level}${c.id === state.selected ? " selected" : ""}" data-id="${c.id}">
      <b>${escapeHtml(c.state_a.callsign || c.a)}</b> (${escapeHtml(c.party_a || "?")}) /
      <b>${escapeHtml(c.state_b.callsign || c.b)}</b> (${escapeHtml(c.party_b || "?")})<br>
      ${c.t_in <= 0 ? "<b>loss of separation now</b>" : `loss of separation in ${Math.round(c.t_in)} s`},
      closest ${(c.d_cpa / 1852).toFixed(1)} NM / ${Math.round(Math.abs(c.dz_cpa) / 0.3048)} ft</li>`).join("");
  document.getElementById("strategic").innerHTML = state.conflicts.strategic.map((c) => `
    <li class="level-1${c.id === state.selected ? " selected" : ""}" data-id="${c.id}">
      plan <b>${escapeHtml(c.plan)}</b> overlaps a plan of ${escapeHtml(c.other_party)}
      ${c.blocking ? "(blocking)" : ""}<br>${escapeHtml(c.overlap.properties.time_start)} – ${escapeHtml(c.overlap.properties.time_end)}</li>`).join("");
  for (const li of document.querySelectorAll("#conflicts li, #strategic li")) li.onclick = () => select(li.dataset.id);
}

async function select(id) {
  state.selected = id;
  renderConflicts();
  const conflict = state.conflicts.tactical.find((c) => c.id === id);
  if (conflict) map.panTo([(conflict.state_a.lat + conflict.state_b.lat) / 2, (conflict.state_a.lon + conflict.state_b.lon) / 2]);
  await loadThread();
}

async function loadThread() {
  const panel = document.getElementById("thread-panel");
  if (!state.selected) { panel.hidden = true; return; }
  const threads = await api("/v1/threads");
  const summary = threads.find((t) => t.conflict === state.selected);
  if (!summary) { panel.hidden = true; return; }
  const thread = await api(`/v1/threads/${summary.id}`);
  state.thread = thread;
  panel.hidden = false;
  document.getElementById("thread-title").textContent = `Hotline: ${thread.subject}`;
  document.getElementById("thread-status").textContent =
    `${thread.status} · parties ${thread.parties.join(", ")} · acknowledged by ${thread.acknowledged_by.join(", ") || "nobody yet"}`;
  const mine = state.me.party;
  document.getElementById("messages").innerHTML = thread.messages.map((m) => {
    const answerable = m.kind === "proposal" && m.status === "pending" && mine && m.party !== mine && state.me.role === "operator";
    const proposal = m.proposal ? ` <i>${escapeHtml(describe(m.proposal))}</i>` : "";
    return `<li class="${m.party ? "" : "service"}" data-message="${m.id}">
      <div class="meta">#${m.id} ${escapeHtml(m.party || "service")} · ${escapeHtml(m.author)} · ${escapeHtml(m.kind)}
        ${m.status ? `· <span class="status">${escapeHtml(m.status)}</span>` : ""}${m.deadline && m.status === "pending" ? ` · answer by ${escapeHtml(m.deadline.slice(11, 19))}Z` : ""}</div>
      ${escapeHtml(m.text)}${proposal}
      ${answerable ? `<button class="accept" data-reply="${m.id}">Accept</button><button class="reject" data-reply="${m.id}">Reject</button>` : ""}</li>`;
  }).join("");
  for (const button of document.querySelectorAll("#messages button")) {
    button.onclick = () => post({ kind: button.className, reply_to: Number(button.dataset.reply) });
  }
  const target = document.getElementById("proposal-target");
  const conflict = state.conflicts.tactical.find((c) => c.id === state.selected);
  const strategic = state.conflicts.strategic.find((c) => c.id === state.selected);
  const options = conflict ? [conflict.state_a, conflict.state_b].filter((s) => s.party === mine).map((s) => [s.icao24, s.callsign || s.icao24])
    : strategic ? [[`plan:${strategic.plan}`, strategic.plan]] : [];
  const previous = target.value;
  target.innerHTML = options.map(([value, label]) => `<option value="${escapeHtml(value)}">${escapeHtml(label)}</option>`).join("");
  if (options.some(([value]) => value === previous)) target.value = previous;
  const canWrite = state.me.role !== "observer";
  document.getElementById("propose-button").disabled = !canWrite || !options.length;
  document.getElementById("acknowledge").disabled = !canWrite;
}

function describe(p) {
  return p.type === "manoeuvre" ? `${p.aircraft}: ${p.action} ${p.value ?? ""}` : `plan ${p.plan}: ${p.action} ${p.value ?? ""}`;
}

async function post(body) {
  if (!state.thread) return;
  try {
    await api(`/v1/threads/${state.thread.id}/messages`, { method: "POST", json: body });
    await Promise.all([loadThread(), loadAudit()]);
  } catch (error) { showError(error); }
}

document.getElementById("propose").onsubmit = (event) => {
  event.preventDefault();
  const target = document.getElementById("proposal-target").value;
  const action = document.getElementById("proposal-action").value;
  const value = document.getElementById("proposal-value").value.trim();
  const text = document.getElementById("proposal-text").value.trim();
  const proposal = target.startsWith("plan:")
    ? { type: "plan_change", plan: target.slice(5), action: action === "delay" ? "delay" : "level", value }
    : { type: "manoeuvre", aircraft: target, action: action === "delay" ? "maintain" : action, value };
  post({ kind: "proposal", text: text || describe(proposal), proposal });
};
document.getElementById("acknowledge").onclick = () => post({ kind: "acknowledge" });

async function loadAudit() {
  const text = await api("/v1/audit/receipts");
  const lines = text.trim().split("\n").map((line) => JSON.parse(line));
  const entries = lines.filter((line) => line.body).map((line) => ({ ...JSON.parse(line.body), hash: line.hash }));
  document.getElementById("audit").innerHTML = entries.slice(-25).reverse().map((e) =>
    `<li title="${e.hash}">#${e.seq} ${new Date(e.time * 1000).toISOString().slice(11, 19)} ${escapeHtml(e.kind)}
     ${e.payload.thread ? `thread ${e.payload.thread}` : ""}${e.payload.message ? ` msg ${e.payload.message}` : ""}
     ${escapeHtml(e.actor.party || e.actor.name || "")}</li>`).join("");
}

// -- data ------------------------------------------------------------------------------------------

async function refresh() {
  try {
    const [tracks, conflicts] = await Promise.all([api("/v1/tracks"), api("/v1/conflicts")]);
    state.aircraft = columns(tracks);
    state.receivedAt = performance.now();
    if (!state.framed && tracks.length) {   // first picture: show where the traffic is
      state.framed = true;
      map.fitBounds(L.latLngBounds(tracks.map((t) => [t.lat, t.lon])).pad(0.3), { maxZoom: 8 });
    }
    state.conflicts = conflicts;
    document.getElementById("aircraft-count").textContent = tracks.length;
    renderConflicts();
  } catch (error) { showError(error); }
}

async function refreshPlans() {
  const offset = Number(document.getElementById("plan-offset").value);
  const at = new Date(Date.now() + offset * 60000 + state.clockSkew);
  document.getElementById("plan-time").textContent = offset ? at.toISOString().slice(0, 16).replace("T", " ") + "Z" : "now";
  try {
    const volumes = await api(`/v1/plans/volumes?at=${encodeURIComponent(at.toISOString())}`);
    planLayer.clearLayers();
    planLayer.addData(volumes);
  } catch (error) { showError(error); }
}
document.getElementById("plan-offset").oninput = refreshPlans;

async function listen() {
  // Server-sent events through fetch (EventSource cannot send the bearer token): refresh on change.
  while (state.token) {
    try {
      const answer = await fetch("/v1/events", { headers: { Authorization: `Bearer ${state.token}` } });
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
          const kind = (block.match(/^event: (.*)$/m) || [])[1];
          if (!kind) continue;
          if (kind.startsWith("conflict.") || kind === "thread.opened") refresh();
          if (kind === "hotline.message" || kind === "thread.opened") { loadThread().catch(showError); loadAudit().catch(showError); }
          if (kind === "conflict.raised" || kind === "conflict.cleared") refreshPlans();
        }
      }
    } catch (error) { /* reconnect below */ }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function login(token) {
  state.token = token;
  try {
    state.me = await api("/v1/me");
  } catch (error) {
    state.token = ""; showError(error); return;
  }
  sessionStorage.setItem("deconflict-token", token);
  state.parties = await api("/v1/parties");   // colours by the parties' order: the same on every screen
  state.parties.forEach((party, k) => { state.colours[party.id] = PARTY_COLOURS[k % PARTY_COLOURS.length]; });
  renderLegend();
  const health = await (await fetch("/healthz")).json();
  state.clockSkew = health.time * 1000 - Date.now();   // demo runs in accelerated time
  state.speed = health.speed || 1;
  document.getElementById("who").textContent = `${state.me.name} · ${state.me.party || "de-confliction cell"} · ${state.me.role}`;
  state.timers.forEach(clearInterval);
  state.timers = [setInterval(refresh, 1000), setInterval(refreshPlans, 10000),
    setInterval(() => { loadThread().catch(showError); loadAudit().catch(showError); }, 3000),
    setInterval(async () => {
      const h = await (await fetch("/healthz")).json();
      state.clockSkew = h.time * 1000 - Date.now();
      document.getElementById("clock").textContent = new Date(h.time * 1000).toISOString().slice(11, 19) + "Z";
    }, 1000)];
  await Promise.all([refresh(), refreshPlans(), loadAudit()]);
  listen();
}

document.getElementById("login").onsubmit = (event) => {
  event.preventDefault();
  login(document.getElementById("token").value.trim());
};

// For tests and the frame-time benchmark.
window.deconflictMap = {
  map, state,
  countries: () => countries,
  frameStats() {
    const times = [...state.frameTimes].sort((a, b) => a - b);
    const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    return { frames: times.length, p50: at(0.5), p95: at(0.95), max: times[times.length - 1] };
  },
  resetFrames() { state.frameTimes = []; },
};

if (state.token) login(state.token);
requestAnimationFrame(draw);
