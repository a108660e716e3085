// The dashboard page: draws each chart from the server's JSON endpoints (/api/...) with
// Plotly, and draws them again every refresh_s seconds. Every number comes from the
// server; this script only lays the documents out. All times are UTC.
"use strict";

const COLOURS = { batch: "#1f77b4", speed: "#ff7f0e", lag: "#6c5ce7", rate: "#2ca02c" };
const PLOT_CONFIG = { displayModeBar: false, responsive: true };
const state = { views: [], refreshS: 5, timer: null };

// "2026-12-02T10:00:00Z" -> "2026-12-02 10:00:00": Plotly draws it as it is (UTC).
const utc = (iso) => (iso ? iso.replace("T", " ").replace("Z", "") : null);
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en"));

function age(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m ago`;
}

async function getJSON(path) {
  const response = await fetch(path, { cache: "no-store" });
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    throw new Error(`${path}: HTTP ${response.status}`);
  }
  if (!response.ok) throw new Error(body && body.error ? body.error : `${path}: HTTP ${response.status}`);
  return body;
}

function showEmpty(element, chart, message) {
  element.textContent = message || "";
  element.hidden = !message;
  if (chart) chart.style.display = message ? "none" : "";
}

function windowHours() {
  return Number(document.getElementById("window").value);
}

function buildViewCards() {
  const holder = document.getElementById("views");
  const template = document.getElementById("view-card");
  holder.replaceChildren();
  for (const view of state.views) {
    const card = template.content.firstElementChild.cloneNode(true);
    card.id = `view-${view.name}`;
    card.querySelector(".view-title").textContent =
      `${view.name}: tweets per hour (${view.serving_view}) and top ${view.keys.join(" / ")}`;
    holder.appendChild(card);
  }
}

function drawHours(card, doc) {
  const chart = card.querySelector(".hours-chart");
  const empty = card.querySelector(".empty");
  card.querySelector(".totals").textContent =
    `${fmt(doc.totals.all)} tweets since ${utc(doc.since)} UTC: ${fmt(doc.totals.batch)} from batch, ` +
    `${fmt(doc.totals.speed)} from speed`;
  if (doc.rows.length === 0) {
    showEmpty(empty, chart, "No tweets in this window yet: start a producer (make run-producer) and a layer.");
    return;
  }
  showEmpty(empty, chart, "");
  const trace = (layer) => {
    const rows = doc.rows.filter((r) => r.layer === layer);
    return {
      type: "bar", name: `${layer} layer`, marker: { color: COLOURS[layer] },
      x: rows.map((r) => utc(r.hour)), y: rows.map((r) => r.tweets),
      hovertemplate: `%{x} UTC<br>%{y:,} tweets (${layer})<extra></extra>`,
    };
  };
  const shapes = [];
  const annotations = [];
  if (doc.horizon) {
    shapes.push({
      type: "line", name: "horizon", xref: "x", yref: "paper", x0: utc(doc.horizon), x1: utc(doc.horizon),
      y0: 0, y1: 1, line: { color: "#333", width: 2, dash: "dash" },
    });
    annotations.push({
      // Left of the line, so the newest hours' label never runs off the chart.
      x: utc(doc.horizon), y: 1, xref: "x", yref: "paper", xanchor: "right", yanchor: "bottom",
      showarrow: false,
      text: `horizon ${utc(doc.horizon).slice(5, 16)} UTC`, font: { size: 11 },
    });
  }
  Plotly.react(chart, [trace("batch"), trace("speed")], {
    barmode: "stack", bargap: 0.1, margin: { l: 56, r: 12, t: 22, b: 36 }, showlegend: false,
    xaxis: { type: "date", range: [utc(doc.since), utc(doc.until)], title: { text: "hour (UTC)" } },
    yaxis: { title: { text: "tweets" }, rangemode: "tozero" },
    shapes, annotations,
  }, PLOT_CONFIG);
}

function drawTop(card, doc) {
  const chart = card.querySelector(".top-chart");
  if (doc.rows.length === 0) {
    chart.style.display = "none";
    return;
  }
  chart.style.display = "";
  // r.label is the server's Plotly-safe text (markup escaped); r.key's raw values must
  // never reach Plotly, which draws HTML-like markup in any text (links, styled spans).
  const rows = doc.rows.slice().reverse();
  Plotly.react(chart, [{
    type: "bar", orientation: "h", marker: { color: "#4a6fa5" },
    y: rows.map((r) => r.label || "(empty)"), x: rows.map((r) => r.tweets),
    text: rows.map((r) => `${(100 * r.share).toFixed(1)}%`), textposition: "auto",
    hovertemplate: "%{y}: %{x:,} tweets (%{text} of the window)<extra></extra>",
  }], {
    margin: { l: 140, r: 12, t: 8, b: 30 }, xaxis: { title: { text: "tweets in the window" } },
    yaxis: { automargin: true },
  }, PLOT_CONFIG);
}

async function refreshView(view) {
  const card = document.getElementById(`view-${view.name}`);
  const hours = windowHours();
  const [doc, top] = await Promise.all([
    getJSON(`/api/views/${encodeURIComponent(view.name)}/hours?hours=${hours}`),
    getJSON(`/api/views/${encodeURIComponent(view.name)}/top?hours=${hours}&limit=10`),
  ]);
  drawHours(card, doc);
  drawTop(card, top);
}

function drawStatus(doc) {
  const badge = document.getElementById("status-badge");
  badge.textContent = doc.status ? `${doc.status}` : "gathering…";
  badge.className = `badge ${doc.status || ""}`;
  document.getElementById("gathered").textContent =
    doc.gathered_at ? `${utc(doc.gathered_at)} UTC, ${age(doc.gathered_age_s)}` : "not yet";
  document.getElementById("fact-freshness").textContent =
    doc.newest_event ? `${utc(doc.newest_event)} (${age(doc.freshness_s)})` : "none yet";
  document.getElementById("fact-horizon").textContent =
    doc.horizon ? `${utc(doc.horizon).slice(0, 16)} (${age(doc.horizon_age_s)})` : "no batch cycle yet";

  const body = document.querySelector("#checks tbody");
  body.replaceChildren(...doc.checks.map((c) => {
    const row = document.createElement("tr");
    row.className = `check ${c.level}`;
    const level = document.createElement("td");
    const pill = document.createElement("span");
    pill.className = `level ${c.level}`;
    pill.textContent = c.level;
    level.appendChild(pill);
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = `#check-${c.family}`;
    link.textContent = c.name;
    if (c.meaning) link.title = c.meaning;
    name.appendChild(link);
    const detail = document.createElement("td");
    detail.textContent = c.detail;
    row.append(level, name, detail);
    return row;
  }));

  const rejects = document.querySelector("#rejects tbody");
  if (doc.rejects) {
    rejects.replaceChildren(...[["batch", "all landed"], ["speed", "last 24 h"]].map(([layer, over]) => {
      const r = doc.rejects[layer];
      const row = document.createElement("tr");
      for (const [text, numeric] of [[layer, false], [fmt(r.rejects), true], [fmt(r.messages), true], [over, false]]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        if (numeric) cell.className = "num";
        row.appendChild(cell);
      }
      return row;
    }));
  }

  const lagChart = document.getElementById("chart-lag");
  const partitions = doc.partitions || [];
  if (partitions.length === 0) {
    showEmpty(document.getElementById("empty-lag"), lagChart,
      doc.errors && doc.errors.kafka ? `Kafka: ${doc.errors.kafka}` : "No partitions yet.");
  } else {
    showEmpty(document.getElementById("empty-lag"), lagChart, "");
    Plotly.react(lagChart, [{
      type: "bar", marker: { color: COLOURS.lag },
      x: partitions.map((p) => `partition ${p.partition}`), y: partitions.map((p) => p.lag),
      hovertemplate: "%{x}: lag %{y:,} messages<extra></extra>",
    }], { margin: { l: 56, r: 12, t: 8, b: 30 }, yaxis: { title: { text: "messages" }, rangemode: "tozero" } },
    PLOT_CONFIG);
  }
}

function drawSpeed(doc) {
  const chart = document.getElementById("chart-speed");
  const batches = doc.batches;
  if (batches.length === 0) {
    showEmpty(document.getElementById("empty-speed"), chart, "No micro-batch yet: is make speed running?");
    return;
  }
  showEmpty(document.getElementById("empty-speed"), chart, "");
  const x = batches.map((b) => utc(b.finished_at));
  Plotly.react(chart, [
    { type: "scatter", mode: "lines+markers", name: "duration (s)", x, y: batches.map((b) => b.duration_s),
      marker: { color: COLOURS.speed }, hovertemplate: "%{x} UTC: %{y:.2f} s<extra>duration</extra>" },
    { type: "scatter", mode: "lines", name: "input (events/s)", x, y: batches.map((b) => b.input_rate),
      yaxis: "y2", marker: { color: COLOURS.rate }, hovertemplate: "%{x} UTC: %{y:,} events/s<extra>input rate</extra>" },
  ], {
    margin: { l: 48, r: 56, t: 8, b: 30 }, legend: { orientation: "h", y: 1.15 },
    xaxis: { type: "date", title: { text: "finished (UTC)" } },
    yaxis: { title: { text: "seconds" }, rangemode: "tozero" },
    yaxis2: { title: { text: "events/s" }, overlaying: "y", side: "right", rangemode: "tozero" },
  }, PLOT_CONFIG);
}

async function refresh() {
  const problems = [];
  const jobs = state.views.map((v) => refreshView(v).catch((e) => problems.push(`${v.name}: ${e.message}`)));
  jobs.push(getJSON("/api/status").then(drawStatus).catch((e) => problems.push(`status: ${e.message}`)));
  jobs.push(getJSON("/api/speed?limit=60").then(drawSpeed).catch((e) => problems.push(`speed: ${e.message}`)));
  await Promise.all(jobs);
  const banner = document.getElementById("banner");
  // One line per distinct problem (a warehouse that is down fails every chart alike).
  const unique = [...new Set(problems.map((p) => p.replace(/^[^:]+: /, "")))];
  banner.textContent = unique.join(" · ");
  banner.hidden = unique.length === 0;
  document.getElementById("updated").textContent = new Date().toISOString().slice(11, 19) + " UTC";
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
}

async function explainChecks() {
  const doc = await getJSON("/api/checks");
  const panel = document.getElementById("status-panel");
  const list = document.createElement("dl");
  list.className = "meanings";
  for (const f of doc.families) {
    const term = document.createElement("dt");
    term.id = `check-${f.family}`;
    term.textContent = f.family;
    const meaning = document.createElement("dd");
    meaning.textContent = f.meaning;
    list.append(term, meaning);
  }
  const heading = document.createElement("h2");
  heading.textContent = "What the checks mean";
  panel.append(heading, list);
}

async function start() {
  try {
    const doc = await getJSON("/api/views");
    state.views = doc.views;
    state.refreshS = doc.refresh_s;
  } catch (e) {
    const banner = document.getElementById("banner");
    banner.textContent = `cannot reach the dashboard server: ${e.message}`;
    banner.hidden = false;
    setTimeout(start, 5000);
    return;
  }
  buildViewCards();
  explainChecks().catch(() => {});
  document.getElementById("window").addEventListener("change", refresh);
  const loop = async () => {
    await refresh();
    state.timer = setTimeout(loop, state.refreshS * 1000);
  };
  loop();
}

document.addEventListener("DOMContentLoaded", start);
