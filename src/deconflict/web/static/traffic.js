// deconflict live map, traffic: the canvas of aircraft (dead-reckoned every frame), their labels,
// trails, data blocks and conflict rings. Loaded after app.js (state, map); shares its globals.

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
