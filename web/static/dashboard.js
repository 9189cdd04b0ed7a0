// The analysts' dashboard: the vehicles (/v1/analytics/performance) or the chargers
// (/v1/analytics/meters), worst first, a histogram, a drill-down by hour; or the chargers'
// connectors by availability (/v1/analytics/availability): status now, uptime over the last 24 h,
// and a connector's outages.
// The token stays in this browser (localStorage); /dashboard#token=... fills it in, and the
// fragment is removed from the address bar at once (fragments never reach the server).
"use strict";

const KEY = "evAnalystToken";
// The two tabs: where each lists its rows, their id, and the table's columns [key, label, digits].
const VIEWS = {
  vehicles: {
    path: "/v1/analytics/performance", id: "vehicleId", noun: "vehicles", one: "vehicle", readings: "vehicles",
    columns: [["vehicleId", "Vehicle"], ["chargingEfficiency", "Efficiency", 3], ["totalAcConsumedKwh", "AC kWh", 3],
      ["totalDcDeliveredKwh", "DC kWh", 3], ["averageSoc", "Avg SOC %", 1], ["averageBatteryTemp", "Avg temp °C", 1],
      ["minutesCounted", "Minutes"], ["suspectMinutes", "Suspect min"]],
  },
  meters: {
    path: "/v1/analytics/meters", id: "meterId", noun: "chargers", one: "charger", readings: "meters",
    columns: [["meterId", "Charger (meter)"], ["chargingEfficiency", "Efficiency", 3], ["totalAcConsumedKwh", "AC kWh", 3],
      ["totalDcDeliveredKwh", "DC kWh", 3], ["vehiclesServed", "Vehicles"], ["minutesCounted", "Minutes"],
      ["suspectMinutes", "Suspect min"]],
  },
  availability: {
    path: "/v1/analytics/availability", id: "meterId", noun: "connectors", one: "connector", readings: "meters",
    metric: "uptimeRatio", query: "limit=1000",
    columns: [["meterId", "Connector"], ["status", "Status now"], ["uptimeRatio", "Uptime", 3], ["upSeconds", "Up min", 0, 60],
      ["faultedSeconds", "Faulted min", 0, 60], ["unavailableSeconds", "Unavailable min", 0, 60],
      ["offlineSeconds", "Offline min", 0, 60], ["unknownSeconds", "Unknown min", 0, 60], ["outages", "Outages"]],
  },
};
// What a connector's uptime is held to (NEVI, 23 CFR 680.116: 97 %): rows under it are highlighted.
const UPTIME_TARGET = 0.97;
const metric = () => view().metric || "chargingEfficiency";
const lowBelow = () => (view().metric === "uptimeRatio" ? UPTIME_TARGET : threshold());
const state = { tab: "vehicles", rows: [], refreshedAt: null, sort: "chargingEfficiency", desc: false, selected: null };
const $ = (id) => document.getElementById(id);
const view = () => VIEWS[state.tab];

function token() { return localStorage.getItem(KEY) || ""; }

function takeTokenFromFragment() {
  const match = location.hash.match(/token=([^&]+)/);
  if (match) {
    localStorage.setItem(KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function api(path) {
  const reply = await fetch(path, { headers: { Authorization: "Bearer " + token() } });
  if (reply.status === 401 || reply.status === 403) throw new Error("The token was refused: use an analyst token.");
  if (reply.status === 404) return null;
  if (!reply.ok) throw new Error(`The service answered ${reply.status}.`);
  return reply.json();
}

async function loadFleet() {
  if (!token()) { status("Enter an analyst token to load the fleet."); return; }
  status("Loading…");
  const v = view(), rows = [];
  let cursor = null, page = null;
  try {
    do {
      const query = (v.query || "sort=chargingEfficiency&limit=1000") + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
      page = await api(`${v.path}?${query}`);
      if (page === null) { status("The performance table has not been refreshed yet."); return; }
      rows.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
  } catch (err) { status(err.message, true); return; }
  if (v !== view()) return;  // another tab was chosen meanwhile
  state.rows = rows;
  if (v.metric === "uptimeRatio") {
    state.refreshedAt = null;  // computed on each request: nothing to age
    const under = rows.filter((r) => r.uptimeRatio !== null && r.uptimeRatio < UPTIME_TARGET).length;
    status(`${rows.length} ${rows.length === 1 ? v.one : v.noun} between ${page.from} and ${page.to}; ` +
      `${under} under ${UPTIME_TARGET * 100} % uptime.`);
    tick();
    render();
    return;
  }
  state.refreshedAt = new Date(page.refreshedAt);
  const suspect = rows.reduce((n, r) => n + r.suspectMinutes, 0);
  status(`${rows.length} ${rows.length === 1 ? v.one : v.noun} charged in the window ` +
    `${page.windowStart} – ${page.windowEnd}` +
    (suspect ? `; ${suspect} suspect minute${suspect === 1 ? "" : "s"} (DC over AC).` : "."));
  tick();
  render();
}

function threshold() { return parseFloat($("threshold").value) || 0; }

function fmt(value, digits, per = 1) {
  if (value === null || value === undefined) return "–";
  return digits === undefined ? String(value) : (value / per).toFixed(digits);
}

function header() {
  const row = $("fleet").tHead.rows[0];
  row.replaceChildren(...view().columns.map(([key, label], i) => {
    const th = document.createElement("th");
    th.dataset.key = key;
    th.textContent = label;
    if (i > 0) th.className = "num";
    th.addEventListener("click", () => {
      state.desc = state.sort === key ? !state.desc : false;
      state.sort = key;
      render();
    });
    return th;
  }));
}

function render() {
  const v = view(), key = state.sort, sign = state.desc ? -1 : 1;
  const rows = [...state.rows].sort((a, b) => {
    const x = a[key] ?? Infinity, y = b[key] ?? Infinity;
    return (x < y ? -1 : x > y ? 1 : 0) * sign || a[v.id].localeCompare(b[v.id]);
  });
  const low = lowBelow(), m = metric();
  const body = $("fleet").tBodies[0];
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset[v.id === "vehicleId" ? "vehicle" : "meter"] = r[v.id];
    tr.dataset.id = r[v.id];
    if (r[m] !== null && r[m] < low) tr.classList.add("low");
    if (r[v.id] === state.selected) tr.classList.add("selected");
    v.columns.forEach(([column, , digits, per], i) => {
      const td = document.createElement("td");
      td.textContent = fmt(r[column], digits, per);
      if (i > 0) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }));
  document.querySelectorAll("#fleet th").forEach((th) => {
    th.classList.toggle("sorted", th.dataset.key === key);
    th.classList.toggle("desc", th.dataset.key === key && state.desc);
  });
  drawHistogram(low);
}

// Counts on an axis step by whole numbers: a count of 1 is never drawn with ticks at 0.2.
function countAxis(most, title) {
  return { title: { text: title }, rangemode: "tozero", tick0: 0, dtick: Math.max(1, Math.ceil(most / 5)) };
}

// The efficiencies binned 0.02 wide from the lowest to the highest, counted here: one device is
// one narrow bar where it stands, not a bar from 0 to 1.
const BIN = 0.02;
function drawHistogram(low) {
  const m = metric(), values = state.rows.map((r) => r[m]).filter((x) => x !== null);
  const counts = new Map();
  values.forEach((x) => { const bin = Math.floor(x / BIN + 1e-9); counts.set(bin, (counts.get(bin) || 0) + 1); });
  const bins = [...counts.keys()].sort((a, b) => a - b);
  const lo = Math.min(bins.length ? bins[0] * BIN : low, low) - 0.05;
  const hi = Math.max(bins.length ? (bins[bins.length - 1] + 1) * BIN : low, low) + 0.05;
  Plotly.react("histogram", [{
    x: bins.map((b) => (b + 0.5) * BIN), y: bins.map((b) => counts.get(b)), width: BIN * 0.95, type: "bar",
    marker: { color: "#3366cc" },
    hovertemplate: `%{y} with ${m === "uptimeRatio" ? "uptime" : "efficiency"} %{customdata}<extra></extra>`,
    customdata: bins.map((b) => `${(b * BIN).toFixed(2)}–${((b + 1) * BIN).toFixed(2)}`),
  }], {
    title: { text: m === "uptimeRatio" ? "Connectors' uptime, last 24 h"
      : `${state.tab === "meters" ? "Chargers'" : "Fleet"} efficiency (DC / AC)` },
    margin: { t: 40, r: 10, b: 40, l: 40 },
    xaxis: { title: { text: m === "uptimeRatio" ? "uptime ratio" : "efficiency" }, range: [lo, hi] },
    yaxis: countAxis(Math.max(0, ...counts.values()), view().noun),
    shapes: [{ type: "line", x0: low, x1: low, yref: "paper", y0: 0, y1: 1, line: { color: "#b00020", dash: "dot" } }],
  }, { displayModeBar: false, responsive: true });
}

function choose(tab) {
  if (tab === state.tab) return;
  state.tab = tab;
  state.rows = [];
  state.sort = metric();
  state.desc = false;
  state.selected = null;
  state.refreshedAt = null;
  document.querySelectorAll(".tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === tab)));
  $("download").hidden = true;
  $("sessions").hidden = true;
  $("outages").hidden = true;
  $("threshold").disabled = tab === "availability";
  Plotly.purge("drilldown");
  $("drilldown").innerHTML = '<p class="hint">Click a row to see its efficiency by hour.</p>';
  header();
  render();
  loadFleet();
}

// A device's raw readings of the last 24 h as CSV: fetched with the token (a plain link could
// not send it), then saved from memory.
async function readingsCsv(deviceId, plural = "vehicles") {
  const reply = await fetch(`/v1/${plural}/${encodeURIComponent(deviceId)}/readings`, {
    headers: { Authorization: "Bearer " + token(), Accept: "text/csv" },
  });
  if (!reply.ok) throw new Error(`readings: ${reply.status}`);
  return reply.text();
}

async function download(deviceId) {
  const plural = view().readings;
  let text;
  try { text = await readingsCsv(deviceId, plural); } catch (err) { status(err.message, true); return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  link.download = `${plural.slice(0, -1)}-${deviceId}-readings.csv`;
  link.click();
  URL.revokeObjectURL(link.href);
}

async function drill(deviceId) {
  if (view().metric === "uptimeRatio") { drillAvailability(deviceId); return; }
  state.selected = deviceId;
  render();
  $("download").textContent = `Download ${deviceId}'s readings of the last 24 h (CSV)`;
  $("download").onclick = () => download(deviceId);
  $("download").hidden = false;
  let detail;
  try { detail = await api(`${view().path}/${encodeURIComponent(deviceId)}/hourly`); }
  catch (err) { status(err.message, true); return; }
  showSessions(deviceId);
  if (!detail) { $("drilldown").textContent = `No hourly data for ${deviceId}.`; return; }
  const hours = detail.hours;
  $("drilldown").querySelector(".hint")?.remove();
  // An hour's bar spans its hour, and the axis ticks hours: one hour of data is one wide bar
  // under its own time, not ticks a millisecond apart.
  const HOUR = 3600000, times = hours.map((h) => Date.parse(h.hour));
  const first = Math.min(...times), last = Math.max(...times);
  Plotly.react("drilldown", [{
    x: hours.map((h) => h.hour), y: hours.map((h) => h.chargingEfficiency), type: "bar", width: HOUR * 0.9,
    marker: { color: hours.map((h) => (h.chargingEfficiency < threshold() ? "#b00020" : "#2a9d8f")) },
    text: hours.map((h) => `${h.minutesCounted} min`), hovertemplate: "%{x}<br>%{y:.3f} (%{text})<extra></extra>",
  }], {
    title: { text: `${deviceId}: efficiency by hour` }, margin: { t: 40, r: 10, b: 60, l: 40 },
    xaxis: { type: "date", range: [first - HOUR, last + HOUR], dtick: Math.max(1, Math.ceil((last - first) / HOUR / 8)) * HOUR },
    yaxis: { title: { text: "efficiency" }, rangemode: "tozero" },
  }, { displayModeBar: false, responsive: true });
}

const UNCOUNTED = "No minute of this session was counted: in each, another vehicle also named " +
  "this meter (a shared meter), the meter sent no reading, or a register's interval was not known.";

// A vehicle's session of minutes none of which counted has no efficiency: say why, not just "–".
const isUncounted = (x) => x.vehicleId !== null && x.minutesSeen > 0 && x.minutesCounted === 0;

// The dates of the sessions' range: [from, to] as whole UTC days (default the last 7).
function range() {
  const day = 86400000, today = new Date(new Date().toISOString().slice(0, 10));
  if (!$("to").value) $("to").value = today.toISOString().slice(0, 10);
  if (!$("from").value) $("from").value = new Date(today - 6 * day).toISOString().slice(0, 10);
  const from = new Date($("from").value), to = new Date(new Date($("to").value).getTime() + day);
  return `from=${from.toISOString().replace(".000", "")}&to=${to.toISOString().replace(".000", "")}`;
}

// The selected row's sessions in the range, and its figures over the range.
async function showSessions(deviceId) {
  const v = view(), query = range(), id = encodeURIComponent(deviceId);
  let page, figures;
  try {
    page = await api(`/v1/${v.readings}/${id}/sessions?${query}&limit=1000`);
    figures = await api(`${v.path}/${id}?${query}`);
  } catch (err) { status(err.message, true); return; }
  if (deviceId !== state.selected) return;
  $("sessions").hidden = false;
  $("sessions").querySelector("h2").textContent = `${deviceId}: charging sessions ${$("from").value} – ${$("to").value}`;
  $("range-figures").textContent = figures
    ? `Over these days: efficiency ${fmt(figures.chargingEfficiency, 3)}, AC ${fmt(figures.totalAcConsumedKwh, 3)} kWh, ` +
      `DC ${fmt(figures.totalDcDeliveredKwh, 3)} kWh, ${figures.minutesCounted} minutes counted.`
    : "No counted minute in these days.";
  const low = threshold();
  $("sessions").querySelector("tbody").replaceChildren(...(page ? page.sessions : []).map((x) => {
    const tr = document.createElement("tr");
    if (x.chargingEfficiency !== null && x.chargingEfficiency < low) tr.classList.add("low");
    // A charger's OCPP transaction that no vehicle reported in has no vehicle, coverage or SOC.
    const uncounted = isUncounted(x);
    [fmt(x.vehicleId), x.meterId, x.start.slice(0, 16).replace("T", " "), x.end.slice(11, 16),
      uncounted ? "– *" : fmt(x.chargingEfficiency, 3), fmt(x.acConsumedKwh, 3), fmt(x.dcDeliveredKwh, 3), fmt(x.energyLostKwh, 3),
      fmt(x.coverage === null ? null : x.coverage * 100, 0) + " %", `${fmt(x.socStart, 0)} → ${fmt(x.socEnd, 0)} %`].forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i > 3) td.className = "num";
      if (i === 4 && uncounted) td.title = UNCOUNTED;
      tr.appendChild(td);
    });
    return tr;
  }));
  $("uncounted").textContent = "* " + UNCOUNTED;
  $("uncounted").hidden = !(page ? page.sessions : []).some(isUncounted);
}

const STATES = [["up", "#2a9d8f"], ["faulted", "#b00020"], ["unavailable", "#e9c46a"], ["offline", "#6c757d"], ["unknown", "#c9d0d8"]];

// A connector's last 24 h: the time in each state, and its outages with the codes it sent.
async function drillAvailability(meterId) {
  state.selected = meterId;
  render();
  $("download").hidden = true;
  let found;
  try { found = await api(`/v1/meters/${encodeURIComponent(meterId)}/availability`); }
  catch (err) { status(err.message, true); return; }
  if (meterId !== state.selected) return;
  if (!found) { $("drilldown").textContent = `${meterId} has never said its status.`; return; }
  $("drilldown").querySelector(".hint")?.remove();
  Plotly.react("drilldown", STATES.map(([name, color]) => ({
    x: [found[`${name}Seconds`] / 60], y: [meterId], name, type: "bar", orientation: "h", marker: { color },
    hovertemplate: `${name}: %{x:.0f} min<extra></extra>`,
  })), {
    title: { text: `${meterId}: uptime ${fmt(found.uptimeRatio, 3)}, last 24 h` }, barmode: "stack",
    margin: { t: 40, r: 10, b: 40, l: 90 }, xaxis: { title: { text: "minutes" } }, legend: { orientation: "h" },
  }, { displayModeBar: false, responsive: true });
  $("outages").hidden = false;
  $("outages").querySelector("h2").textContent = `${meterId}: outages ${found.from.slice(0, 16)} – ${found.to.slice(0, 16)}`;
  $("state-figures").textContent = STATES.map(([name]) => `${name} ${fmt(found[`${name}Seconds`], 0, 60)} min`).join(", ");
  $("outages").querySelector("tbody").replaceChildren(...found.outages.map((o) => {
    const tr = document.createElement("tr");
    tr.classList.add(o.kind);
    const minutes = (Date.parse(o.end) - Date.parse(o.start)) / 60000;
    [o.kind, o.start.slice(0, 16).replace("T", " "), o.end.slice(0, 16).replace("T", " "), minutes.toFixed(0),
      fmt(o.errorCode), fmt(o.vendorErrorCode), fmt(o.info)].forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 3) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }));
}

function tick() {
  if (!state.refreshedAt) { $("age").textContent = ""; return; }
  const seconds = Math.max(0, Math.round((Date.now() - state.refreshedAt) / 1000));
  $("age").textContent = `Refreshed ${seconds} s ago`;
}

takeTokenFromFragment();
$("token").value = token();
$("token-form").addEventListener("submit", (e) => { e.preventDefault(); localStorage.setItem(KEY, $("token").value.trim()); loadFleet(); });
$("forget").addEventListener("click", () => { localStorage.removeItem(KEY); $("token").value = ""; state.rows = []; render(); status("Token forgotten."); });
$("threshold").addEventListener("input", render);
["from", "to"].forEach((id) => $(id).addEventListener("change", () => { if (state.selected) showSessions(state.selected); }));
$("reload").addEventListener("click", loadFleet);
document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => choose(b.dataset.tab)));
$("fleet").tBodies[0].addEventListener("click", (e) => { const tr = e.target.closest("tr"); if (tr) drill(tr.dataset.id); });
header();
setInterval(tick, 1000);
loadFleet();
