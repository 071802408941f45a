// deconflict live map, layers: the traffic table, airspace files, airports, range rings and the
// bearing/range line. Loaded after traffic.js; shares the page's globals.

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
