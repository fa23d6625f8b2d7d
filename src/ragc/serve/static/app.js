// The ragc inspector: plain browser JavaScript over the gateway's HTTP API and
// server-sent events (docs/serve.md). No framework and no CDN: the package
// serves this file. The token (if the server has one) is read from the page's
// `?token=...` once and kept in sessionStorage.
"use strict";

const params = new URLSearchParams(location.search);
const TOKEN = params.get("token") || sessionStorage.getItem("ragc-token") || "";
if (TOKEN) sessionStorage.setItem("ragc-token", TOKEN);

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
};
const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs = {}) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};

async function api(path, options = {}) {
  const headers = Object.assign({"Content-Type": "application/json"}, options.headers || {});
  if (TOKEN) headers["Authorization"] = "Bearer " + TOKEN;
  const resp = await fetch(path, Object.assign({}, options, {headers}));
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = body.error || {message: resp.statusText};
    throw new Error(err.message + (err.hint ? " (" + err.hint + ")" : ""));
  }
  return body;
}
const withToken = (path) => TOKEN ? path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : path;
const pretty = (v) => JSON.stringify(v, null, 2);

// ------------------------------------------------------------------ runs list

let current = null;       // the run shown: {id, source: EventSource, states: {node: state}}

async function loadWorkflows() {
  const {workflows} = await api("/api/workflows");
  for (const sel of [$("#start-file"), $("#diff-old"), $("#diff-new")]) {
    sel.replaceChildren(...workflows.map((w) => el("option", {value: w, text: w})));
  }
  if (workflows.length > 1) $("#diff-new").selectedIndex = 1;
}

function statusText(run) {
  if (run.status === "running" && run.resumable) return "stalled (resumable)";
  return run.display_status || run.status;  // the word `ragc runs list` uses (waiting, crashed)
}

async function loadRuns() {
  const {runs} = await api("/api/runs?limit=100");
  const rows = runs.map((r) => {
    const badge = el("span", {class: "status " + r.status + (r.resumable && r.status === "running" ? " resumable" : ""),
                              text: statusText(r)});
    const tr = el("tr", {"data-run": r.id}, el("td", {text: r.id}), el("td", {text: r.graph}), el("td", {}, badge));
    if (current && current.id === r.id) tr.classList.add("selected");
    tr.addEventListener("click", () => { location.hash = "#run/" + r.id; });
    return tr;
  });
  $("#runs tbody").replaceChildren(...rows);
  $("#conn").textContent = runs.length + " runs";
}

$("#start-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#start-error").hidden = true;
  try {
    const input = JSON.parse($("#start-input").value || "{}");
    const {run_id} = await api("/api/runs", {method: "POST", body: JSON.stringify({file: $("#start-file").value, input})});
    location.hash = "#run/" + run_id;
    loadRuns();
  } catch (e) {
    $("#start-error").textContent = e.message;
    $("#start-error").hidden = false;
  }
});

// ------------------------------------------------------------------ one run

function drawGraph(view) {
  // room on both sides for the arrows drawn around the boxes (skips on the left, loops on the right)
  const side = 80;
  const svg = svgEl("svg", {viewBox: `${-side} 0 ${view.width + 2 * side} ${view.height}`, width: view.width + 2 * side,
                            height: view.height, id: "graph-svg"});
  const defs = svgEl("defs");
  const marker = svgEl("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7,
                                  orient: "auto-start-reverse"});
  marker.append(svgEl("path", {d: "M 0 0 L 10 5 L 0 10 z", fill: "#9aa4b2"}));
  defs.append(marker);
  svg.append(defs);
  const box = {};
  for (const n of view.nodes) box[n.id] = n;
  for (const e of view.edges) {
    const a = box[e.from], b = box[e.to];
    if (!a || !b) continue;
    let d, lx, ly;
    const skips = b.y - a.y > a.h + 60;   // passes over a layer: go around the left side, not through boxes
    if (b.y > a.y && skips) {
      const x1 = a.x, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
      const out = Math.min(x1, x2) - 45;
      d = `M ${x1} ${y1} C ${out} ${y1}, ${out} ${y2}, ${x2} ${y2}`;
      lx = out + 4; ly = (y1 + y2) / 2;
    } else if (b.y > a.y) {     // downwards to the next layer: bottom centre to top centre
      const x1 = a.x + a.w / 2, y1 = a.y + a.h, x2 = b.x + b.w / 2, y2 = b.y;
      d = `M ${x1} ${y1} C ${x1} ${y1 + 25}, ${x2} ${y2 - 25}, ${x2} ${y2}`;
      lx = (x1 + x2) / 2; ly = (y1 + y2) / 2;
    } else {                    // a loop back up: around the right side
      const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x + b.w, y2 = b.y + b.h / 2;
      const out = Math.max(x1, x2) + 40;
      d = `M ${x1} ${y1} C ${out} ${y1}, ${out} ${y2}, ${x2} ${y2}`;
      lx = out - 12; ly = (y1 + y2) / 2;
    }
    svg.append(svgEl("path", {d, class: e.dotted ? "dotted" : "", "marker-end": "url(#arrow)"}));
    if (e.label) {
      const t = svgEl("text", {x: lx, y: ly, class: "edge-label"});
      t.textContent = e.label;
      svg.append(t);
    }
  }
  for (const n of view.nodes) {
    const g = svgEl("g", {"data-node": n.id, "data-kind": n.kind, "data-state": "pending"});
    g.append(svgEl("rect", {x: n.x, y: n.y, width: n.w, height: n.h, rx: n.kind === "interrupt" ? 14 : 6}));
    const name = svgEl("text", {x: n.x + n.w / 2, y: n.y + (n.detail ? 19 : 28)});
    name.textContent = n.id;
    g.append(name);
    if (n.detail) {
      const detail = svgEl("text", {x: n.x + n.w / 2, y: n.y + 35, class: "detail"});
      detail.textContent = n.detail;
      g.append(detail);
    }
    const title = svgEl("title");
    title.textContent = n.id + " (" + n.kind + ")";
    g.append(title);
    svg.append(g);
  }
  $("#graph").replaceChildren(svg);
}

function setNodeState(node, state) {
  if (!current) return;
  current.states[node] = state;
  const g = document.querySelector(`#graph g[data-node="${CSS.escape(node)}"]`);
  if (g) g.setAttribute("data-state", state);
}

function describe(ev) {
  switch (ev.type) {
    case "run_started": return `run started${ev.resumed ? " (resumed)" : ""} · ${ev.graph}`;
    case "run_finished": return `run ${ev.status}${ev.error ? ": " + ev.error : ""}`;
    case "node_started": return `▶ ${ev.node} (${ev.kind})`;
    case "node_completed": return `✔ ${ev.node}${ev.route ? " → " + ev.route : ""}${ev.replayed ? " (replayed)" : ""}` +
                                  ` ${(ev.duration_s * 1000).toFixed(0)} ms`;
    case "node_failed": return `✘ ${ev.node}: ${ev.error}${ev.will_retry ? " (will retry)" : ""}`;
    case "model_call_completed": return `  model ${ev.model}: ${ev.input_tokens}+${ev.output_tokens} tokens` +
                                        `${ev.cached ? " (from the journal)" : ""}`;
    case "tool_call_started": return `  tool ${ev.tool} ${JSON.stringify(ev.arguments)}`;
    case "tool_call_completed": return `  tool ${ev.tool} ${ev.is_error ? "failed" : "ok"}: ${ev.summary || ""}`;
    case "route_chosen": return `  ${ev.node} chose ${ev.label} → ${ev.target}`;
    case "interrupt_raised": return `? ${ev.node} asks: ${ev.question}`;
    case "warning": return `! ${ev.message}`;
    default: return ev.type + (ev.node ? " " + ev.node : "");
  }
}

function onEvent(ev) {
  const when = new Date(ev.ts * 1000).toLocaleTimeString();
  $("#timeline").append(el("li", {"data-type": ev.type, text: `${when}  ${describe(ev)}`}));
  $("#timeline").scrollTop = $("#timeline").scrollHeight;
  if (ev.type === "node_started") setNodeState(ev.node, "running");
  else if (ev.type === "node_completed") setNodeState(ev.node, "completed");
  else if (ev.type === "node_failed" && !ev.will_retry) setNodeState(ev.node, "failed");
  else if (ev.type === "node_cancelled") setNodeState(ev.node, "cancelled");
  else if (ev.type === "interrupt_raised") setNodeState(ev.node, "waiting");
  if (["run_finished", "interrupt_raised", "node_completed", "run_started"].includes(ev.type)) scheduleRefresh();
}

let refreshTimer = null;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => { if (current) refreshRun(current.id); loadRuns(); }, 150);
}

function showCalls(calls) {
  $("#calls").replaceChildren(...calls.map((c) => {
    const input = c.input === null || c.input === undefined ? el("p", {class: "muted", text: "input not recorded (the call ran outside this server)"})
                                                            : el("pre", {class: "call-input", text: pretty(c.input)});
    return el("div", {class: "call", "data-call-kind": c.kind},
      el("strong", {text: `${c.kind} ${c.name || ""}`}), el("span", {class: "muted", text: ` · ${c.activation} · ${c.key}`}),
      el("div", {text: "input"}), input, el("div", {text: "output"}), el("pre", {class: "call-output", text: pretty(c.output)}));
  }));
  if (!calls.length) $("#calls").append(el("p", {class: "muted", text: "no model or tool calls yet"}));
}

function showInterrupt(run) {
  const box = $("#interrupt");
  const pending = run.status === "interrupted" ? run.interrupt : null;
  box.hidden = !pending;
  if (!pending) return;
  $("#interrupt-question").textContent = pending.question;
  const options = pending.options || [];
  $("#interrupt-options").replaceChildren(...options.map((o) => {
    const b = el("button", {"data-answer": String(o), text: String(o)});
    b.addEventListener("click", () => answer(run.id, o));
    return b;
  }));
  $("#interrupt-free").hidden = options.length > 0;
}

async function answer(runId, value) {
  $("#answer-error").hidden = true;
  try {
    await api(`/api/runs/${encodeURIComponent(runId)}/answer`, {method: "POST", body: JSON.stringify({answer: value})});
    $("#interrupt").hidden = true;
  } catch (e) {
    $("#answer-error").textContent = e.message;
    $("#answer-error").hidden = false;
  }
}
$("#interrupt-free").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (current) answer(current.id, $("#interrupt-text").value);
});
$("#cancel-button").addEventListener("click", () => current && api(`/api/runs/${current.id}/cancel`, {method: "POST"}));
$("#resume-button").addEventListener("click", () => current && api(`/api/runs/${current.id}/resume`, {method: "POST", body: "{}"}));

async function refreshRun(runId) {
  const run = await api(`/api/runs/${encodeURIComponent(runId)}`);
  if (!current || current.id !== runId) return;
  const status = $("#run-status");
  status.textContent = statusText(run);
  status.className = "status " + run.status;
  status.setAttribute("data-status", run.status);
  $("#run-meta").textContent = `${run.graph} · ${run.file || ""} · ${run.usage.model_calls || 0} model calls, ` +
    `${run.usage.tool_calls || 0} tool calls, $${(run.usage.cost_usd || 0).toFixed(4)}`;
  showInterrupt(run);
  showCalls(run.calls);
  $("#state").textContent = pretty(run.state);
  $("#cancel-button").hidden = !run.live;
  // the journal row is updated just after the last event of a leg: look again until the leg is over
  if (run.live) { clearTimeout(current.poll); current.poll = setTimeout(() => refreshRun(runId).catch(() => {}), 700); }
  $("#resume-button").hidden = !(run.resumable && run.status !== "interrupted");
}

async function openRun(runId) {
  if (current && current.source) current.source.close();
  current = {id: runId, source: null, states: {}};
  $("#run").hidden = false;
  $("#run-id").textContent = runId;
  $("#timeline").replaceChildren();
  const run = await api(`/api/runs/${encodeURIComponent(runId)}`);
  drawGraph(run.layout);
  await refreshRun(runId);
  const source = new EventSource(withToken(`/api/runs/${encodeURIComponent(runId)}/stream`));
  current.source = source;
  source.onmessage = null;
  const handler = (msg) => onEvent(JSON.parse(msg.data));
  for (const type of ["run_started", "run_finished", "node_started", "node_completed", "node_failed", "node_retried",
                      "node_cancelled", "model_call_started", "model_call_completed", "model_retry", "tool_call_started",
                      "tool_call_completed", "route_chosen", "fan_out_started", "branch_finished", "join_fired",
                      "checkpoint", "interrupt_raised", "warning"]) {
    source.addEventListener(type, handler);
  }
  loadRuns();
}

// ------------------------------------------------------------------ diff

$("#diff-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#diff-error").hidden = true;
  const oldFile = $("#diff-old").value, newFile = $("#diff-new").value;
  try {
    const d = await api(`/api/diff?old=${encodeURIComponent(oldFile)}&new=${encodeURIComponent(newFile)}`);
    $("#diff-summary").textContent = d.text;
    $("#diff-old-name").textContent = oldFile;
    $("#diff-new-name").textContent = newFile;
    $("#diff-table tbody").replaceChildren(...d.rows.map((r) =>
      el("tr", {class: r.tag}, el("td", {text: r.old ?? ""}), el("td", {text: r.new ?? ""}))));
  } catch (e) {
    $("#diff-error").textContent = e.message;
    $("#diff-error").hidden = false;
  }
});

// ------------------------------------------------------------------ routing

function route() {
  const hash = location.hash;
  const diff = hash.startsWith("#diff");
  $("#page-diff").hidden = !diff;
  $("#page-runs").hidden = diff;
  const m = hash.match(/^#run\/([^?&]+)/);
  if (m && (!current || current.id !== decodeURIComponent(m[1]))) openRun(decodeURIComponent(m[1]));
}
window.addEventListener("hashchange", route);

(async () => {
  try {
    await loadWorkflows();
    await loadRuns();
  } catch (e) {
    $("#conn").textContent = e.message;
  }
  route();
  setInterval(() => loadRuns().catch(() => {}), 3000);
})();
