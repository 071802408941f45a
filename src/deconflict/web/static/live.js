// deconflict live map, live data: refresh, the event stream, login and start-up. Loaded last: it
// starts the page once every other script has defined what it uses.

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

fetch("/static/vendor/countries-50m.json").then((r) => r.json()).then((topology) => {
  const land = topojson.feature(topology, topology.objects.countries);
  countries = land.features.length;
  state.land = L.geoJSON(land, { interactive: false, style: landStyle() }).addTo(map).bringToBack();
});
setTheme(state.dark);
if (state.token) login(state.token);
requestAnimationFrame(draw);
