// OpenAir airspace files (the format gliding and drone operators exchange restricted areas in) to
// GeoJSON, for the map's airspace layer. Written here: no maintained browser library for it is
// pinned offline, and the format is a handful of line commands.
//   AC class, AN name, AL/AH lower/upper (text), DP point, V X=centre, V D=+|- (arc direction),
//   DC radius (NM) circle, DA radius, from, to (degrees) arc, DB point, point arc; * comments.
// Arcs and circles are drawn on a sphere, a point every 5 degrees (display only: nothing is decided
// from this layer). A bad line throws an Error naming the line number and what was expected.
"use strict";

const OPENAIR_EARTH_NM = 6371008.8 / 1852;

function openAirCoordinate(text, line) {
  // 45:30:00 N 006:15:30 E, 45:30.5N 6:15.25E, 45:30:00.5 N ...
  const match = text.trim().match(/^(\d{1,2}):(\d{1,2}(?:\.\d+)?)(?::(\d{1,2}(?:\.\d+)?))?\s*([NS])\s*,?\s*(\d{1,3}):(\d{1,2}(?:\.\d+)?)(?::(\d{1,2}(?:\.\d+)?))?\s*([EW])$/i);
  if (!match) throw new Error(`line ${line}: expected a coordinate like 45:30:00 N 006:15:30 E, got "${text.trim()}"`);
  const lat = (+match[1] + +match[2] / 60 + +(match[3] || 0) / 3600) * (/s/i.test(match[4]) ? -1 : 1);
  const lon = (+match[5] + +match[6] / 60 + +(match[7] || 0) / 3600) * (/w/i.test(match[8]) ? -1 : 1);
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) throw new Error(`line ${line}: coordinate out of range: "${text.trim()}"`);
  return [lat, lon];
}

function openAirDestination([lat, lon], bearing, nm) {
  const rad = Math.PI / 180, d = nm / OPENAIR_EARTH_NM, p1 = lat * rad, b = bearing * rad;
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(b));
  const l2 = lon * rad + Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  return [p2 / rad, ((l2 / rad + 540) % 360) - 180];
}

function openAirBearingDistance([lat1, lon1], [lat2, lon2]) {
  const rad = Math.PI / 180, p1 = lat1 * rad, p2 = lat2 * rad, dl = (lon2 - lon1) * rad;
  const bearing = Math.atan2(Math.sin(dl) * Math.cos(p2), Math.cos(p1) * Math.sin(p2) - Math.sin(p1) * Math.cos(p2) * Math.cos(dl));
  const a = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  return [(bearing / rad + 360) % 360, 2 * Math.asin(Math.min(1, Math.sqrt(a))) * OPENAIR_EARTH_NM];
}

function openAirArc(points, centre, radius, from, to, clockwise) {
  let sweep = clockwise ? (to - from + 360) % 360 : -((from - to + 360) % 360);
  if (sweep === 0) sweep = clockwise ? 360 : -360;
  const steps = Math.max(2, Math.ceil(Math.abs(sweep) / 5));
  for (let k = 0; k <= steps; k++) points.push(openAirDestination(centre, from + (sweep * k) / steps, radius));
}

function parseOpenAir(text) {
  const features = [];
  let current = null, centre = null, clockwise = true;
  const finish = (line) => {
    if (!current) return;
    if (current.points.length < 3) throw new Error(`line ${line}: airspace "${current.name}" has fewer than 3 points`);
    const ring = current.points.map(([lat, lon]) => [lon, lat]);
    ring.push(ring[0]);
    features.push({ type: "Feature", properties: { name: current.name, class: current.class, lower: current.lower,
      upper: current.upper }, geometry: { type: "Polygon", coordinates: [ring] } });
    current = null;
  };
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1, text = raw.replace(/\s+\*.*$/, "").trim();
    if (!text || text.startsWith("*")) return;
    const command = text.slice(0, 2).toUpperCase(), rest = text.slice(2).trim();
    if (command === "AC") {
      finish(line);
      current = { class: rest, name: "", lower: "", upper: "", points: [] };
      centre = null; clockwise = true;
      return;
    }
    if (!current) throw new Error(`line ${line}: expected AC (an airspace's class) first, got "${text.slice(0, 40)}"`);
    if (command === "AN") current.name = rest;
    else if (command === "AL") current.lower = rest;
    else if (command === "AH") current.upper = rest;
    else if (command === "DP") current.points.push(openAirCoordinate(rest, line));
    else if (command === "V ") {
      const [key, value] = rest.split("=").map((part) => part.trim());
      if (/^x$/i.test(key)) centre = openAirCoordinate(value || "", line);
      else if (/^d$/i.test(key)) clockwise = value !== "-";
    } else if (command === "DC") {
      const radius = parseFloat(rest);
      if (!centre || !(radius > 0)) throw new Error(`line ${line}: DC needs a centre (V X=) and a radius in NM`);
      openAirArc(current.points, centre, radius, 0, 0, true);
      current.points.pop();
    } else if (command === "DA") {
      const [radius, from, to] = rest.split(",").map((part) => parseFloat(part));
      if (!centre || !(radius > 0) || !Number.isFinite(from) || !Number.isFinite(to)) {
        throw new Error(`line ${line}: DA needs a centre (V X=) and radius, start angle, end angle`);
      }
      openAirArc(current.points, centre, radius, from, to, clockwise);
    } else if (command === "DB") {
      const ends = rest.split(",");
      if (!centre || ends.length !== 2) throw new Error(`line ${line}: DB needs a centre (V X=) and two coordinates`);
      const [a, b] = ends.map((part) => openAirCoordinate(part, line));
      const [from, radius] = openAirBearingDistance(centre, a);
      const [to] = openAirBearingDistance(centre, b);
      openAirArc(current.points, centre, radius, from, to, clockwise);
    } else if (!["SP", "SB", "AT", "AY", "AF", "AG"].includes(command)) {
      throw new Error(`line ${line}: unknown OpenAir command "${text.slice(0, 2)}"`);
    }
  });
  finish(lines.length);
  if (!features.length) throw new Error("no airspace (AC ...) in the file");
  return { type: "FeatureCollection", features };
}
