// The analysts' dashboard: the fleet from /v1/analytics/performance, a histogram, a drill-down.
// The token stays in this browser (localStorage); /dashboard#token=... fills it in, and the
// fragment is removed from the address bar at once (fragments never reach the server).
"use strict";

const KEY = "evAnalystToken";
const state = { vehicles: [], refreshedAt: null, sort: "chargingEfficiency", desc: false, selected: null };
const $ = (id) => document.getElementById(id);

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
  const vehicles = [];
  let cursor = null, page = null;
  try {
    do {
      const query = "sort=chargingEfficiency&limit=1000" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
      page = await api("/v1/analytics/performance?" + query);
      if (page === null) { status("The performance table has not been refreshed yet."); return; }
      vehicles.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
  } catch (err) { status(err.message, true); return; }
  state.vehicles = vehicles;
  state.refreshedAt = new Date(page.refreshedAt);
  status(`${vehicles.length} vehicles charged in the window ${page.windowStart} – ${page.windowEnd}.`);
  tick();
  render();
}

function threshold() { return parseFloat($("threshold").value) || 0; }

function fmt(value, digits) { return value === null || value === undefined ? "–" : value.toFixed(digits); }

function render() {
  const key = state.sort, sign = state.desc ? -1 : 1;
  const rows = [...state.vehicles].sort((a, b) => {
    const x = a[key] ?? Infinity, y = b[key] ?? Infinity;
    return (x < y ? -1 : x > y ? 1 : 0) * sign || a.vehicleId.localeCompare(b.vehicleId);
  });
  const low = threshold();
  const body = $("fleet").tBodies[0];
  body.replaceChildren(...rows.map((v) => {
    const tr = document.createElement("tr");
    tr.dataset.vehicle = v.vehicleId;
    if (v.chargingEfficiency !== null && v.chargingEfficiency < low) tr.classList.add("low");
    if (v.vehicleId === state.selected) tr.classList.add("selected");
    const cells = [v.vehicleId, fmt(v.chargingEfficiency, 3), fmt(v.totalAcConsumedKwh, 3),
      fmt(v.totalDcDeliveredKwh, 3), fmt(v.averageSoc, 1), fmt(v.averageBatteryTemp, 1), v.minutesCounted];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i > 0) td.className = "num";
      tr.appendChild(td);
    });
    return tr;
  }));
  document.querySelectorAll("th").forEach((th) => {
    th.classList.toggle("sorted", th.dataset.key === key);
    th.classList.toggle("desc", th.dataset.key === key && state.desc);
  });
  drawHistogram(low);
}

function drawHistogram(low) {
  const values = state.vehicles.map((v) => v.chargingEfficiency).filter((x) => x !== null);
  Plotly.react("histogram", [{ x: values, type: "histogram", marker: { color: "#3366cc" }, nbinsx: 30 }], {
    title: { text: "Fleet efficiency (DC / AC)" }, margin: { t: 40, r: 10, b: 40, l: 40 },
    xaxis: { title: { text: "efficiency" } }, yaxis: { title: { text: "vehicles" } },
    shapes: [{ type: "line", x0: low, x1: low, yref: "paper", y0: 0, y1: 1, line: { color: "#b00020", dash: "dot" } }],
  }, { displayModeBar: false, responsive: true });
}

// The vehicle's raw readings of the last 24 h as CSV: fetched with the token (a plain link could
// not send it), then saved from memory.
async function readingsCsv(vehicleId) {
  const reply = await fetch(`/v1/vehicles/${encodeURIComponent(vehicleId)}/readings`, {
    headers: { Authorization: "Bearer " + token(), Accept: "text/csv" },
  });
  if (!reply.ok) throw new Error(`readings: ${reply.status}`);
  return reply.text();
}

async function download(vehicleId) {
  let text;
  try { text = await readingsCsv(vehicleId); } catch (err) { status(err.message, true); return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  link.download = `vehicle-${vehicleId}-readings.csv`;
  link.click();
  URL.revokeObjectURL(link.href);
}

async function drill(vehicleId) {
  state.selected = vehicleId;
  render();
  $("download").textContent = `Download ${vehicleId}'s readings of the last 24 h (CSV)`;
  $("download").onclick = () => download(vehicleId);
  $("download").hidden = false;
  let detail;
  try { detail = await api(`/v1/analytics/performance/${encodeURIComponent(vehicleId)}/hourly`); }
  catch (err) { status(err.message, true); return; }
  if (!detail) { $("drilldown").textContent = `No hourly data for ${vehicleId}.`; return; }
  const hours = detail.hours;
  $("drilldown").querySelector(".hint")?.remove();
  Plotly.react("drilldown", [{
    x: hours.map((h) => h.hour), y: hours.map((h) => h.chargingEfficiency), type: "bar",
    marker: { color: hours.map((h) => (h.chargingEfficiency < threshold() ? "#b00020" : "#2a9d8f")) },
    text: hours.map((h) => `${h.minutesCounted} min`), hovertemplate: "%{x}<br>%{y:.3f} (%{text})<extra></extra>",
  }], {
    title: { text: `${vehicleId}: efficiency by hour` }, margin: { t: 40, r: 10, b: 60, l: 40 },
    yaxis: { title: { text: "efficiency" }, rangemode: "tozero" },
  }, { displayModeBar: false, responsive: true });
}

function tick() {
  if (!state.refreshedAt) { $("age").textContent = ""; return; }
  const seconds = Math.max(0, Math.round((Date.now() - state.refreshedAt) / 1000));
  $("age").textContent = `Refreshed ${seconds} s ago`;
}

takeTokenFromFragment();
$("token").value = token();
$("token-form").addEventListener("submit", (e) => { e.preventDefault(); localStorage.setItem(KEY, $("token").value.trim()); loadFleet(); });
$("forget").addEventListener("click", () => { localStorage.removeItem(KEY); $("token").value = ""; state.vehicles = []; render(); status("Token forgotten."); });
$("threshold").addEventListener("input", render);
$("reload").addEventListener("click", loadFleet);
document.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => {
  state.desc = state.sort === th.dataset.key ? !state.desc : false;
  state.sort = th.dataset.key;
  render();
}));
$("fleet").tBodies[0].addEventListener("click", (e) => { const tr = e.target.closest("tr"); if (tr) drill(tr.dataset.vehicle); });
setInterval(tick, 1000);
loadFleet();
