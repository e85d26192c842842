"use strict";
// The confiance web console: every asset is served by the API itself (no CDN).
// Access is by client certificate; this page only calls /v1 on its own origin.

const TEXT = {
  fr: {
    simulated: "attestation SIMULÉE", tab_alerts: "Alertes", tab_ledger: "Registre",
    tab_contracts: "Contrats", tab_storage: "Stockage", tab_volumes: "Volumes",
    severity: "Gravité", detector: "Détecteur", all: "toutes", first_seen: "Début",
    entity: "Entité", tenants: "Membres", status: "Statut", comment: "Commentaire",
    save: "Enregistrer", entry: "Entrée n°", verify: "Vérifier dans le navigateur",
    state: "État", signed_by: "Signé par", node: "Nœud", datacenter: "Centre de données",
    jurisdiction: "Juridiction", reachable: "Joignable", fragments: "Fragments",
    bytes: "Octets", ingestion: "Événements ingérés par membre et par jour",
    alerts_per_day: "Alertes par jour", st_new: "nouvelle", st_acknowledged: "prise en compte",
    st_investigating: "en cours d'analyse", st_closed: "close", st_false_positive: "faux positif",
    alerts_n: (n) => `${n} alerte(s)`, saved: "enregistré (dans le registre)",
    proof_ok: (i, n) => `✓ entrée ${i} incluse dans l'arbre de ${n} entrées : preuve vérifiée dans ce navigateur`,
    proof_bad: (why) => `✗ preuve invalide : ${why}`,
    sig_ok: "signature du point de contrôle vérifiée (Ed25519)",
    sig_unavailable: "signature non vérifiée : ce navigateur ne sait pas vérifier Ed25519",
    checkpoint: (n, root) => `Point de contrôle signé : ${n} entrées, racine ${root}`,
    storage_summary: (k, m) => `Codage ${k}+${m} : la perte de ${m} nœuds ne perd rien.`,
    yes: "oui", no: "non", diff: "Modifications depuis la version précédente",
    no_previous: "aucune version précédente conservée",
    tab_review: "Revue", reason: "Motif de la ré-identification (consigné)",
    reveal: "Demander la ré-identification", what: "Signal", reasons: "Raisons",
    tab_reid: "Ré-identification", asked: "Demandée", alert: "Alerte", requester: "Demandeur",
    owner: "Propriétaire", answer: "Réponse", approve: "Accepter", refuse: "Refuser",
    answer_reason: "Motif de la décision (consigné)", rq_pending: "en attente",
    rq_answered: "répondue", rq_refused: "refusée",
    asked_to: (owner, s) => `demande envoyée à ${owner} : ${s}`,
    asked_n: (n) => `${n} pseudonyme(s) demandé(s)`,
    reid_note: "Chaque demande et chaque réponse sont consignées au registre (jamais les pseudonymes ni les identités). Seul le propriétaire des données répond ; la réponse est scellée pour le demandeur.",
    confirm: "Confirmer", dismiss: "Écarter", suppress: "et ne plus signaler ce motif",
    review_note: "Signaux de protection des mineurs : chaque consultation et chaque décision sont consignées au registre. Rien n'est fait automatiquement.",
    decided: (s) => `décision : ${s}`,
  },
  en: {
    simulated: "SIMULATED attestation", tab_alerts: "Alerts", tab_ledger: "Ledger",
    tab_contracts: "Contracts", tab_storage: "Storage", tab_volumes: "Volumes",
    severity: "Severity", detector: "Detector", all: "all", first_seen: "Start",
    entity: "Entity", tenants: "Members", status: "Status", comment: "Comment",
    save: "Save", entry: "Entry #", verify: "Verify in the browser",
    state: "State", signed_by: "Signed by", node: "Node", datacenter: "Datacenter",
    jurisdiction: "Jurisdiction", reachable: "Reachable", fragments: "Fragments",
    bytes: "Bytes", ingestion: "Events ingested per member and day",
    alerts_per_day: "Alerts per day", st_new: "new", st_acknowledged: "acknowledged",
    st_investigating: "investigating", st_closed: "closed", st_false_positive: "false positive",
    alerts_n: (n) => `${n} alert(s)`, saved: "saved (in the ledger)",
    proof_ok: (i, n) => `✓ entry ${i} is in the tree of ${n} entries: proof verified in this browser`,
    proof_bad: (why) => `✗ invalid proof: ${why}`,
    sig_ok: "checkpoint signature verified (Ed25519)",
    sig_unavailable: "signature not verified: this browser cannot verify Ed25519",
    checkpoint: (n, root) => `Signed checkpoint: ${n} entries, root ${root}`,
    storage_summary: (k, m) => `Coding ${k}+${m}: losing ${m} nodes loses nothing.`,
    yes: "yes", no: "no", diff: "Changes since the previous version",
    no_previous: "no previous version kept",
    tab_review: "Review", reason: "Why re-identify (recorded)",
    reveal: "Ask for re-identification", what: "Signal", reasons: "Reasons",
    tab_reid: "Re-identification", asked: "Asked", alert: "Alert", requester: "Requester",
    owner: "Owner", answer: "Answer", approve: "Approve", refuse: "Refuse",
    answer_reason: "Why (recorded)", rq_pending: "pending",
    rq_answered: "answered", rq_refused: "refused",
    asked_to: (owner, s) => `request sent to ${owner}: ${s}`,
    asked_n: (n) => `${n} pseudonym(s) asked`,
    reid_note: "Every request and every answer is written to the ledger (never the pseudonyms or the identities). Only the data owner answers; the answer is sealed to the requester.",
    confirm: "Confirm", dismiss: "Dismiss", suppress: "and stop flagging this pattern",
    review_note: "Protection-of-minors signals: every view and every decision is written to the ledger. Nothing is done automatically.",
    decided: (s) => `decision: ${s}`,
  },
};
let lang = (localStorage.getItem("lang") || navigator.language || "fr").startsWith("en") ? "en" : "fr";
const t = (key, ...args) => {
  const value = TEXT[lang][key];
  return typeof value === "function" ? value(...args) : value ?? key;
};
const $ = (selector) => document.querySelector(selector);

function translate() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  $("#lang").textContent = lang === "fr" ? "EN" : "FR";
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function showError(error) {
  const box = $("#error");
  box.textContent = String(error.message || error);
  box.hidden = false;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
}

// -- alerts -------------------------------------------------------------------
let alerts = [];
let current = null;

async function loadAlerts() {
  const params = new URLSearchParams({ limit: "500" });
  if ($("#f-severity").value) params.set("severity", $("#f-severity").value);
  if ($("#f-detector").value) params.set("detector", $("#f-detector").value);
  const page = await api(`/v1/alerts?${params}`);
  alerts = page.items;
  $("#alert-count").textContent = t("alerts_n", page.total);
  const detectors = $("#f-detector");
  for (const name of new Set(alerts.map((a) => a.detector))) {
    if (![...detectors.options].some((o) => o.value === name)) {
      detectors.add(new Option(name, name));
    }
  }
  const body = $("#alert-table tbody");
  body.replaceChildren();
  for (const alert of alerts) {
    const row = document.createElement("tr");
    row.dataset.id = alert.id;
    cell(row, alert.first_seen.replace("T", " ").slice(0, 16));
    cell(row, alert.severity, `sev-${alert.severity}`);
    cell(row, alert.detector);
    cell(row, alert.entity);
    cell(row, alert.tenants.join(", "));
    cell(row, t(`st_${(alert.status || "new").replace("-", "_")}`));
    row.addEventListener("click", () => showAlert(alert.id).catch(showError));
    body.appendChild(row);
  }
}

async function showAlert(id) {
  const alert = await api(`/v1/alerts/${encodeURIComponent(id)}`);
  current = alert;
  document.querySelectorAll("#alert-table tr").forEach((r) => r.classList.toggle("selected", r.dataset.id === id));
  $("#alert-detail").hidden = false;
  $("#d-title").textContent = `${alert.title} — ${alert.entity.field}=${alert.entity.value}`;
  $("#d-evidence").textContent = JSON.stringify(
    { tenants: alert.tenants, technique: alert.attack_technique, evidence: alert.evidence,
      run: alert.run, attestation: alert.attestation }, null, 1);
  drawTimeline(alert);
  const history = $("#d-history");
  history.replaceChildren();
  for (const step of alert.triage || []) {
    const item = document.createElement("li");
    item.textContent = `${step.time} — ${t(`st_${step.status.replace("-", "_")}`)}${step.comment ? ` — ${step.comment}` : ""}`;
    history.appendChild(item);
  }
  $("#t-result").textContent = "";
  $("#r-result").replaceChildren();
}

function drawTimeline(alert) {
  // An incident: each of its steps on one time axis (what, where, when);
  // another alert: its span on the axis of every alert listed.
  const box = $("#d-timeline");
  box.replaceChildren();
  const steps = (alert.evidence && alert.evidence.timeline) || [];
  box.classList.toggle("incident", steps.length > 0);
  if (steps.length) {
    const list = document.createElement("ol");
    list.className = "steps";
    for (const step of steps) {
      const item = document.createElement("li");
      item.textContent = `${step.time.replace("T", " ").slice(0, 16)} — ${step.tenants.join(", ")} — ${step.what}`;
      list.appendChild(item);
    }
    box.appendChild(list);
    return;
  }
  const times = alerts.flatMap((a) => [Date.parse(a.first_seen)]);
  const start = Math.min(...times, Date.parse(alert.first_seen));
  const end = Math.max(...times, Date.parse(alert.last_seen)) + 1;
  const span = document.createElement("div");
  span.className = "span";
  const left = ((Date.parse(alert.first_seen) - start) / (end - start)) * 100;
  const width = Math.max(((Date.parse(alert.last_seen) - Date.parse(alert.first_seen)) / (end - start)) * 100, 0.5);
  span.style.left = `${left}%`;
  span.style.width = `${width}%`;
  span.textContent = `${alert.first_seen.slice(11, 16)}–${alert.last_seen.slice(11, 16)}`;
  box.appendChild(span);
}

async function saveTriage(event) {
  event.preventDefault();
  if (!current) return;
  await api(`/v1/alerts/${encodeURIComponent(current.id)}/triage`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ status: $("#t-status").value, comment: $("#t-comment").value || null }),
  });
  $("#t-result").textContent = t("saved");
  await loadAlerts();
  await showAlert(current.id);
  $("#t-result").textContent = t("saved");
}

async function reveal(event) {
  event.preventDefault();
  if (!current) return;
  const asked = await api("/v1/reidentifications", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ alert: current.id, reason: $("#r-reason").value }),
  });
  const list = $("#r-result");
  list.replaceChildren();
  for (const request of asked.requests) {
    const item = document.createElement("li");
    item.textContent = t("asked_to", request.owner, t(`rq_${request.status}`));
    list.appendChild(item);
  }
}

// -- re-identification: requests made, and requests to answer -------------------
async function loadReid() {
  const [who, page] = await Promise.all([api("/v1/whoami"), api("/v1/reidentifications?limit=500")]);
  const body = $("#rq-table tbody");
  body.replaceChildren();
  for (const request of page.items) {
    const row = document.createElement("tr");
    cell(row, request.asked.replace("T", " ").slice(0, 16));
    cell(row, request.alert);
    cell(row, request.requester);
    cell(row, request.owner);
    cell(row, request.reason);
    cell(row, t(`rq_${request.status}`));
    const answer = document.createElement("td");
    if (request.resolved) {
      const list = document.createElement("ul");
      for (const [pseudonym, identity] of Object.entries(request.resolved)) {
        const item = document.createElement("li");
        item.textContent = `${pseudonym} → ${identity}`;
        list.appendChild(item);
      }
      answer.appendChild(list);
    } else if (request.status === "pending" && request.owner === who.tenant && who.role === "tenant-admin") {
      const asked = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = t("asked_n", (request.pseudonyms || []).length);
      asked.append(summary, (request.pseudonyms || []).join(", "));
      answer.appendChild(asked);
      const why = document.createElement("input");
      why.minLength = 5; why.maxLength = 500; why.placeholder = t("answer_reason");
      why.className = "rq-why";
      answer.appendChild(why);
      for (const decision of ["approve", "refuse"]) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = t(decision);
        button.addEventListener("click", async () => {
          const done = await api(`/v1/reidentifications/${encodeURIComponent(request.id)}/answer`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ decision, reason: why.value }),
          }).catch(showError);
          if (done) await loadReid();
        });
        answer.appendChild(button);
      }
    } else if (request.answer_reason) {
      answer.textContent = request.answer_reason;
    }
    row.appendChild(answer);
    body.appendChild(row);
  }
}

// -- review queue (protection of minors) ----------------------------------------
async function loadReview() {
  const signals = await api("/v1/review");
  const body = $("#q-table tbody");
  body.replaceChildren();
  for (const signal of signals) {
    const row = document.createElement("tr");
    const evidence = signal.evidence;
    cell(row, signal.first_seen.replace("T", " ").slice(0, 16));
    cell(row, signal.severity, `sev-${signal.severity}`);
    cell(row, evidence.signal_class || `list ${evidence.list_entry}`);
    cell(row, `${signal.entity.field}=${signal.entity.value}`);
    cell(row, (evidence.reasons || []).join(", ") + (evidence.queries ? ` — ${evidence.queries.join(" | ")}` : ""));
    const actions = document.createElement("td");
    const suppress = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    suppress.append(box, ` ${t("suppress")}`);
    for (const decision of ["confirm", "dismiss"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = t(decision);
      button.addEventListener("click", async () => {
        const done = await api(`/v1/review/${encodeURIComponent(signal.id)}/decision`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ decision, suppress: decision === "dismiss" && box.checked }),
        }).catch(showError);
        if (done) actions.textContent = t("decided", done.status);
      });
      actions.appendChild(button);
    }
    actions.appendChild(suppress);
    row.appendChild(actions);
    body.appendChild(row);
  }
}

// -- ledger: RFC 9162 inclusion proof and the C2SP note signature, checked here --
const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
};
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
const leafHash = (bytes) => sha256(concat(new Uint8Array([0]), bytes));
const nodeHash = (left, right) => sha256(concat(new Uint8Array([1]), left, right));

async function rootFromInclusion(index, size, leaf, proof) {
  if (index < 0 || index >= size) throw new Error("index outside the tree");
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Error("proof too long");
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn >>= 1; sn >>= 1; } }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1; sn >>= 1;
  }
  if (sn !== 0) throw new Error("proof too short");
  return r;
}

function parseNote(note) {
  const cut = note.indexOf("\n\n");
  const text = note.slice(0, cut + 1);
  const [origin, size, root] = text.split("\n");
  const signatures = note.slice(cut + 2).split("\n").filter((l) => l.startsWith("— "))
    .map((l) => { const [, name, sig] = l.split(" "); return { name, sig: b64(sig) }; });
  return { text, origin, size: Number(size), root: b64(root), signatures };
}

function splitVkey(vkey) {
  // name+hint+key: the base64 key may itself hold "+", so split on the first two only
  const first = vkey.indexOf("+");
  const second = vkey.indexOf("+", first + 1);
  return [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
}

async function checkNoteSignature(note, vkey) {
  const [name, hint, encoded] = splitVkey(vkey);
  const key = b64(encoded);
  const mine = note.signatures.find((s) => s.name === name && hex(s.sig.slice(0, 4)) === hint);
  if (!mine) throw new Error("no signature of the log's key");
  let publicKey;
  try {
    publicKey = await crypto.subtle.importKey("raw", key.slice(1), { name: "Ed25519" }, false, ["verify"]);
  } catch (error) {
    return `${t("sig_unavailable")} (${error.name})`;
  }
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, publicKey, mine.sig.slice(4),
    new TextEncoder().encode(note.text));
  if (!ok) throw new Error("the checkpoint signature does not verify");
  return t("sig_ok");
}

async function loadCheckpoint() {
  const checkpoint = await api("/v1/ledger/checkpoint");
  const note = parseNote(checkpoint.note);
  $("#l-checkpoint").textContent = t("checkpoint", note.size, hex(note.root).slice(0, 16) + "…");
  $("#p-index").max = String(note.size - 1);
}

async function prove(event) {
  event.preventDefault();
  const result = $("#p-result");
  result.className = "";
  result.textContent = "…";
  try {
    const index = Number($("#p-index").value);
    const [receipt, trust] = await Promise.all([
      api(`/v1/ledger/entries/${index}/receipt`), api("/v1/ledger/trust")]);
    const note = parseNote(receipt.checkpoint);
    const leaf = await leafHash(new TextEncoder().encode(receipt.entry));
    const root = await rootFromInclusion(receipt.index, note.size, leaf, receipt.proof.map(b64));
    if (hex(root) !== hex(note.root)) throw new Error("the proof does not lead to the signed root");
    const signature = await checkNoteSignature(note, trust.log);
    result.className = "ok";
    result.textContent = `${t("proof_ok", receipt.index, note.size)}; ${signature}`;
    $("#p-entry").textContent = JSON.stringify(JSON.parse(receipt.entry), null, 1);
  } catch (error) {
    result.className = "bad";
    result.textContent = t("proof_bad", error.message);
  }
}

// -- contracts, storage, volumes -----------------------------------------------
async function loadContracts() {
  const rows = await api("/v1/contracts");
  const body = $("#c-table tbody");
  body.replaceChildren();
  for (const c of rows) {
    const row = document.createElement("tr");
    cell(row, c.id); cell(row, String(c.version)); cell(row, c.state); cell(row, c.signed_by.join(", "));
    row.addEventListener("click", async () => {
      const detail = await api(`/v1/contracts/${encodeURIComponent(c.id)}`).catch(showError);
      if (!detail) return;
      $("#c-digest").textContent = `${detail.digest} — ${detail.missing.length ? `missing: ${detail.missing.join(", ")}` : detail.state}`;
      $("#c-yaml").textContent = detail.yaml;
      const diff = await api(`/v1/contracts/${encodeURIComponent(c.id)}/diff`).catch(showError);
      const list = $("#c-changes");
      list.replaceChildren();
      if (!diff || !diff.previous) {
        $("#c-diff").textContent = t("no_previous");
        return;
      }
      for (const change of diff.changes) {
        const item = document.createElement("li");
        item.textContent = `${change.field}: ${JSON.stringify(change.old)} → ${JSON.stringify(change.new)}`;
        list.appendChild(item);
      }
      $("#c-diff").textContent = diff.unified;
    });
    body.appendChild(row);
  }
}

async function loadStorage() {
  const health = await api("/v1/store/health");
  const body = $("#s-table tbody");
  body.replaceChildren();
  for (const n of health.nodes) {
    const row = document.createElement("tr");
    cell(row, n.node); cell(row, n.datacenter || "-"); cell(row, n.jurisdiction || "-");
    cell(row, n.reachable ? t("yes") : t("no"), n.reachable ? "ok" : "bad");
    cell(row, String(n.files)); cell(row, String(n.bytes));
    body.appendChild(row);
  }
  $("#s-summary").textContent = t("storage_summary", health.k, health.m);
}

function bars(container, series) {
  const entries = Object.entries(series);
  const width = Math.max(entries.length * 36 + 40, 200), height = 180;
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", String(width)); svg.setAttribute("height", String(height + 40));
  entries.forEach(([label, value], i) => {
    const h = (value / max) * height;
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", String(20 + i * 36)); rect.setAttribute("y", String(height - h + 10));
    rect.setAttribute("width", "28"); rect.setAttribute("height", String(h)); rect.setAttribute("fill", "#1f3a5f");
    const title = document.createElementNS(ns, "title");
    title.textContent = `${label}: ${value}`;
    rect.appendChild(title);
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", String(20 + i * 36)); text.setAttribute("y", String(height + 30));
    text.setAttribute("font-size", "9"); text.textContent = label.slice(-5);
    svg.append(rect, text);
  });
  container.replaceChildren(svg);
}

async function loadVolumes() {
  const stats = await api("/v1/stats");
  const perTenantDay = {};
  for (const v of stats.ingestion) perTenantDay[`${v.tenant} ${v.day}`] = v.events;
  bars($("#v-ingestion"), perTenantDay);
  bars($("#v-alerts"), stats.alerts_per_day);
}

const LOADERS = { alerts: loadAlerts, ledger: loadCheckpoint, contracts: loadContracts,
  storage: loadStorage, volumes: loadVolumes, review: loadReview, reid: loadReid };

function open(tab) {
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === tab));
  document.querySelectorAll(".tab").forEach((s) => s.classList.toggle("active", s.id === tab));
  $("#error").hidden = true;
  LOADERS[tab]().catch(showError);
}

document.addEventListener("DOMContentLoaded", async () => {
  translate();
  document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => open(b.dataset.tab)));
  $("#lang").addEventListener("click", () => {
    lang = lang === "fr" ? "en" : "fr";
    localStorage.setItem("lang", lang);
    translate();
  });
  $("#f-severity").addEventListener("change", () => loadAlerts().catch(showError));
  $("#f-detector").addEventListener("change", () => loadAlerts().catch(showError));
  $("#triage").addEventListener("submit", (e) => saveTriage(e).catch(showError));
  $("#prove").addEventListener("submit", prove);
  $("#reveal").addEventListener("submit", (e) => reveal(e).catch(showError));
  try {
    const who = await api("/v1/whoami");
    $("#who").textContent = `${who.name} — ${who.tenant} (${who.role})`;
  } catch (error) { showError(error); }
  open("alerts");
});
