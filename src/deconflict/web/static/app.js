// deconflict live map: what the logged-in party may see (the service filters; this page only draws).
// Aircraft are drawn on one canvas over the Leaflet map and dead-reckoned between updates, so motion
// stays smooth with 10,000 aircraft; Leaflet draws the basemap (Natural Earth) and plan volumes.
"use strict";

const LOOKAHEAD_VECTOR = 120;        // s of predicted track drawn ahead of each aircraft
const LABEL_LIMIT = 400;             // more aircraft in view: one label candidate per screen cell, placed once per picture
const DENSE = 2500;                  // more aircraft in view than this: dots, vectors only for conflicts
const DETAILED_CONFLICTS = 100;      // conflicts in view below which each gets dashes and a CPA label
const LIST_LIMIT = 50;               // conflicts listed (the most urgent first); the map shows them all
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
  signer: null,              // { key, id, public }: your Ed25519 key, when loaded (signs your commitments)
  filters: { alerting: false, trails: true, hidden: new Set(), lowest: 0, highest: 999 },
  trails: new Map(),         // party/icao24 -> { x, y: Float64Array ring of Web Mercator world positions, n, head }
  pinned: null,              // icao24 whose data block stays shown
  dark: localStorage.getItem("deconflict-theme") === "dark",
  sound: false, warned: new Set(), flashing: new Map(), land: null,
  labelSlots: new Map(), labelsShown: 0, reserved: [],
  rings: null, measure: [],  // range rings' centre (L.LatLng); the bearing/range line's ends
  tableSort: { key: "callsign", descending: false }, airspaces: 0,   // icao24 -> the slot its label had (labels do not jump about)
  frameTimes: [],
  refreshTimes: [],          // ms to fetch and unpack tracks and conflicts
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
  if (answer.status === 503) showLeader(answer.headers.get("X-Deconflict-Leader"));
  if (!answer.ok) {
    let detail = answer.statusText;
    try { detail = (await answer.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(`${answer.status}: ${detail}`);
  }
  const type = answer.headers.get("content-type") || "";
  return type.includes("json") && !type.includes("ndjson") ? answer.json() : answer.text();
}

// A standby (or a node that lost the lead) answers 503 with the leader's URL: say so, with a link (the
// token lives in this page's origin: log in again there).
function showLeader(url) {
  const banner = document.getElementById("leader-banner");
  banner.hidden = false;
  banner.innerHTML = url && /^https?:\/\//.test(url)
    ? `This node does not lead the service. The leader is <a href="${escapeHtml(url)}/">${escapeHtml(url)}</a>: open the map there and log in again.`
    : "This node does not lead the service and does not know the leader yet; try again in a moment.";
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
const planLayer = L.geoJSON(null, {
  style: planStyle,
  onEachFeature: (feature, layer) => layer.bindTooltip(volumeLabel(feature.properties), { sticky: true }),
}).addTo(map);

// Scale bars: kilometres (Leaflet's) and nautical miles, the unit of separation minima.
L.control.scale({ imperial: false, position: "bottomright" }).addTo(map);
const NauticalScale = L.Control.extend({
  options: { position: "bottomright" },
  onAdd(m) {
    this.bar = L.DomUtil.create("div", "leaflet-control-scale-line nm-scale");
    m.on("move zoom resize", () => this.update(m));
    this.update(m);
    return this.bar;
  },
  update(m) {
    const size = m.getSize();
    const y = size.y / 2;
    const nm = m.distance(m.containerPointToLatLng([0, y]), m.containerPointToLatLng([100, y])) / 1852;
    const nice = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000].filter((v) => v <= nm).pop() || 0.1;
    this.bar.style.width = `${Math.round(100 * nice / nm)}px`;
    this.bar.textContent = `${nice} NM`;
  },
});
new NauticalScale().addTo(map);

function volumeLabel(p) {   // "STRIKE-1 (north) FL095-FL105, 18:49Z-19:09Z"
  const fl = (metres) => `FL${String(Math.round(metres / 0.3048 / 100)).padStart(3, "0")}`;
  const who = p.kind === "conflicting" ? `a volume of ${p.party} in conflict with yours` : `${p.plan} (${p.party})`;
  const off = p.state === "Nonconforming" ? " <b>Nonconforming</b>" : "";
  return `${escapeHtml(who)}${off}<br>${fl(p.alt_lower)}-${fl(p.alt_upper)}, ${escapeHtml(String(p.time_start).slice(11, 16))}Z-${escapeHtml(String(p.time_end).slice(11, 16))}Z`;
}
let countries = 0;

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
  if (p.state === "Nonconforming") return { color: "#c0189b", weight: 2.5, dashArray: "2 4", fillOpacity: 0.1 };
  return { color: partyColour(p.party), weight: 1.5, fillOpacity: 0.08 };
}

function renderLegend() {   // click a party to hide or show its aircraft
  const legend = document.getElementById("legend");
  legend.innerHTML = Object.entries(state.colours)
    .map(([party, colour]) => `<span data-party="${escapeHtml(party)}" title="click: hide or show"><i style="background:${colour}"></i>${escapeHtml(party)}</span>`).join("")
    + `<span data-party="" title="reported by a station feed or a party not registered (click: hide or show)"><i style="background:#555"></i>other</span>`;
  for (const item of legend.querySelectorAll("span")) {
    item.onclick = () => {
      const party = item.dataset.party;
      if (state.filters.hidden.has(party)) state.filters.hidden.delete(party); else state.filters.hidden.add(party);
      item.classList.toggle("off", state.filters.hidden.has(party));
    };
  }
}


function setTheme(dark) {
  state.dark = dark;
  document.body.classList.toggle("dark", dark);
  localStorage.setItem("deconflict-theme", dark ? "dark" : "light");
  if (state.land) state.land.setStyle(landStyle());
  document.getElementById("theme").textContent = dark ? "light" : "dark";
}
document.getElementById("theme").onclick = () => setTheme(!state.dark);
function landStyle() {
  return state.dark ? { color: "#41505c", weight: 0.6, fillColor: "#1b252d", fillOpacity: 1 }
    : { color: "#9a9a8e", weight: 0.6, fillColor: "#efeadb", fillOpacity: 1 };
}

function shortTime(iso) {   // 2026-11-25T19:09:36.012Z -> 2026-11-25 19:09Z
  return String(iso).slice(0, 16).replace("T", " ") + "Z";
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}
