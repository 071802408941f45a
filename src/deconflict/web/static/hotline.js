// deconflict live map, panels: conflicts, the hotline thread and proposals, party signatures, audit,
// occurrences and nonconformances. Loaded after layers.js; shares the page's globals.

// -- panels ----------------------------------------------------------------------------------------


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
