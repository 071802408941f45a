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

fetch("/static/vendor/countries-50m.json").then((r) => r.json()).then((topology) => {
  const land = topojson.feature(topology, topology.objects.countries);
  countries = land.features.length;
  state.land = L.geoJSON(land, { interactive: false, style: landStyle() }).addTo(map).bringToBack();
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

function columns(t) {
  const n = t.icao24.length;
  const c = {
    n, callsign: new Array(n), party: new Array(n), intruder: new Uint8Array(n), offPlan: new Uint8Array(n),
    lat: new Float64Array(n), lon: new Float64Array(n), north: new Float64Array(n), east: new Float64Array(n),
    track: new Float64Array(n), icao24: t.icao24, velocity: new Float64Array(n),
    altitude: new Float64Array(n), vertrate: new Float64Array(n), index: new Map(),
  };
  for (let k = 0; k < n; k++) {
    const h = t.heading[k] * Math.PI / 180;
    c.callsign[k] = t.callsign[k] || t.icao24[k]; c.party[k] = t.party[k];
    c.intruder[k] = t.intruder[k] ? 1 : 0;
    c.offPlan[k] = t.nonconforming && t.nonconforming[k] ? 1 : 0;
    c.track[k] = h;
    c.lat[k] = t.lat[k]; c.lon[k] = t.lon[k]; c.north[k] = t.velocity[k] * Math.cos(h); c.east[k] = t.velocity[k] * Math.sin(h);
    c.altitude[k] = t.altitude[k]; c.vertrate[k] = t.vertrate[k]; c.velocity[k] = t.velocity[k];
    c.index.set(t.icao24[k], k);
  }
  return c;
}

// Where aircraft k is ``seconds`` after its state, flying straight at its ground velocity (degrees).
function aheadLat(c, k, seconds) {
  return c.lat[k] + c.north[k] * seconds / EARTH * 180 / Math.PI;
}

function aheadLon(c, k, seconds) {
  return c.lon[k] + c.east[k] * seconds / (EARTH * Math.cos(c.lat[k] * Math.PI / 180)) * 180 / Math.PI;
}

function ahead(c, k, seconds) {
  return [aheadLat(c, k, seconds), aheadLon(c, k, seconds)];
}

// Web Mercator pixels at the map's zoom, from the container's top-left corner.
function mapFrame() {
  return { scale: 256 * Math.pow(2, map.getZoom()),
    topLeft: map.containerPointToLayerPoint([0, 0]).add(map.getPixelOrigin()) };
}

function pixelX(lon, frame) {
  return (lon + 180) / 360 * frame.scale - frame.topLeft.x;
}

function pixelY(lat, frame) {
  const phi = Math.max(Math.min(lat, 85.05), -85.05) * Math.PI / 180;
  return (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2 * frame.scale - frame.topLeft.y;
}

function projector() {
  const frame = mapFrame();
  return (lat, lon) => [pixelX(lon, frame), pixelY(lat, frame)];
}

// Screen positions of every aircraft ``seconds`` after its state, into x and y (no allocation per
// aircraft: this runs every frame for every aircraft).
function positions(c, seconds, x, y) {
  const frame = mapFrame();
  for (let k = 0; k < c.n; k++) {
    x[k] = pixelX(aheadLon(c, k, seconds), frame);
    y[k] = pixelY(aheadLat(c, k, seconds), frame);
  }
}

function draw() {
  const started = performance.now();
  const width = canvas.clientWidth, height = canvas.clientHeight;
  context.clearRect(0, 0, width, height);
  const c = state.aircraft;
  if (c && c.n) {
    const age = (started - state.receivedAt) / 1000 * state.speed;
    if (!c.x) { c.x = new Float32Array(c.n); c.y = new Float32Array(c.n); c.vx = new Float32Array(c.n); c.vy = new Float32Array(c.n); }
    const { x, y } = c;
    positions(c, age, x, y);
    const visible = [];
    const alerting = state.filters.alerting ? alertingAircraft() : null;
    const f = state.filters, filtering = f.hidden.size > 0 || alerting !== null || f.lowest > 0 || f.highest < 999;
    for (let k = 0; k < c.n; k++) {   // the filters only when one is set: 10,000 calls a frame are not free
      if (x[k] > -20 && x[k] < width + 20 && y[k] > -20 && y[k] < height + 20 && (!filtering || shownByFilters(c, k, alerting))) visible.push(k);
    }
    const dense = visible.length > DENSE;
    if (!dense) {   // predicted vectors; in a dense view only conflict aircraft get one (drawConflicts)
      positions(c, age + LOOKAHEAD_VECTOR, c.vx, c.vy);
      context.strokeStyle = "#33445588"; context.lineWidth = 1; context.beginPath();
      for (const k of visible) { context.moveTo(x[k], y[k]); context.lineTo(c.vx[k], c.vy[k]); }
      context.stroke();
    }
    const crowded = visible.length >= LABEL_LIMIT;
    if (state.filters.trails || crowded) drawLayer(c, visible, crowded);   // trails, and crowded views' labels
    state.reserved = [];
    drawConflicts(c, x, y, age, width, height);   // under the aircraft symbols
    for (const [party, colour] of Object.entries(state.colours).concat([["", "#555"]])) {
      context.fillStyle = colour; context.beginPath();
      for (const k of visible) {
        if ((c.party[k] || "") !== party) continue;
        if (dense) { context.rect(x[k] - 1.5, y[k] - 1.5, 3, 3); continue; }
        const h = c.track[k], sin = Math.sin(h), cos = Math.cos(h);
        context.moveTo(x[k] + 7 * sin, y[k] - 7 * cos);
        context.lineTo(x[k] - 4 * sin - 4 * cos, y[k] + 4 * cos - 4 * sin);
        context.lineTo(x[k] - 4 * sin + 4 * cos, y[k] + 4 * cos + 4 * sin);
        context.closePath();
      }
      context.fill();
    }
    // an aircraft outside its party's declared plans (Nonconforming): a magenta box, whatever the density
    context.strokeStyle = "#c0189b"; context.lineWidth = 2; context.beginPath();
    for (const k of visible) if (c.offPlan[k]) context.rect(x[k] - 10, y[k] - 10, 20, 20);
    context.stroke();
    if (!crowded) drawLabels(context, c, x, y, visible, visible);
  }
  if (state.pinned) placeDataBlock();
  const spent = performance.now() - started;
  state.frameTimes.push(spent);
  if (state.frameTimes.length > 600) state.frameTimes.shift();
  requestAnimationFrame(draw);
}

// Data blocks placed without overlap: each label tries its last slot, then the four beside its aircraft,
// then four farther out joined by a leader line; a label with no free slot is left out (its aircraft
// stays drawn, and hover shows its block). Aircraft in conflict are placed first.
const SLOTS = [[8, -6], [8, 14], [-8, -6], [-8, 14], [24, -22], [24, 30], [-24, -22], [-24, 30]];
const LABEL_HEIGHT = 12, CHAR_WIDTH = 6.4, GRID = 48;
function drawLabels(context, c, x, y, visible, candidates) {
  const alerting = alertingAircraft();
  const order = [...candidates].sort((a, b) => alerting.has(c.icao24[b]) - alerting.has(c.icao24[a]));
  const grid = new Map(), placed = [];
  const boxes = (x0, y0, x1, y1) => {
    const cells = [];
    for (let gx = Math.floor(x0 / GRID); gx <= Math.floor(x1 / GRID); gx++)
      for (let gy = Math.floor(y0 / GRID); gy <= Math.floor(y1 / GRID); gy++) cells.push(`${gx},${gy}`);
    return cells;
  };
  const free = (x0, y0, x1, y1) => boxes(x0, y0, x1, y1).every((cell) => (grid.get(cell) || []).every(
    ([a0, b0, a1, b1]) => x1 < a0 || x0 > a1 || y1 < b0 || y0 > b1));
  const take = (box) => { for (const cell of boxes(...box)) { if (!grid.has(cell)) grid.set(cell, []); grid.get(cell).push(box); } };
  for (const k of candidates) take([x[k] - 5, y[k] - 5, x[k] + 5, y[k] + 5]);  // nor an aircraft (crowded: a labelled one)
  for (const box of state.reserved) take(box);  // nor a closest-approach label
  for (const k of order) {
    const fl = Math.round(c.altitude[k] / 0.3048 / 100);
    const trend = c.vertrate[k] > 1 ? "↑" : c.vertrate[k] < -1 ? "↓" : "";
    const text = `${c.callsign[k]} FL${String(fl).padStart(3, "0")}${trend}${c.intruder[k] ? " ⚠" : ""}${c.offPlan[k] ? " OFF PLAN" : ""}`;
    const width = text.length * CHAR_WIDTH, id = c.icao24[k];
    const last = state.labelSlots.get(id);
    for (const slot of last !== undefined ? [last, ...SLOTS.keys()] : SLOTS.keys()) {
      const [dx, dy] = SLOTS[slot];
      const left = dx >= 0 ? x[k] + dx : x[k] + dx - width, base = y[k] + dy;
      const box = [left, base - LABEL_HEIGHT + 2, left + width, base + 2];
      if (!free(...box)) continue;
      take(box);
      state.labelSlots.set(id, slot);
      placed.push([k, text, left, base, slot >= 4, width]);
      break;
    }
  }
  context.strokeStyle = state.dark ? "#8a99a6" : "#667"; context.lineWidth = 0.8; context.beginPath();
  for (const [k, , left, base, far, width] of placed) {   // leader lines to the labels set apart
    if (!far) continue;
    context.moveTo(x[k], y[k]);
    context.lineTo(left >= x[k] ? left : left + width, base - 4);
  }
  context.stroke();
  context.font = "11px system-ui"; context.fillStyle = state.dark ? "#e8eef2" : "#111";
  for (const [, text, left, base] of placed) context.fillText(text, left, base);
  state.labelsShown = placed.length;
  state.labelBoxes = placed.map(([, , left, base, , width]) => [left, base - LABEL_HEIGHT + 2, left + width, base + 2]);
}

// -- the traffic table and airspace layers ----------------------------------------------------------

const TABLE_ROWS = 200;
function renderTable() {
  const table = document.getElementById("traffic-table");
  if (table.hidden || !state.aircraft) return;
  const c = state.aircraft, rows = [];
  for (let k = 0; k < c.n; k++) {
    rows.push({ k, callsign: c.callsign[k], icao24: c.icao24[k], party: c.party[k] || "other",
      fl: Math.round(c.altitude[k] / 0.3048 / 100), gs: Math.round(c.velocity[k] / 0.514444),
      vs: Math.round(c.vertrate[k] / 0.00508) });
  }
  const { key, descending } = state.tableSort;
  rows.sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0) * (descending ? -1 : 1));
  table.querySelector("tbody").innerHTML = rows.slice(0, TABLE_ROWS).map((r) => `<tr data-icao24="${escapeHtml(r.icao24)}"
    class="${c.intruder[r.k] ? "intruder" : ""}"><td>${escapeHtml(r.callsign)}</td><td>${escapeHtml(r.icao24)}</td>
    <td>${escapeHtml(r.party)}</td><td>${r.fl}</td><td>${r.gs}</td><td>${r.vs}</td></tr>`).join("")
    + (rows.length > TABLE_ROWS ? `<tr><td colspan="6">… and ${rows.length - TABLE_ROWS} more (sort or search)</td></tr>` : "");
  for (const row of table.querySelectorAll("tbody tr[data-icao24]")) {
    row.onclick = () => {
      const k = state.aircraft.index.get(row.dataset.icao24);
      if (k === undefined) return;
      state.pinned = row.dataset.icao24;
      map.panTo([state.aircraft.lat[k], state.aircraft.lon[k]]);
    };
  }
}
document.getElementById("table-toggle").onchange = (event) => {
  document.getElementById("traffic-table").hidden = !event.target.checked;
  renderTable();
};
for (const heading of document.querySelectorAll("#traffic-table th")) {
  heading.onclick = () => {
    const key = heading.dataset.key;
    state.tableSort = { key, descending: state.tableSort.key === key ? !state.tableSort.descending : false };
    renderTable();
  };
}

const airspaceLayer = L.geoJSON(null, {
  style: () => ({ color: "#c0189b", weight: 1.5, dashArray: "3 3", fillOpacity: 0.06 }),
  onEachFeature: (feature, layer) => {
    const p = feature.properties || {};
    const name = p.name || p.NAME || p.id || "airspace";
    const band = [p.lower || p.floor || p.alt_lower, p.upper || p.ceiling || p.alt_upper].filter((v) => v !== undefined && v !== "");
    const kind = p.class ? ` (${p.class})` : "";
    layer.bindTooltip(`${escapeHtml(name + kind)}${band.length ? `<br>${escapeHtml(band.join(" – "))}` : ""}`, { sticky: true });
  },
}).addTo(map);
document.getElementById("airspace-file").onchange = async (event) => {
  const status = document.getElementById("airspace-status");
  try {
    const text = await event.target.files[0].text();
    // GeoJSON, or OpenAir text (openair.js): told apart by the first character that is not a space
    const data = text.trimStart().startsWith("{") ? JSON.parse(text) : parseOpenAir(text);
    if (!data || (data.type !== "FeatureCollection" && data.type !== "Feature")) throw new Error("not GeoJSON (a FeatureCollection or Feature)");
    airspaceLayer.clearLayers();
    airspaceLayer.addData(data);
    const count = data.type === "Feature" ? 1 : data.features.length;
    status.textContent = `${count} areas from ${event.target.files[0].name}`;
    state.airspaces = count;
  } catch (error) {
    status.textContent = "";
    showError(new Error(`${event.target.files[0]?.name || "airspace"}: ${error.message}`));
  }
};

// -- airports (from the service: the airportsdata package, offline), from zoom 7 ----------------------
const AIRPORT_ZOOM = 7;
const airportLayer = L.layerGroup().addTo(map);
state.airports = [];
async function refreshAirports() {
  if (!state.token || map.getZoom() < AIRPORT_ZOOM) { airportLayer.clearLayers(); state.airports = []; return; }
  const b = map.getBounds();
  const west = ((b.getWest() + 540) % 360) - 180, east = ((b.getEast() + 540) % 360) - 180;
  const south = Math.max(b.getSouth(), -90), north = Math.min(b.getNorth(), 90);
  const wide = b.getEast() - b.getWest() >= 360;
  const box = [south, wide ? -180 : west, north, wide ? 180 : east].map((v) => v.toFixed(4)).join(",");
  const found = await api(`/v1/airports?bbox=${box}`);
  airportLayer.clearLayers();
  state.airports = found.features.map((f) => f.properties.icao);
  for (const feature of found.features) {
    const [lon, lat] = feature.geometry.coordinates, p = feature.properties;
    L.circleMarker([lat, lon], { radius: 3, color: "#3a6ea5", weight: 1.5, fillOpacity: 0.2, interactive: true })
      .bindTooltip(`${escapeHtml(p.icao)}${p.iata ? ` / ${escapeHtml(p.iata)}` : ""} ${escapeHtml(p.name)}<br>` +
                   `elevation ${Math.round(p.elevation_ft)} ft`, { direction: "top" })
      .addTo(airportLayer);
    if (map.getZoom() >= AIRPORT_ZOOM + 2 || p.iata) {
      L.marker([lat, lon], { interactive: false, icon: L.divIcon({ className: "airport-label", html: escapeHtml(p.icao),
        iconSize: null, iconAnchor: [-5, 6] }) }).addTo(airportLayer);
    }
  }
}
map.on("moveend", () => soon("airports", refreshAirports));

// -- range rings and the bearing/range line -----------------------------------------------------------
// Shift-click sets the centre of range rings (every 10 NM, to 50 NM; shift-click it again to clear).
// Alt-click two points (or aircraft) for the bearing (true) and range between them.
const measureLayer = L.layerGroup().addTo(map);
function drawRangeRings() {
  measureLayer.clearLayers();
  if (state.rings) {
    for (let nm = 10; nm <= 50; nm += 10) {
      L.circle(state.rings, { radius: nm * 1852, color: state.dark ? "#5d8aa8" : "#4a6a85", weight: 1, fill: false,
        interactive: false }).addTo(measureLayer);
      const label = L.latLng(state.rings.lat + nm * 1852 / 111_200, state.rings.lng);
      L.marker(label, { interactive: false, icon: L.divIcon({ className: "ring-label", html: `${nm} NM` }) }).addTo(measureLayer);
    }
  }
  if (state.measure.length === 2) {
    const [a, b] = state.measure;
    const { bearing, nm } = bearingRange(a, b);
    L.polyline([a, b], { color: "#d9161b", weight: 2, dashArray: "6 4", interactive: false }).addTo(measureLayer);
    L.marker(b, { interactive: false, icon: L.divIcon({ className: "ring-label measure",
      html: `${String(Math.round(bearing)).padStart(3, "0")}° ${nm.toFixed(1)} NM` }) }).addTo(measureLayer);
    document.getElementById("measure").textContent = `${String(Math.round(bearing)).padStart(3, "0")}° / ${nm.toFixed(1)} NM`;
  }
}

function bearingRange(a, b) {   // initial great-circle bearing (deg, true) and distance (NM): a display aid, not separation
  const rad = Math.PI / 180, f1 = a.lat * rad, f2 = b.lat * rad, dl = (b.lng - a.lng) * rad;
  const y = Math.sin(dl) * Math.cos(f2), x = Math.cos(f1) * Math.sin(f2) - Math.sin(f1) * Math.cos(f2) * Math.cos(dl);
  return { bearing: (Math.atan2(y, x) / rad + 360) % 360, nm: map.distance(a, b) / 1852 };
}

function snapToAircraft(event) {   // a click near an aircraft measures from the aircraft
  const k = nearestAircraft(event.containerPoint.x, event.containerPoint.y);
  return k >= 0 ? L.latLng(state.aircraft.lat[k], state.aircraft.lon[k]) : event.latlng;
}

// -- what to show, trails, the data block, search, theme and alert sound ------------------------------

function alertingAircraft() {   // icao24 of every aircraft in a tactical conflict
  const set = new Set();
  for (const conflict of state.conflicts.tactical) { set.add(conflict.a); set.add(conflict.b); }
  return set;
}

function shownByFilters(c, k, alerting) {
  if (state.filters.hidden.has(c.party[k] || "")) return false;
  if (alerting && !alerting.has(c.icao24[k])) return false;
  const fl = c.altitude[k] / 0.3048 / 100;
  return fl >= state.filters.lowest && fl <= state.filters.highest;
}

const TRAIL_POINTS = 60;   // one dot per picture (1 s), kept as Web Mercator world positions (0-1)
function worldX(lon) { return (lon + 180) / 360; }
function worldY(lat) {
  const phi = Math.max(Math.min(lat, 85.05), -85.05) * Math.PI / 180;
  return (1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2;
}
function recordTrails(t) {
  const alive = new Set();
  for (let k = 0; k < t.icao24.length; k++) {
    const id = `${t.party[k]}/${t.icao24[k]}`;
    alive.add(id);
    let trail = state.trails.get(id);
    if (!trail) { trail = { x: new Float64Array(TRAIL_POINTS), y: new Float64Array(TRAIL_POINTS), n: 0, head: 0 }; state.trails.set(id, trail); }
    trail.x[trail.head] = worldX(t.lon[k]); trail.y[trail.head] = worldY(t.lat[k]);
    trail.head = (trail.head + 1) % TRAIL_POINTS;
    trail.n = Math.min(trail.n + 1, TRAIL_POINTS);
  }
  for (const id of [...state.trails.keys()]) if (!alive.has(id)) state.trails.delete(id);
}

// What changes only with a picture or the view is drawn once into a layer and stamped every frame:
// trail dots (written as pixels: 600,000 dots for 10,000 aircraft in a few ms) and, when the view is
// crowded, the labels (one candidate per screen cell, alerting aircraft first, then decluttered).
const LABEL_CELL = 80;   // px: at most one label candidate per cell of a crowded view
const layer = { canvas: document.createElement("canvas"), key: "" };
function drawLayer(c, visible, crowded) {
  const width = canvas.clientWidth, height = canvas.clientHeight, centre = map.getCenter();
  const key = [state.receivedAt, map.getZoom(), centre.lat.toFixed(6), centre.lng.toFixed(6), width, height, state.dark,
    visible.length, state.filters.trails, crowded].join();
  if (key !== layer.key) {
    layer.key = key;
    const ratio = window.devicePixelRatio || 1, w = Math.round(width * ratio), h = Math.round(height * ratio);
    layer.canvas.width = w; layer.canvas.height = h;
    const g = layer.canvas.getContext("2d");
    if (state.filters.trails) g.putImageData(trailPixels(c, visible, w, h, ratio), 0, 0);
    state.labelsShown = 0;
    if (crowded) {
      g.setTransform(ratio, 0, 0, ratio, 0, 0);
      drawLabels(g, c, c.x, c.y, visible, labelCandidates(c, visible));
    }
  }
  context.drawImage(layer.canvas, 0, 0, width, height);
}

function trailPixels(c, visible, w, h, ratio) {
  const image = new ImageData(w, h), pixels = new Uint32Array(image.data.buffer);
  const [r, g, b, a] = state.dark ? [0x9f, 0xb3, 0xc8, 0xaa] : [0x33, 0x44, 0x55, 0x77];
  const colour = ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;   // RGBA bytes, little-endian
  const frame = mapFrame(), size = Math.max(1, Math.round(2 * ratio));
  for (const k of visible) {
    const trail = state.trails.get(`${c.party[k]}/${c.icao24[k]}`);
    if (!trail) continue;
    for (let p = 0; p < trail.n; p++) {
      const px = Math.round((trail.x[p] * frame.scale - frame.topLeft.x) * ratio) - 1;
      const py = Math.round((trail.y[p] * frame.scale - frame.topLeft.y) * ratio) - 1;
      if (px < 0 || py < 0 || px + size > w || py + size > h) continue;
      for (let dy = 0; dy < size; dy++) pixels.fill(colour, (py + dy) * w + px, (py + dy) * w + px + size);
    }
  }
  return image;
}

function labelCandidates(c, visible) {   // per screen cell, an alerting aircraft if there is one, else the first
  const alerting = alertingAircraft(), chosen = new Map();
  for (const k of visible) {
    const cell = `${Math.floor(c.x[k] / LABEL_CELL)},${Math.floor(c.y[k] / LABEL_CELL)}`;
    const held = chosen.get(cell);
    if (held === undefined || (!alerting.has(c.icao24[held]) && alerting.has(c.icao24[k]))) chosen.set(cell, k);
  }
  return [...chosen.values()];
}

// The full data block of one aircraft (hover, click or search): what a controller reads off a scope.
function dataBlock(c, k) {
  const conflicts = state.conflicts.tactical.filter((x) => x.a === c.icao24[k] || x.b === c.icao24[k]);
  const fl = Math.round(c.altitude[k] / 0.3048 / 100);
  const lines = [
    `<b>${escapeHtml(c.callsign[k])}</b> ${escapeHtml(c.icao24[k])} · ${escapeHtml(c.party[k] || "other")}`,
    `FL${String(fl).padStart(3, "0")} · GS ${Math.round(c.velocity[k] / 0.514444)} kt · VS ${Math.round(c.vertrate[k] / 0.00508)} fpm`,
    `track ${Math.round((c.track[k] * 180 / Math.PI + 360) % 360)}°${c.offPlan[k] ? " · <b>off its plan</b>" : ""}`,
    ...conflicts.map((x) => `conflict with ${escapeHtml(x.a === c.icao24[k] ? (x.state_b.callsign || x.b) : (x.state_a.callsign || x.a))}: `
      + `${x.t_in <= 0 ? "loss now" : `loss in ${Math.round(x.t_in)} s`}, closest ${(x.d_cpa / 1852).toFixed(1)} NM / `
      + `${Math.round(Math.abs(x.dz_cpa) / 0.3048)} ft`),
  ];
  return lines.join("<br>");
}

function nearestAircraft(px, py, within = 12) {
  const c = state.aircraft;
  if (!c || !c.x) return -1;
  let best = -1, bestDistance = within * within;
  const alerting = state.filters.alerting ? alertingAircraft() : null;
  for (let k = 0; k < c.n; k++) {
    const d = (c.x[k] - px) ** 2 + (c.y[k] - py) ** 2;
    if (d < bestDistance && shownByFilters(c, k, alerting)) { best = k; bestDistance = d; }
  }
  return best;
}

const block = document.getElementById("datablock");
function showBlock(k, px, py) {
  const c = state.aircraft;
  block.innerHTML = dataBlock(c, k);
  block.style.left = `${px + 14}px`; block.style.top = `${py + 10}px`;
  block.hidden = false;
}

function placeDataBlock() {   // the pinned aircraft's block follows it
  const c = state.aircraft, k = c ? c.index.get(state.pinned) : undefined;
  if (k === undefined || !c.x) { block.hidden = true; state.pinned = null; return; }
  showBlock(k, c.x[k], c.y[k]);
}

map.getContainer().addEventListener("mousemove", (event) => {
  if (state.pinned) return;
  const box = canvas.getBoundingClientRect();
  const k = nearestAircraft(event.clientX - box.left, event.clientY - box.top);
  if (k < 0) { block.hidden = true; return; }
  showBlock(k, state.aircraft.x[k], state.aircraft.y[k]);
});
map.on("click", (event) => {
  if (event.originalEvent.shiftKey) {
    state.rings = state.rings && map.distance(state.rings, event.latlng) < 2000 ? null : snapToAircraft(event);
    drawRangeRings();
    return;
  }
  if (event.originalEvent.altKey) {
    state.measure = state.measure.length === 1 ? [state.measure[0], snapToAircraft(event)] : [snapToAircraft(event)];
    drawRangeRings();
    return;
  }
  const k = nearestAircraft(event.containerPoint.x, event.containerPoint.y);
  state.pinned = k >= 0 ? state.aircraft.icao24[k] : null;
  if (k < 0) block.hidden = true;
});

document.getElementById("search").addEventListener("change", (event) => {
  const wanted = event.target.value.trim().toLowerCase();
  const c = state.aircraft;
  if (!wanted || !c) return;
  for (let k = 0; k < c.n; k++) {
    if (c.icao24[k].toLowerCase() === wanted || c.callsign[k].toLowerCase() === wanted) {
      state.pinned = c.icao24[k];
      map.panTo([c.lat[k], c.lon[k]]);
      return;
    }
  }
  showError(new Error(`no aircraft ${wanted} that you may see`));
});
document.getElementById("filter-alerting").onchange = (event) => { state.filters.alerting = event.target.checked; };
document.getElementById("filter-trails").onchange = (event) => { state.filters.trails = event.target.checked; };
document.getElementById("filter-levels").onchange = (event) => {
  const [lowest, highest] = event.target.value.split("-").map(Number);
  state.filters.lowest = lowest; state.filters.highest = highest;
};

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

// New warnings (level 3) flash in the list and, once enabled (muted by default), sound once.
let audio = null;
document.getElementById("sound").onclick = (event) => {
  state.sound = !state.sound;
  event.target.textContent = state.sound ? "sound on" : "sound off";
  if (state.sound && !audio) audio = new AudioContext();
};
function announceWarnings() {
  const fresh = state.conflicts.tactical.filter((c) => c.level === 3 && !state.warned.has(c.id));
  for (const conflict of fresh) state.warned.add(conflict.id);
  if (!fresh.length) return [];
  if (state.sound && audio) {
    const tone = audio.createOscillator(), gain = audio.createGain();
    tone.frequency.value = 880; gain.gain.value = 0.15;
    tone.connect(gain).connect(audio.destination);
    tone.start(); tone.stop(audio.currentTime + 0.25);
  }
  return fresh.map((c) => c.id);
}

// A ring marks each aircraft in conflict: drawn once per level as a small bitmap, then stamped
// (stroking thousands of arcs per frame is too slow for a software-rendered canvas).
const rings = new Map();
function ring(level, selected) {
  const key = `${level}${selected}`;
  if (!rings.has(key)) {
    const radius = selected ? 13 : 10, size = 2 * radius + 6;
    const sprite = document.createElement("canvas");
    sprite.width = sprite.height = size;
    const g = sprite.getContext("2d");
    g.strokeStyle = LEVEL_COLOURS[level]; g.lineWidth = selected ? 3 : 2;
    g.beginPath(); g.arc(size / 2, size / 2, radius, 0, 2 * Math.PI); g.stroke();
    rings.set(key, sprite);
  }
  return rings.get(key);
}

function drawConflicts(c, x, y, age, width, height) {
  const shown = state.conflicts.tactical.filter((conflict) => {
    const a = c.index.get(conflict.a);
    return a !== undefined && c.index.has(conflict.b) && x[a] > -50 && x[a] < width + 50 && y[a] > -50 && y[a] < height + 50;
  });
  const detailed = shown.length < DETAILED_CONFLICTS;
  for (const conflict of shown) {   // marks follow the aircraft every frame
    const selected = conflict.id === state.selected;
    const a = c.index.get(conflict.a), b = c.index.get(conflict.b);
    if (detailed || selected) {   // a ring
      const sprite = ring(conflict.level, selected), half = sprite.width / 2;
      context.drawImage(sprite, x[a] - half, y[a] - half);
      context.drawImage(sprite, x[b] - half, y[b] - half);
    } else {   // a filled square: stroking thousands of small shapes is what a software canvas cannot do at 60 fps
      context.fillStyle = LEVEL_COLOURS[conflict.level];
      context.fillRect(x[a] - 6, y[a] - 6, 12, 12);
      context.fillRect(x[b] - 6, y[b] - 6, 12, 12);
    }
  }
  if (!detailed) {   // many conflicts: their closest-approach segments do not move, draw them once per view
    context.drawImage(closestApproaches(c, shown, width, height), 0, 0, width, height);
    return;
  }
  const project = projector();
  for (const conflict of shown) {   // few conflicts: the way to each closest approach, with a countdown
    const a = c.index.get(conflict.a), b = c.index.get(conflict.b);
    const tcpa = Math.max(0, conflict.t_cpa - age);   // t_cpa counts from the states' time
    if (tcpa >= 3600) continue;
    const pa = project(...ahead(c, a, age + tcpa)), pb = project(...ahead(c, b, age + tcpa));
    context.strokeStyle = LEVEL_COLOURS[conflict.level];
    context.lineWidth = conflict.id === state.selected ? 2 : 1; context.setLineDash([5, 4]);
    context.beginPath();
    context.moveTo(x[a], y[a]); context.lineTo(pa[0], pa[1]);
    context.moveTo(x[b], y[b]); context.lineTo(pb[0], pb[1]);
    context.stroke(); context.setLineDash([]);
    context.lineWidth = 3; context.beginPath(); context.moveTo(pa[0], pa[1]); context.lineTo(pb[0], pb[1]); context.stroke();
    context.fillStyle = LEVEL_COLOURS[conflict.level]; context.font = "bold 11px system-ui";
    const cpa = `CPA ${(conflict.d_cpa / 1852).toFixed(1)} NM in ${Math.round(tcpa)} s`;
    context.fillText(cpa, pa[0] + 6, pa[1] + 14);
    state.reserved.push([pa[0] + 6, pa[1] + 2, pa[0] + 6 + cpa.length * CHAR_WIDTH, pa[1] + 16]);  // labels keep off it
  }
}

// The closest-approach segments of many conflicts, cached until the picture, the view or the selection changes.
const cpaCache = { canvas: document.createElement("canvas"), key: "" };
function closestApproaches(c, shown, width, height) {
  const centre = map.getCenter();
  const key = [state.receivedAt, map.getZoom(), centre.lat.toFixed(6), centre.lng.toFixed(6), width, height,
    state.selected, shown.length].join();
  if (key === cpaCache.key) return cpaCache.canvas;
  cpaCache.key = key;
  const ratio = window.devicePixelRatio || 1;
  const layer = cpaCache.canvas;
  layer.width = width * ratio; layer.height = height * ratio;
  const g = layer.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  const project = projector();
  for (let level = 1; level <= 3; level++) {
    g.strokeStyle = LEVEL_COLOURS[level]; g.lineWidth = 2; g.beginPath();
    for (const conflict of shown) {
      if (conflict.level !== level || conflict.t_cpa >= 3600) continue;
      const t = Math.max(0, conflict.t_cpa);
      const pa = project(...ahead(c, c.index.get(conflict.a), t)), pb = project(...ahead(c, c.index.get(conflict.b), t));
      g.moveTo(pa[0], pa[1]); g.lineTo(pb[0], pb[1]);
    }
    g.stroke();
  }
  return layer;
}

// -- panels ----------------------------------------------------------------------------------------

function shortTime(iso) {   // 2026-11-25T19:09:36.012Z -> 2026-11-25 19:09Z
  return String(iso).slice(0, 16).replace("T", " ") + "Z";
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]);
}

function renderConflicts() {
  const tactical = state.conflicts.tactical;
  document.getElementById("conflict-count").textContent = tactical.length + state.conflicts.strategic.length;
  const more = tactical.length > LIST_LIMIT ? `<li>… and ${tactical.length - LIST_LIMIT} more on the map</li>` : "";
  document.getElementById("conflicts").innerHTML = tactical.slice(0, LIST_LIMIT).map((c) => `
    <li class="level-${c.level}${c.id === state.selected ? " selected" : ""}${(state.flashing.get(c.id) || 0) > Date.now() ? " flash" : ""}" data-id="${c.id}">
      <b>${escapeHtml(c.state_a.callsign || c.a)}</b> (${escapeHtml(c.party_a || "?")}) /
      <b>${escapeHtml(c.state_b.callsign || c.b)}</b> (${escapeHtml(c.party_b || "?")})<br>
      ${c.t_in <= 0 ? "<b>loss of separation now</b>" : `loss of separation in ${Math.round(c.t_in)} s`},
      closest ${(c.d_cpa / 1852).toFixed(1)} NM / ${Math.round(Math.abs(c.dz_cpa) / 0.3048)} ft</li>`).join("") + more;
  document.getElementById("strategic").innerHTML = state.conflicts.strategic.map((c) => `
    <li class="level-1${c.id === state.selected ? " selected" : ""}" data-id="${c.id}">
      plan <b>${escapeHtml(c.plan)}</b> overlaps a plan of ${escapeHtml(c.other_party)}
      ${c.blocking ? "(blocking)" : ""}<br>${escapeHtml(shortTime(c.overlap.properties.time_start))} – ${escapeHtml(shortTime(c.overlap.properties.time_end))}</li>`).join("");
  for (const li of document.querySelectorAll("#conflicts li[data-id], #strategic li")) li.onclick = () => select(li.dataset.id);
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
  const open = thread.status === "open" || thread.status === "escalated";  // closed and settled threads are read-only
  document.getElementById("propose-button").disabled = !canWrite || !options.length || !open;
  document.getElementById("propose").hidden = !open;
  if (thread.id !== state.prefilledThread) {  // a new thread: start from what fits its conflict
    state.prefilledThread = thread.id;
    prefill(strategic ? { type: "plan_change", action: "delay", value: "15min" } : null);
  }
  await loadSuggestions(conflict, canWrite && open);
  const acknowledged = mine && thread.acknowledged_by.includes(mine);
  document.getElementById("acknowledge").hidden = !open || acknowledged || !canWrite;
}

// The proposal form set to ``proposal`` (the service's checked suggestion, or a plan delay), unless the
// person already changed the form on this thread: a suggestion that arrives late never overwrites them.
function prefill(proposal) {
  if (!proposal || state.formTouched === state.thread?.id) return;
  const action = document.getElementById("proposal-action");
  if ([...action.options].some((o) => o.value === proposal.action)) action.value = proposal.action;
  document.getElementById("proposal-value").value = proposal.value ?? "";
  if (proposal.aircraft) document.getElementById("proposal-target").value = proposal.aircraft;
}

for (const id of ["proposal-action", "proposal-value", "proposal-target", "proposal-text"]) {
  document.getElementById(id).addEventListener("input", () => { state.formTouched = state.thread?.id; });
  document.getElementById(id).addEventListener("change", () => { state.formTouched = state.thread?.id; });
}

// The service's suggested manoeuvres for your aircraft (from its conflict bands), one click to propose.
async function loadSuggestions(conflict, canPropose) {
  const list = document.getElementById("suggestions");
  if (!conflict || !state.me.party) { list.innerHTML = ""; return; }
  const answer = await api(`/v1/conflicts/${encodeURIComponent(conflict.id)}/resolutions`).catch(() => []);
  const proposals = answer.flatMap((own) => own.proposals);
  if (proposals.length && state.prefilledSuggestion !== state.thread?.id) {  // once per thread: the user's edits stay
    state.prefilledSuggestion = state.thread?.id;
    prefill(proposals[0]);
  }
  list.innerHTML = proposals.length ? proposals.map((p, k) => `<li>suggested: ${escapeHtml(describe(p))}
    ${canPropose ? `<button data-suggestion="${k}">Propose this</button>` : ""}</li>`).join("") : "";
  for (const button of list.querySelectorAll("button")) {
    const proposal = proposals[Number(button.dataset.suggestion)];
    button.onclick = () => post({ kind: "proposal", text: describe(proposal), proposal });
  }
}

function describe(p) {
  return p.type === "manoeuvre" ? `${p.aircraft}: ${p.action} ${p.value ?? ""}` : `plan ${p.plan}: ${p.action} ${p.value ?? ""}`;
}

async function post(body) {
  if (!state.thread) return;
  try {
    const headers = state.signer ? { "X-Deconflict-Signature": await sign(messageCommitment(state.thread.id, body)) } : {};
    await api(`/v1/threads/${state.thread.id}/messages`, { method: "POST", json: body, headers });
    await Promise.all([loadThread(), loadAudit()]);
  } catch (error) { showError(error); }
}

// -- party signatures: the private key is read from a file into this page and never sent anywhere ----

// What the service checks (store/signatures.py): the canonical JSON of the message's commitment.
function messageCommitment(thread, body) {
  return {
    kind: `hotline.${body.kind || "message"}`, party: state.me.party || "", thread, text: body.text || "",
    proposal: body.proposal ? { value: null, ...body.proposal } : null, reply_to: body.reply_to ?? null,
    answer_within: body.answer_within ?? null,
  };
}

// Canonical JSON as the audit record writes it: sorted keys, no spaces (integers and text only here).
function canonical(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
}

const base64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));

async function sign(commitment) {
  const signature = await crypto.subtle.sign("Ed25519", state.signer.key, new TextEncoder().encode(canonical(commitment)));
  return `${state.signer.id}:${base64(signature)}`;
}

document.getElementById("key-file").onchange = async (event) => {
  const status = document.getElementById("key-status");
  try {
    const pem = await event.target.files[0].text();
    const der = Uint8Array.from(atob(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")), (c) => c.charCodeAt(0));
    const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", key);
    const raw = Uint8Array.from(atob(jwk.x.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
    const id = Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
    state.signer = { key, id, public: base64(raw) };
    const registered = (await api("/v1/keys")).some((k) => k.key === id && k.member === state.me.member && !k.revoked);
    if (!registered) await api("/v1/me/keys", { method: "POST", json: { public_key: state.signer.public } });
    status.textContent = `signing as ${id}${registered ? "" : " (registered now)"}`;
  } catch (error) {
    state.signer = null; status.textContent = "";
    showError(new Error(`key: ${error.message || error} (an Ed25519 private key in PEM is expected)`));
  }
};

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
  const text = await api("/v1/audit/receipts?tail=100");
  const lines = text.trim().split("\n").map((line) => JSON.parse(line));
  const all = lines.filter((line) => line.body).map((line) => ({ ...JSON.parse(line.body), hash: line.hash }));
  const entries = all.filter((e) => e.kind !== "tracks.received");  // every batch is recorded: counted, not listed
  const batches = all.length - entries.length;
  document.getElementById("audit-batches").textContent = batches ? `(+ ${batches} track batches)` : "";
  document.getElementById("audit").innerHTML = entries.slice(-25).reverse().map((e) =>
    `<li title="${e.hash}">${e.hash.slice(0, 8)} ${new Date(e.time * 1000).toISOString().slice(11, 19)} ${escapeHtml(e.kind)}
     ${e.payload.thread ? `thread ${e.payload.thread}` : ""}${e.payload.message ? ` msg ${e.payload.message}` : ""}
     ${escapeHtml(e.actor.party || e.actor.name || "")}</li>`).join("");
}

async function loadOccurrences() {
  const occurrences = await api("/v1/occurrences");
  state.occurrences = occurrences;
  document.getElementById("occurrences").innerHTML = occurrences.slice(0, 20).map((o) => `
    <li class="occurrence${o.ended ? "" : " ongoing"}" data-id="${escapeHtml(o.id)}">
      <b>${escapeHtml(o.a)}</b> (${escapeHtml(o.party_a || "?")}) / <b>${escapeHtml(o.b)}</b> (${escapeHtml(o.party_b || "?")})<br>
      ${escapeHtml(shortTime(o.started))}${o.ended ? `, ${Math.round(o.duration_s)} s (${escapeHtml(o.end_reason)})` : " <b>now</b>"},
      closest ${(o.closest_horizontal_m / 1852).toFixed(2)} NM / ${Math.round(o.closest_vertical_m / 0.3048)} ft</li>`).join("")
    || "<li>none</li>";
}

// Threads waiting for your party's acknowledgement, in the window title (seen from another tab too).
async function updateTitle() {
  const mine = state.me.party;
  if (!mine) return;  // the cell acknowledges nothing
  const threads = await api("/v1/threads");
  const waiting = threads.filter((t) => (t.status === "open" || t.status === "escalated")
    && mine && !t.acknowledged_by.includes(mine)).length;
  document.title = waiting ? `(${waiting}) deconflict — live map` : "deconflict — live map";
}

async function loadNonconformances() {
  const records = await api("/v1/nonconformances");
  document.getElementById("nonconformances").innerHTML = records.slice(0, 20).map((r) => {
    const reach = (r.told || []).map((t) => t.aircraft || t.plans
      ? `${escapeHtml(t.party)}: ${escapeHtml([...(t.aircraft || []), ...(t.plans || [])].join(", ") || "told")}`
      : escapeHtml(t.party)).join("; ");
    return `<li class="nonconformance${r.ended ? "" : " ongoing"}" data-id="${escapeHtml(r.id)}">
      <b>${escapeHtml(r.icao24)}</b> (${escapeHtml(r.party)})${r.plans ? ` off ${escapeHtml(r.plans.join(", "))}` : ""}<br>
      ${escapeHtml(shortTime(r.started))}${r.ended ? ` to ${escapeHtml(shortTime(r.ended))} (${escapeHtml(r.end_reason)})` : " <b>now</b>"}
      ${reach ? `<br>told: ${reach}` : ""}</li>`;
  }).join("") || "<li>none</li>";
}

document.getElementById("export-occurrences").onclick = async () => {
  try {
    const answer = await fetch("/v1/occurrences?format=csv", { headers: { Authorization: `Bearer ${state.token}` } });
    if (!answer.ok) throw new Error(`occurrences: ${answer.status}`);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await answer.blob());
    link.download = "occurrences.csv";
    link.click();
    URL.revokeObjectURL(link.href);
  } catch (error) { showError(error); }
};

// -- data ------------------------------------------------------------------------------------------

async function refresh() {
  const started = performance.now();
  try {
    const [tracks, conflicts] = await Promise.all([api("/v1/tracks?format=columns"), api("/v1/conflicts")]);
    state.aircraft = columns(tracks);
    state.receivedAt = performance.now();
    recordTrails(tracks);
    if (!state.framed && tracks.icao24.length) {   // first picture: show where the traffic is
      state.framed = true;
      map.fitBounds(L.latLngBounds(tracks.lat.map((lat, k) => [lat, tracks.lon[k]])).pad(0.3), { maxZoom: 8 });
    }
    state.conflicts = conflicts;
    document.getElementById("aircraft-count").textContent = tracks.icao24.length;
    for (const id of announceWarnings().slice(0, 5)) state.flashing.set(id, Date.now() + 5000);  // 5 s; 5 at most
    renderConflicts();
    renderTable();
    state.refreshTimes.push(performance.now() - started);
    if (state.refreshTimes.length > 100) state.refreshTimes.shift();
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

// Run ``task`` once shortly, however many events ask for it meanwhile (a burst of 1,000 raised
// conflicts is one refresh, not 1,000).
const pending = new Set();
function soon(name, task) {
  if (pending.has(name)) return;
  pending.add(name);
  setTimeout(() => { pending.delete(name); Promise.resolve(task()).catch(showError); }, 150);
}

async function listen() {
  // Server-sent events through fetch (EventSource cannot send the bearer token): refresh on change.
  // A reconnect (this node restarted, or another node leads now behind the same address) sends the
  // last stored event's id, so the service replays what was missed; "resync": some were pruned.
  while (state.token) {
    try {
      const headers = { Authorization: `Bearer ${state.token}` };
      if (state.lastEventId !== undefined) headers["Last-Event-ID"] = state.lastEventId;
      const answer = await fetch("/v1/events", { headers });
      if (!answer.ok) throw new Error(`events: ${answer.status}`);
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
          const id = (block.match(/^id: (\d+)$/m) || [])[1];
          if (id !== undefined) state.lastEventId = id;
          if (!kind) continue;
          if (kind === "resync") {
            soon("plans", refreshPlans); soon("thread", loadThread); soon("audit", loadAudit);
            soon("occurrences", loadOccurrences); soon("nonconformances", loadNonconformances);
          }
          if (kind === "hotline.message" || kind === "thread.opened") {
            soon("thread", loadThread); soon("audit", loadAudit);
          }
          if (kind === "conflict.raised" || kind === "conflict.cleared") soon("plans", refreshPlans);
          if (kind.startsWith("occurrence.")) soon("occurrences", loadOccurrences);
          if (kind.startsWith("nonconformance.")) { soon("nonconformances", loadNonconformances); soon("plans", refreshPlans); }
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
    setInterval(() => { loadThread().catch(showError); loadAudit().catch(showError); loadOccurrences().catch(showError);
      loadNonconformances().catch(showError); updateTitle().catch(showError); }, 3000),
    setInterval(async () => {
      const h = await (await fetch("/healthz")).json();
      state.clockSkew = h.time * 1000 - Date.now();
      state.speed = h.speed || 1;   // the demo slows to real time around a conflict in manual mode
      document.getElementById("clock").textContent = new Date(h.time * 1000).toISOString().slice(11, 19) + "Z";
    }, 1000)];
  await Promise.all([refresh(), refreshPlans(), loadAudit(), loadOccurrences(), loadNonconformances(), updateTitle(),
    refreshAirports()]);
  listen();
}

document.getElementById("login").onsubmit = (event) => {
  event.preventDefault();
  login(document.getElementById("token").value.trim());
};

// For tests and the frame-time benchmark.
window.deconflictMap = {
  map, state, setTheme, drawRangeRings, bearingRange,
  labels: () => state.labelsShown,
  labelBoxes: () => state.labelBoxes || [],
  trailPoints: () => [...state.trails.values()].reduce((n, t) => n + t.n, 0),
  countries: () => countries,
  airspaceRings: () => airspaceLayer.toGeoJSON().features.map((f) => f.geometry.coordinates[0]),
  airports: () => state.airports,
  frameStats() {
    const stats = (values) => {
      const times = [...values].sort((a, b) => a - b);
      const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
      return { count: times.length, p50: at(0.5), p95: at(0.95), max: times[times.length - 1] };
    };
    return { draw: stats(state.frameTimes), refresh: stats(state.refreshTimes) };
  },
  resetFrames() { state.frameTimes = []; state.refreshTimes = []; },
};

setTheme(state.dark);
if (state.token) login(state.token);
requestAnimationFrame(draw);
