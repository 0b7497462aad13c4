/**
 * The one page `luanet dashboard` serves (dashboard.ts). It subscribes to /events (Server-Sent
 * Events: one document a second, `{ time, where, services: TopRow[], edges: Edge[] }` from
 * rates.ts), draws the call graph as SVG, a card per service with its numbers and small uPlot
 * charts, and fetches /api/tasks/<name> when a service is clicked.
 *
 * Service names and everything else from the cluster are set as text (textContent,
 * setAttribute), never parsed as HTML: a service may be called anything. The page is a string
 * here, not a file beside the code, so the built package needs no copy step; its script uses no
 * template literals, so it can sit in one.
 * @internal
 */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>luanet dashboard</title>
<link rel="stylesheet" href="/uplot.css">
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d2330; }
  header { padding: 10px 16px; background: #1d2330; color: #fff; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  header .status { color: #b8c0d0; }
  main { display: grid; grid-template-columns: minmax(320px, 420px) 1fr; gap: 12px; padding: 12px; }
  section { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 10px; }
  h2 { font-size: 13px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: #5a6478; }
  #graph svg { width: 100%; height: 380px; }
  .node circle { fill: #e8f0ff; stroke: #3b6fd8; stroke-width: 1.5; cursor: pointer; }
  .node.failing circle { fill: #ffe9e9; stroke: #c33; }
  .node text { font-size: 11px; text-anchor: middle; pointer-events: none; }
  .edge line { stroke: #8a94a8; stroke-width: 1.4; marker-end: url(#arrow); }
  .edge text { font-size: 10px; fill: #3b4660; text-anchor: middle; }
  #cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }
  .card { cursor: pointer; }
  .card.selected { border-color: #3b6fd8; box-shadow: 0 0 0 2px #3b6fd833; }
  .card .title { font-weight: 600; font-size: 14px; }
  .card .sub { color: #5a6478; font-size: 11px; }
  .card .error { color: #c33; }
  .nums { display: grid; grid-template-columns: repeat(9, auto); gap: 2px 10px; margin: 6px 0; font-variant-numeric: tabular-nums; }
  .nums .k { color: #5a6478; font-size: 10px; text-transform: uppercase; }
  .charts { display: grid; grid-template-columns: repeat(2, 1fr); gap: 4px; }
  .u-title { font-size: 11px !important; font-weight: 600 !important; color: #5a6478; }
  #tasks table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  #tasks td, #tasks th { text-align: left; padding: 2px 8px 2px 0; border-bottom: 1px solid #eef0f4; font-size: 12px; }
  #tasks pre { font-size: 10px; margin: 0; white-space: pre-wrap; color: #5a6478; }
</style>
</head>
<body>
<header><h1>luanet dashboard</h1><span class="status" id="status">connecting...</span></header>
<main>
  <div>
    <section id="graph"><h2>Who calls whom (calls/s)</h2>
      <svg id="graph-svg" viewBox="0 0 400 380" role="img" aria-label="call graph">
        <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#8a94a8"/></marker></defs>
        <g id="edges"></g><g id="nodes"></g>
      </svg>
    </section>
    <section id="tasks"><h2>Tasks</h2><div id="tasks-body">Click a service to see its tasks.</div></section>
  </div>
  <section><h2>Services</h2><div id="cards"></div></section>
</main>
<script src="/uplot.js"></script>
<script>
"use strict";
var SVG = "http://www.w3.org/2000/svg";
var KEEP = 120; // points a chart keeps: two minutes at one a second
var cards = new Map();
var selected = null;

function el(tag, attrs, text) {
  var e = tag.indexOf("svg:") === 0 ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function rate(n) { return n >= 10000 ? (n / 1000).toFixed(1) + "k" : n >= 100 ? n.toFixed(0) : n.toFixed(1); }
function ms(n) { return n < 1 ? (n * 1000).toFixed(0) + "us" : n < 1000 ? n.toFixed(1) + "ms" : (n / 1000).toFixed(2) + "s"; }
function mb(n) { return (n / 1048576).toFixed(1) + "M"; }

var CHARTS = [
  { title: "calls/s, errors/s", series: [["calls/s", "#3b6fd8", function (r) { return r.callsPerSec; }], ["errors/s", "#c33", function (r) { return r.errorsPerSec; }]] },
  { title: "p99 and event-loop p99 (ms)", series: [["p99", "#8a4fd8", function (r) { return r.p99; }], ["loop p99", "#d88a3b", function (r) { return r.eventLoopP99; }]] },
  { title: "in flight, mailbox, tasks", series: [["in flight", "#2a9d8f", function (r) { return r.inFlight; }], ["mailbox", "#e76f51", function (r) { return r.mailbox; }], ["tasks", "#6c757d", function (r) { return r.tasks; }]] },
  { title: "CPU % and rss (MiB)", series: [["cpu %", "#264653", function (r) { return r.cpu === null ? null : r.cpu; }], ["rss MiB", "#e9c46a", function (r) { return r.rss / 1048576; }]] },
];
var NUMS = [
  ["calls/s", function (r) { return rate(r.callsPerSec); }, "calls"], ["errors/s", function (r) { return rate(r.errorsPerSec); }, "errors"],
  ["p99", function (r) { return r.slowest === null ? "-" : ms(r.p99); }, "p99"], ["in flight", function (r) { return String(r.inFlight); }, "inflight"],
  ["mailbox", function (r) { return String(r.mailbox); }, "mailbox"], ["tasks", function (r) { return String(r.tasks); }, "tasks"],
  ["cpu", function (r) { return r.cpu === null ? "-" : r.cpu.toFixed(1) + "%"; }, "cpu"], ["rss", function (r) { return mb(r.rss); }, "rss"],
  ["loop p99", function (r) { return ms(r.eventLoopP99); }, "loop"],
];

function card(name) {
  var c = cards.get(name);
  if (c) return c;
  var root = el("section", { "class": "card", "data-service": name });
  var title = el("div", { "class": "title" }, name);
  var sub = el("div", { "class": "sub" });
  var nums = el("div", { "class": "nums" });
  var values = {};
  NUMS.forEach(function (n) { nums.appendChild(el("span", { "class": "k" }, n[0])); });
  NUMS.forEach(function (n) { var v = el("span", { "class": "v " + n[2] }, "-"); values[n[2]] = v; nums.appendChild(v); });
  var charts = el("div", { "class": "charts" });
  root.appendChild(title); root.appendChild(sub); root.appendChild(nums); root.appendChild(charts);
  root.addEventListener("click", function () { showTasks(name); });
  document.getElementById("cards").appendChild(root);
  c = { root: root, sub: sub, values: values, x: [], ys: CHARTS.map(function (ch) { return ch.series.map(function () { return []; }); }), plots: [] };
  CHARTS.forEach(function (ch, i) {
    var box = el("div");
    charts.appendChild(box);
    var opts = { title: ch.title, width: 270, height: 110, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: true } }, axes: [{ size: 22, font: "9px system-ui" }, { size: 46, font: "9px system-ui" }],
      series: [{}].concat(ch.series.map(function (s) { return { label: s[0], stroke: s[1], width: 1.5, spanGaps: true, points: { show: false } }; })) };
    c.plots.push(new uPlot(opts, [c.x].concat(c.ys[i]), box));
  });
  cards.set(name, c);
  return c;
}

function updateCard(r, time) {
  var c = card(r.service);
  c.root.classList.toggle("failing", r.error !== null);
  if (r.error !== null) { c.sub.textContent = r.error; c.sub.className = "sub error"; return; }
  c.sub.className = "sub";
  c.sub.textContent = (r.host || "?") + " pid " + r.pid + (r.groups.length ? "  groups: " + r.groups.join(", ") : "") + (r.slowest ? "  slowest: " + r.slowest : "");
  NUMS.forEach(function (n) { c.values[n[2]].textContent = n[1](r); });
  c.x.push(time / 1000);
  CHARTS.forEach(function (ch, i) { ch.series.forEach(function (s, j) { c.ys[i][j].push(s[2](r)); }); });
  if (c.x.length > KEEP) { c.x.shift(); c.ys.forEach(function (y) { y.forEach(function (s) { s.shift(); }); }); }
  c.plots.forEach(function (p, i) { p.setData([c.x].concat(c.ys[i])); });
}

function drawGraph(services, edges) {
  var nodes = document.getElementById("nodes"), lines = document.getElementById("edges");
  nodes.replaceChildren(); lines.replaceChildren();
  var at = new Map(), n = services.length, R = n > 1 ? 140 : 0;
  services.forEach(function (s, i) {
    var a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
    at.set(s.service, [200 + R * Math.cos(a), 190 + R * Math.sin(a)]);
  });
  edges.forEach(function (e) {
    var p = at.get(e.from), q = at.get(e.to);
    if (!p || !q) return;
    var dx = q[0] - p[0], dy = q[1] - p[1], d = Math.sqrt(dx * dx + dy * dy) || 1, r = 24;
    var g = el("svg:g", { "class": "edge", "data-from": e.from, "data-to": e.to });
    g.appendChild(el("svg:line", { x1: p[0] + (dx * r) / d, y1: p[1] + (dy * r) / d, x2: q[0] - (dx * r) / d, y2: q[1] - (dy * r) / d }));
    var label = rate(e.callsPerSec) + (e.msgsPerSec > 0 ? " (+" + rate(e.msgsPerSec) + " msg)" : "");
    g.appendChild(el("svg:text", { x: (p[0] + q[0]) / 2 - dy * 0.06, y: (p[1] + q[1]) / 2 + dx * 0.06, "class": "rate" }, label));
    lines.appendChild(g);
  });
  services.forEach(function (s) {
    var p = at.get(s.service);
    var g = el("svg:g", { "class": "node" + (s.error !== null ? " failing" : ""), "data-service": s.service });
    g.appendChild(el("svg:circle", { cx: p[0], cy: p[1], r: 22 }));
    g.appendChild(el("svg:text", { x: p[0], y: p[1] + 36 }, s.service.length > 24 ? s.service.slice(0, 23) + "..." : s.service));
    if (s.groups.length) g.appendChild(el("svg:text", { x: p[0], y: p[1] + 4 }, s.groups[0]));
    g.addEventListener("click", function () { showTasks(s.service); });
    nodes.appendChild(g);
  });
}

function update(doc) {
  document.getElementById("status").textContent = doc.error ? "registry: " + doc.error :
    doc.services.length + " services in " + doc.where + ", updated " + new Date(doc.time).toLocaleTimeString();
  drawGraph(doc.services, doc.edges);
  var seen = new Set();
  doc.services.forEach(function (r) { seen.add(r.service); updateCard(r, doc.time); });
  cards.forEach(function (c, name) { if (!seen.has(name)) { c.root.remove(); cards.delete(name); } });
}

function showTasks(name) {
  selected = name;
  cards.forEach(function (c, n) { c.root.classList.toggle("selected", n === name); });
  var body = document.getElementById("tasks-body");
  body.replaceChildren(el("div", {}, "asking " + name + " for its tasks..."));
  fetch("/api/tasks/" + encodeURIComponent(name)).then(function (r) { return r.json(); }).then(function (d) {
    if (selected !== name) return;
    if (d.error) { body.replaceChildren(el("div", { "class": "error" }, name + ": " + d.error)); return; }
    var table = el("table", { id: "tasks-table", "data-service": name });
    var head = el("tr");
    ["id", "name", "state", "waiting on", "for"].forEach(function (h) { head.appendChild(el("th", {}, h)); });
    table.appendChild(head);
    d.tasks.forEach(function (t) {
      var tr = el("tr", { "class": "task" });
      [String(t.id), t.name, t.state, t.waitingOn || "-", t.waitingMs === null ? "-" : ms(t.waitingMs)].forEach(function (v) { tr.appendChild(el("td", {}, v)); });
      table.appendChild(tr);
    });
    body.replaceChildren(el("div", {}, name + ": " + d.total + " tasks" + (d.total > d.tasks.length ? " (the " + d.tasks.length + " waiting longest)" : "")), table);
  }, function (e) { body.replaceChildren(el("div", { "class": "error" }, String(e))); });
}

var events = new EventSource("/events");
events.onmessage = function (e) { update(JSON.parse(e.data)); };
events.onerror = function () { document.getElementById("status").textContent = "disconnected from the dashboard; retrying..."; };
</script>
</body>
</html>
`;
