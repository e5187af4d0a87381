// The dashboard page: one WebSocket (/live) brings the history on connect,
// then an update at most ten times a second. Everything is computed by the
// server; this script only draws.
"use strict";

const WINDOW_S = 300; // the charts show the last five minutes
const DOMAINS = ["market_data", "signal", "execution", "system"];
const COLORS = ["#1d232b", "#1565c0", "#8e24aa", "#ef6c00", "#00897b", "#6d4c41", "#c2185b", "#7cb342", "#5e35b1", "#f9a825"];
const $ = (id) => document.getElementById(id);

// Series of the rate chart: total, then every domain and source seen.
const rateKeys = ["total"];
const rateData = [[], []];
const latData = [[], [], []];
let rateChart, latChart;

function size() { return { width: Math.max(320, $("rates").parentElement.clientWidth - 4), height: 220 }; }

function makeCharts() {
  rateChart = new uPlot({
    ...size(),
    scales: { x: { time: true } },
    series: [{}, { label: "total", stroke: COLORS[0], width: 2 }],
    axes: [{}, { size: 70, values: (u, v) => v.map(fmtRate) }],
  }, rateData, $("rates"));
  latChart = new uPlot({
    ...size(),
    scales: { x: { time: true }, y: { distr: 3 } }, // log: a p99 spike does not flatten the p50
    series: [{}, { label: "p50", stroke: "#1565c0", width: 2, value: (u, v) => v == null ? "--" : fmtMicros(v) },
      { label: "p99", stroke: "#c62828", width: 2, value: (u, v) => v == null ? "--" : fmtMicros(v) }],
    axes: [{}, { size: 70, values: (u, v) => v.map(fmtMicros) }],
  }, latData, $("latency"));
}

function fmtRate(r) {
  if (r == null) return "";
  if (r >= 1e6) return (r / 1e6).toFixed(2) + "M";
  if (r >= 1e3) return (r / 1e3).toFixed(1) + "k";
  return r.toFixed(0);
}

function fmtMicros(us) {
  if (us == null) return "";
  if (us >= 1e6) return +(us / 1e6).toPrecision(3) + " s";
  if (us >= 1e3) return +(us / 1e3).toPrecision(3) + " ms";
  return +us.toPrecision(3) + " µs";
}

function rateKey(kind, k) { return kind === "dom" ? k : "source " + k; }

function addPoint(p) {
  const t = p.t / 1000;
  const values = { total: p.total };
  for (const [k, v] of Object.entries(p.dom || {})) values[rateKey("dom", k)] = v;
  for (const [k, v] of Object.entries(p.src || {})) values[rateKey("src", k)] = v;
  for (const k of Object.keys(values)) {
    if (!rateKeys.includes(k)) {
      rateKeys.push(k);
      rateData.push(rateData[0].map(() => null));
      rateChart.addSeries({ label: k, stroke: COLORS[(rateKeys.length - 1) % COLORS.length], dash: DOMAINS.includes(k) ? [6, 3] : undefined });
    }
  }
  rateData[0].push(t);
  rateKeys.forEach((k, i) => rateData[i + 1].push(k in values ? values[k] : null));
  latData[0].push(t);
  latData[1].push(p.p50 > 0 ? p.p50 : null); // -1: no frame in that second; 0 has no logarithm
  latData[2].push(p.p99 > 0 ? p.p99 : null);
  for (const data of [rateData, latData]) {
    while (data[0].length && data[0][0] < t - WINDOW_S) data.forEach((s) => s.shift());
  }
}

function redraw() {
  rateChart.setData(rateData);
  latChart.setData(latData);
}

function ago(ms) {
  if (ms < 1000) return ms + " ms ago";
  return (ms / 1000).toFixed(1) + " s ago";
}

function fillTable(id, rows, cells, rowClass) {
  const body = $(id).tBodies[0];
  const html = rows.map((r) => {
    const cls = rowClass ? rowClass(r) : "";
    return "<tr" + (cls ? ' class="' + cls + '"' : "") + ">" + cells(r).map((c) => {
      if (Array.isArray(c)) return '<td class="' + c[1] + '">' + esc(c[0]) + "</td>";
      return "<td>" + esc(c) + "</td>";
    }).join("") + "</tr>";
  }).join("");
  if (body.innerHTML !== html) body.innerHTML = html;
}

function esc(v) {
  return String(v ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
}

function show(u) {
  const st = $("state");
  st.className = u.state;
  st.dataset.state = u.state;
  st.textContent = u.state === "live" ? "LIVE"
    : u.state === "stale" ? "STALE — no data for " + (u.idle_ms / 1000).toFixed(1) + " s"
    : "waiting for data";
  $("rate").textContent = u.rate_text;
  $("frames").textContent = u.frames.toLocaleString("en-US");
  $("gaps").textContent = u.gaps.toLocaleString("en-US");
  $("p50").textContent = u.p50;
  $("p99").textContent = u.p99;
  $("nproducers").textContent = u.conns;
  $("tracked").textContent = "(" + u.board_tracked + " tracked)";
  fillTable("sources", u.sources, (s) => [s.id, fmtRate(s.rate), s.frames.toLocaleString("en-US"),
    [s.gaps, s.gaps ? "gaps" : ""], ago(s.idle_ms), s.stale ? "stale" : "live"], (s) => s.stale ? "stale" : "");
  fillTable("domains", u.domains, (d) => [d.name, fmtRate(d.rate), d.frames.toLocaleString("en-US")]);
  fillTable("producers", u.producers, (p) => [p.kind, p.name, p.conns, new Date(p.since).toLocaleTimeString()]);
  fillTable("board", u.board, (b) => [b.id, b.count.toLocaleString("en-US"), b.price || "–", b.size || "–",
    [b.side || "–", b.side || ""], b.bid ? b.bid + " × " + b.bid_size : "–", b.ask ? b.ask + " × " + b.ask_size : "–", ago(b.age_ms)]);
  addPoint(u.point);
  redraw();
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live");
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "history") {
      // The first message of every connection: start the charts over, so
      // that a reconnect does not append older points after newer ones.
      for (const data of [rateData, latData]) data.forEach((s) => { s.length = 0; });
      (m.points || []).forEach(addPoint);
      redraw();
    } else if (m.type === "update") {
      show(m);
    }
  };
  ws.onclose = () => {
    const st = $("state");
    st.className = "stale";
    st.dataset.state = "disconnected";
    st.textContent = "DISCONNECTED — reconnecting";
    setTimeout(connect, 1000);
  };
}

makeCharts();
window.addEventListener("resize", () => { rateChart.setSize(size()); latChart.setSize(size()); });
connect();
