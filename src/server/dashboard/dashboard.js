// suanli dashboard. Reads GET /v1/pool/state once a second (schema: docs/api.md) and draws the
// devices, which layers run where, live tokens/s, the KV cache and recent events; its chat box
// streams replies from POST /v1/chat/completions (server-sent events read with fetch and a
// ReadableStream). Vanilla JS, no dependencies: the page is served with a strict
// Content-Security-Policy, so nothing here uses inline scripts, inline styles or other origins.
//
// Everything that comes from the network is shown with textContent (never innerHTML): device
// names, host names, events and model output are data, not markup.
//
// The API key (when the server wants one) is asked for once per page load on the first 401 and
// kept in this browser's localStorage under "suanli-api-key"; the "Enter API key" button asks
// again.
//
// Hooks for tests and scripts: body[data-conn] is the connection state (connecting, ok, loading,
// shutting_down, down, auth, error); each device card is article[data-device=NAME]; each layer
// segment is .segment[data-device][data-first][data-last] (last exclusive) inside
// .pipeline[data-lane]; charts carry data-peak and data-points; the assistant's messages are
// .msg-assistant[data-state=streaming|done|stopped|error] with .msg-content and .msg-reasoning.
"use strict";

(function () {
  const KEY_STORAGE = "suanli-api-key";
  const POLL_MS = 1000;
  const HISTORY_SECONDS = 120;
  const PALETTE = ["#3b82f6", "#8b5cf6", "#10b981", "#f59e0b", "#ef4444", "#06b6d4", "#ec4899",
    "#84cc16", "#6366f1", "#f97316", "#14b8a6", "#a855f7"];

  const $ = (id) => document.getElementById(id);

  // An element with a class and text (text is set as textContent).
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function setText(e, text) {
    const t = String(text);
    if (e.textContent !== t) e.textContent = t;
  }

  // ---- formatting ----------------------------------------------------------------------------
  function fmtRate(v) {
    if (!Number.isFinite(v)) return "–";
    if (v === 0) return "0";
    if (v < 10) return v.toFixed(1);
    return Math.round(v).toLocaleString("en-US");
  }
  function fmtInt(v) {
    return Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "–";
  }
  function fmtBytes(b) {
    if (!Number.isFinite(b) || b <= 0) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (b < 10 && i > 0 ? b.toFixed(1) : Math.round(b)) + " " + units[i];
  }
  function fmtPercent(r) {
    if (!Number.isFinite(r)) return "–";
    const p = r * 100;
    return p > 0 && p < 1 ? "<1" : String(Math.round(p));
  }
  function fmtClock(unix) {
    const d = new Date(unix * 1000);
    return d.toLocaleTimeString("en-GB", {hour12: false});
  }
  // [first, last) as people read it: "0–3", "5", or "none".
  function fmtLayers(first, last) {
    if (!(last > first)) return "none";
    return last - first === 1 ? String(first) : first + "–" + (last - 1);
  }
  function num(v, fallback = 0) { return typeof v === "number" && Number.isFinite(v) ? v : fallback; }

  // ---- API key and requests ------------------------------------------------------------------
  let askedForKey = false;  // the automatic question is asked once per page load
  let authProblem = "";     // "", "missing", "rejected"

  function storedKey() {
    try { return localStorage.getItem(KEY_STORAGE) || ""; } catch (e) { return ""; }
  }
  function askForKey(message) {
    const k = window.prompt(message, "");
    if (k === null) return false;
    const key = k.trim();
    if (!key) return false;
    try { localStorage.setItem(KEY_STORAGE, key); } catch (e) { /* private mode: not kept */ }
    sessionKey = key;
    return true;
  }
  let sessionKey = storedKey();

  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (sessionKey) h["Authorization"] = "Bearer " + sessionKey;
    return h;
  }

  // fetch with the key; on a 401 asks for one (once per page load) and retries once.
  async function apiFetch(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = headers(opts.headers);
    opts.cache = "no-store";
    let r = await fetch(path, opts);
    if (r.status !== 401) {
      if (authProblem) { authProblem = ""; updateKeyButton(); }
      return r;
    }
    if (!askedForKey) {
      askedForKey = true;
      const msg = sessionKey ? "The server rejected the stored API key. Enter the key:"
        : "This suanli server needs an API key:";
      if (askForKey(msg)) {
        opts.headers = headers(options && options.headers);
        r = await fetch(path, opts);
        if (r.status !== 401) {
          authProblem = "";
          updateKeyButton();
          return r;
        }
      }
    }
    authProblem = sessionKey ? "rejected" : "missing";
    updateKeyButton();
    return r;
  }
  function updateKeyButton() {
    $("key-button").hidden = !authProblem;
  }

  // ---- connection state ----------------------------------------------------------------------
  let lastOkAt = 0;
  let downSince = 0;
  function setConn(state, detail) {
    document.body.dataset.conn = state;
    const labels = {
      ok: "live", loading: "loading model", shutting_down: "shutting down", down: "unreachable",
      auth: authProblem === "rejected" ? "API key rejected" : "API key needed",
      error: "error", connecting: "connecting…",
    };
    setText($("conn-text"), labels[state] || state);
    const banner = $("banner");
    let text = "";
    if (state === "down") {
      if (!downSince) downSince = Date.now();
      text = "Cannot reach the server since " + new Date(downSince).toLocaleTimeString("en-GB") +
        (lastOkAt ? "; the figures below are from " + new Date(lastOkAt).toLocaleTimeString("en-GB") : "") +
        ". Retrying every second…";
    } else {
      downSince = 0;
      if (state === "auth") {
        text = authProblem === "rejected"
          ? "The server rejected the API key. Use “Enter API key” to try another."
          : "This server needs an API key. Use “Enter API key” to give it.";
      } else if (state === "loading") {
        text = "The server is loading its model.";
      } else if (state === "shutting_down") {
        text = "The server is shutting down.";
      } else if (state === "error") {
        text = "The server answered with an error" + (detail ? ": " + detail : "") + ".";
      }
    }
    banner.hidden = !text;
    banner.dataset.kind = state;
    setText(banner, text);
    $("main").classList.toggle("stale", state === "down" || state === "auth" || state === "error");
  }

  // ---- charts --------------------------------------------------------------------------------
  // Draws [[unix, value], ...] over the last HISTORY_SECONDS as a filled line.
  function drawSpark(canvas, points, color, now) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    let peak = 0;
    for (const p of points) peak = Math.max(peak, num(p[1]));
    canvas.dataset.peak = String(peak);
    canvas.dataset.points = String(points.length);
    const top = peak > 0 ? peak * 1.15 : 1;
    const right = now || (points.length ? points[points.length - 1][0] : 0);
    // The last two minutes, or less while there is less to show (30 s at least).
    const span = points.length ? right - points[0][0] : 0;
    const range = Math.min(HISTORY_SECONDS, Math.max(30, span));
    const x = (t) => w - ((right - t) / range) * w;
    const y = (v) => h - 1 * dpr - (num(v) / top) * (h - 3 * dpr);
    ctx.strokeStyle = "rgba(127,127,127,0.25)";
    ctx.lineWidth = dpr;
    ctx.beginPath();
    ctx.moveTo(0, h - 0.5 * dpr);
    ctx.lineTo(w, h - 0.5 * dpr);
    ctx.stroke();
    if (points.length < 2) return;
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[1])) : ctx.moveTo(x(p[0]), y(p[1]))));
    ctx.lineJoin = "round";
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5 * dpr;
    ctx.stroke();
    ctx.lineTo(x(points[points.length - 1][0]), h);
    ctx.lineTo(x(points[0][0]), h);
    ctx.closePath();
    ctx.globalAlpha = 0.15;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
  }

  // ---- devices and colours -------------------------------------------------------------------
  const colours = new Map();  // device name -> colour, stable while the page lives
  function colourOf(name) {
    if (!colours.has(name)) colours.set(name, PALETTE[colours.size % PALETTE.length]);
    return colours.get(name);
  }

  const clientHistory = new Map();  // device name -> [[unix, tok/s]] when the server sends none
  const cards = new Map();          // device name -> {root, fields...}

  function fact(dl, label) {
    const dt = el("dt", null, label);
    const dd = el("dd");
    dl.append(dt, dd);
    return dd;
  }

  function makeCard(name) {
    const root = el("article", "device");
    root.dataset.device = name;
    const head = el("header", "device-head");
    const swatch = el("span", "swatch");
    const title = el("h3", "device-name", name);
    title.title = name;
    const health = el("span", "badge health");
    head.append(swatch, title, health);
    const sub = el("div", "device-sub");
    const role = el("span", "device-role");
    const host = el("span", "device-host");
    sub.append(role, host);
    const rate = el("div", "device-rate");
    const tps = el("span", "device-tps", "0");
    tps.dataset.field = "tps";
    rate.title = "Tokens through this device's layers per second (prompt and generated)";
    const tpsUnit = el("span", "unit", "tok/s");
    const busy = el("span", "device-busy");
    rate.append(tps, tpsUnit, busy);
    const chart = el("canvas", "spark");
    chart.dataset.peak = "0";
    chart.dataset.points = "0";
    const dl = el("dl", "facts");
    const f = {
      layers: fact(dl, "Layers"), cpu: fact(dl, "CPU"), threads: fact(dl, "Threads"),
      memory: fact(dl, "Memory"), battery: fact(dl, "Power"), thermal: fact(dl, "Thermal"),
    };
    f.layers.dataset.field = "layers";
    f.memory.dataset.field = "memory";
    const memMeter = el("div", "meter meter-small");
    const memUsed = el("span", "meter-used");
    memMeter.append(memUsed);
    root.append(head, sub, rate, chart, dl, memMeter);
    return Object.assign({root, swatch, title, health, role, host, tps, busy, chart, memUsed}, f);
  }

  function renderDevices(state, now) {
    const devices = Array.isArray(state.devices) ? state.devices : [];
    const box = $("devices");
    const seen = new Set();
    const nLayers = num(state.model && state.model.layers);
    devices.forEach((d, i) => {
      const name = String(d.name);
      seen.add(name);
      let c = cards.get(name);
      if (!c) {
        c = makeCard(name);
        cards.set(name, c);
      }
      if (box.children[i] !== c.root) box.insertBefore(c.root, box.children[i] || null);
      const colour = colourOf(name);
      c.root.style.setProperty("--device-colour", colour);
      const up = d.up !== false;
      c.root.dataset.up = String(up);
      setText(c.health, up ? "up" : "down");
      c.health.dataset.kind = up ? "ok" : "bad";
      const role = d.role && String(d.role) !== name ? String(d.role) : "";
      const lane = hasManyLanes(state) && num(d.lane) >= 0 ? "pipeline " + (num(d.lane) + 1) : "";
      setText(c.role, [role, lane].filter(Boolean).join(" · "));
      c.role.hidden = !role && !lane;
      const host = d.host ? String(d.host) : "";
      setText(c.host, host && host !== name ? host : "");
      c.host.hidden = !(host && host !== name);
      const first = num(d.layers && d.layers.first), last = num(d.layers && d.layers.last);
      c.layers.dataset.first = String(first);
      c.layers.dataset.last = String(last);
      setText(c.layers, fmtLayers(first, last) + (nLayers ? " (" + (last - first) + " of " + nLayers + ")" : ""));
      setText(c.cpu, d.cpu ? String(d.cpu) : "–");
      setText(c.threads, d.threads ? String(d.threads) : "–");
      const used = num(d.memory_bytes), total = num(d.total_memory_bytes);
      setText(c.memory, fmtBytes(used) + (total ? " of " + fmtBytes(total) : ""));
      c.memUsed.style.width = (total > 0 ? Math.min(100, (100 * used) / total) : 0) + "%";
      let power = "mains";
      if (typeof d.battery === "number") {
        power = "battery " + Math.round(d.battery * 100) + " %" + (d.charging ? " · charging" : "");
      } else if (d.charging) {
        power = "charging";
      }
      setText(c.battery, power);
      c.battery.dataset.kind = typeof d.battery === "number" && d.battery < 0.2 && !d.charging ? "bad" : "";
      setText(c.thermal, d.throttled ? "throttled" : "normal");
      c.thermal.dataset.kind = d.throttled ? "bad" : "";
      const tps = num(d.tokens_per_second);
      c.tps.dataset.value = String(tps);
      setText(c.tps, fmtRate(tps));
      setText(c.busy, "busy " + fmtPercent(num(d.busy_ratio)) + " %");
      let hist;
      if (Array.isArray(d.history)) {
        hist = d.history;
      } else {
        hist = clientHistory.get(name) || [];
        hist.push([now, tps]);
        while (hist.length && hist[0][0] < now - HISTORY_SECONDS) hist.shift();
        clientHistory.set(name, hist);
      }
      drawSpark(c.chart, hist, colour, now);
    });
    for (const [name, c] of cards) {
      if (!seen.has(name)) {
        c.root.remove();
        cards.delete(name);
        clientHistory.delete(name);
      }
    }
    const up = devices.filter((d) => d.up !== false).length;
    setText($("device-count"), devices.length ? up + " of " + devices.length + " up" : "");
  }

  function hasManyLanes(state) {
    const p = state.placement && state.placement.pipelines;
    return Array.isArray(p) && p.length > 1;
  }

  // ---- the layer picture ---------------------------------------------------------------------
  function pipelinesOf(state) {
    const p = state.placement && Array.isArray(state.placement.pipelines) ? state.placement.pipelines : [];
    if (p.length) return p;
    // No placement: one row per lane from the devices themselves.
    const lanes = new Map();
    for (const d of state.devices || []) {
      const lane = num(d.lane);
      if (lane < 0) continue;  // a spare runs no layers
      if (!lanes.has(lane)) lanes.set(lane, {lane, stages: []});
      lanes.get(lane).stages.push({device: d.name, first_layer: num(d.layers && d.layers.first),
        last_layer: num(d.layers && d.layers.last)});
    }
    return [...lanes.values()];
  }

  let layerKey = "";
  function renderLayers(state) {
    const map = $("layer-map");
    const n = num(state.model && state.model.layers);
    const pipes = pipelinesOf(state);
    const key = JSON.stringify([n, pipes.map((p) => [p.lane, p.stages])]);
    const placement = state.placement || {};
    const notes = [];
    if (placement.objective) notes.push("objective: " + placement.objective);
    if (typeof placement.predicted_latency_ms === "number") notes.push(placement.predicted_latency_ms.toFixed(2) + " ms/token predicted");
    setText($("placement-note"), notes.join(" · "));
    // Predicted speeds change, the picture rarely: rebuild only when the split changes.
    pipes.forEach((p, i) => {
      const row = map.children[i];
      if (row && key === layerKey) {
        const pred = row.querySelector(".pipeline-pred");
        setText(pred, predText(p));
      }
    });
    if (key === layerKey) return;
    layerKey = key;
    map.textContent = "";
    if (!n) {
      map.append(el("p", "empty", "No model loaded yet."));
      return;
    }
    pipes.forEach((p, i) => {
      const row = el("div", "pipeline");
      row.dataset.lane = String(num(p.lane, i));
      const head = el("div", "pipeline-head");
      head.append(el("span", "pipeline-name", "Pipeline " + (num(p.lane, i) + 1)),
        el("span", "pipeline-pred", predText(p)));
      const bar = el("div", "layer-bar");
      bar.dataset.layers = String(n);
      bar.style.gridTemplateColumns = "repeat(" + n + ", minmax(0, 1fr))";
      // The cells behind: one per layer, so gaps in the placement show.
      for (let l = 0; l < n; l++) {
        const cell = el("span", "layer-cell");
        cell.style.gridColumn = String(l + 1);
        bar.append(cell);
      }
      for (const s of p.stages || []) {
        const first = Math.max(0, num(s.first_layer)), last = Math.min(n, num(s.last_layer));
        if (!(last > first)) continue;
        const name = String(s.device);
        const seg = el("div", "segment");
        seg.dataset.device = name;
        seg.dataset.first = String(first);
        seg.dataset.last = String(last);
        seg.style.gridColumn = first + 1 + " / " + (last + 1);
        seg.style.setProperty("--device-colour", colourOf(name));
        seg.title = name + ": layers " + fmtLayers(first, last) + " (" + (last - first) + ")";
        seg.append(el("span", "segment-name", name), el("span", "segment-range", "L" + fmtLayers(first, last)));
        bar.append(seg);
      }
      const axis = el("div", "layer-axis");
      const step = n <= 16 ? 1 : n <= 40 ? 4 : 8;
      for (let l = 0; l <= n; l += step) {
        const t = el("span", "tick", l);
        t.style.left = (100 * l) / n + "%";
        axis.append(t);
      }
      if (n % step) {
        const t = el("span", "tick", n);
        t.style.left = "100%";
        axis.append(t);
      }
      row.append(head, bar, axis);
      map.append(row);
    });
  }
  function predText(p) {
    return typeof p.predicted_tokens_per_second === "number"
      ? "≈ " + fmtRate(p.predicted_tokens_per_second) + " tok/s predicted" : "";
  }

  // ---- figures, events -----------------------------------------------------------------------
  function renderFigures(state, now) {
    const m = state.model || {};
    setText($("model-name"), m.id || "—");
    const meta = [];
    if (m.architecture) meta.push(m.architecture);
    if (m.layers) meta.push(m.layers + " layers");
    if (m.dim) meta.push("dim " + m.dim);
    if (m.vocabulary) meta.push(fmtInt(m.vocabulary) + " tokens");
    if (m.context) meta.push("context " + fmtInt(m.context));
    setText($("model-meta"), meta.join(" · "));
    const rt = state.runtime || {};
    setText($("footer-backend"), rt.description ? "backend: " + rt.description : "");
    const tp = state.throughput || {};
    const overall = num(tp.generated_tokens_per_second);
    $("tps-overall").dataset.value = String(overall);
    setText($("tps-overall"), fmtRate(overall));
    setText($("tps-prompt"), fmtRate(num(tp.prompt_tokens_per_second)));
    const hist = Array.isArray(tp.history) ? tp.history : [];
    drawSpark($("tps-chart"), hist, "#38bdf8", now);
    setText($("tps-peak"), fmtRate(num(Number($("tps-chart").dataset.peak))));
    setText($("running"), fmtInt(num(rt.running_sequences)));
    setText($("max-seqs"), rt.max_sequences ? fmtInt(rt.max_sequences) : "–");
    setText($("queue"), fmtInt(num(rt.queue_depth)));
    const total = num(rt.kv_blocks_total), used = num(rt.kv_blocks_used), cached = num(rt.kv_blocks_cached);
    setText($("kv-percent"), total ? fmtPercent(used / total) : "0");
    $("kv-meter").querySelector(".meter-used").style.width = (total ? (100 * used) / total : 0) + "%";
    $("kv-meter").querySelector(".meter-cached").style.width = (total ? (100 * Math.min(cached, total - used)) / total : 0) + "%";
    setText($("kv-text"), total ? fmtInt(used) + " used + " + fmtInt(cached) + " cached of " + fmtInt(total) +
      " blocks (" + num(rt.kv_block_tokens, 16) + " tokens each)" : "–");
    setText($("prefix-hit"), fmtPercent(num(rt.prefix_cache_hit_ratio)));
    setText($("kv-cached"), fmtInt(cached));
    setText($("requests-done"), fmtInt(num(rt.requests_done)));
    setText($("tokens-generated"), fmtInt(num(rt.tokens_generated)));
  }

  let eventsKey = "";
  function renderEvents(state) {
    const events = Array.isArray(state.events) ? state.events : [];
    const key = events.length + ":" + (events.length ? events[events.length - 1].time + events[0].time : "");
    if (key === eventsKey) return;
    eventsKey = key;
    const list = $("events");
    list.textContent = "";
    if (!events.length) list.append(el("li", "empty", "Nothing yet."));
    for (const e of events.slice().reverse()) {
      const li = el("li", "event");
      const kind = String(e.kind || "info");
      li.dataset.kind = kind;
      li.append(el("time", "event-time", fmtClock(num(e.time))), el("span", "event-kind", kind),
        el("span", "event-message", e.message || ""));
      list.append(li);
    }
  }

  // ---- polling -------------------------------------------------------------------------------
  let bootTime = null;  // the first event's time identifies one server run
  function render(state) {
    const now = num(state.time, Date.now() / 1000);
    const first = state.events && state.events.length ? state.events[0].time : null;
    if (bootTime !== null && first !== null && first !== bootTime) {
      clientHistory.clear();  // the server restarted: its figures start over
      layerKey = "";
    }
    if (first !== null) bootTime = first;
    renderFigures(state, now);
    renderLayers(state);
    renderDevices(state, now);
    renderEvents(state);
  }

  async function poll() {
    const started = Date.now();
    try {
      const r = await apiFetch("/v1/pool/state", {signal: AbortSignal.timeout(5000)});
      if (r.status === 401) {
        setConn("auth");
      } else if (!r.ok) {
        let message = "";
        try { const j = await r.json(); if (j.error && j.error.message) message = String(j.error.message); } catch (e) { /* not JSON */ }
        if (r.status === 503) setConn(/shutting down/.test(message) ? "shutting_down" : "loading");
        else setConn("error", "HTTP " + r.status + (message ? " " + message : ""));
      } else {
        const state = await r.json();
        lastOkAt = Date.now();
        render(state);
        setConn(state.status === "ok" || state.status === "loading" || state.status === "shutting_down"
          ? state.status : "error", state.status);
      }
    } catch (e) {
      setConn("down");
    }
    window.setTimeout(poll, Math.max(100, POLL_MS - (Date.now() - started)));
  }

  // ---- chat ----------------------------------------------------------------------------------
  // Server-sent events: feeds text, calls onData with each event's data (lines joined by \n).
  function sseReader(onData) {
    let buf = "";
    let data = [];
    function line(l) {
      if (l === "") {
        if (data.length) onData(data.join("\n"));
        data = [];
        return;
      }
      if (l[0] === ":") return;  // a comment (keep-alive)
      const colon = l.indexOf(":");
      const field = colon < 0 ? l : l.slice(0, colon);
      let value = colon < 0 ? "" : l.slice(colon + 1);
      if (value[0] === " ") value = value.slice(1);
      if (field === "data") data.push(value);
    }
    return {
      push(text) {
        buf += text;
        for (;;) {
          const cr = buf.indexOf("\r"), lf = buf.indexOf("\n");
          const i = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
          if (i < 0) return;
          if (buf[i] === "\r" && i === buf.length - 1) return;  // maybe \r\n split across reads
          const len = buf[i] === "\r" && buf[i + 1] === "\n" ? 2 : 1;
          const l = buf.slice(0, i);
          buf = buf.slice(i + len);
          line(l);
        }
      },
      end() {
        if (buf) line(buf);
        buf = "";
        line("");
      },
    };
  }

  const conversation = [];  // {role, content} sent with each request
  let controller = null;

  function scrollLog(force) {
    const log = $("chat-log");
    if (force || log.scrollHeight - log.scrollTop - log.clientHeight < 80) log.scrollTop = log.scrollHeight;
  }

  function addUserMessage(text) {
    $("chat-empty").hidden = true;
    const m = el("div", "msg msg-user");
    m.dataset.role = "user";
    m.append(el("div", "msg-content", text));
    $("chat-log").append(m);
    scrollLog(true);
    return m;
  }

  function addAssistantMessage() {
    const m = el("div", "msg msg-assistant");
    m.dataset.role = "assistant";
    m.dataset.state = "streaming";
    const reasoning = el("details", "msg-reasoning");
    reasoning.open = true;
    reasoning.hidden = true;
    reasoning.append(el("summary", null, "Thinking"));
    const reasoningText = el("div", "reasoning-text");
    reasoning.append(reasoningText);
    const content = el("div", "msg-content");
    const meta = el("div", "msg-meta", "waiting for the first token…");
    m.append(reasoning, content, meta);
    $("chat-log").append(m);
    scrollLog(true);
    return {root: m, reasoning, reasoningText, content, meta, text: "", reasoningAll: ""};
  }

  function setStreaming(on) {
    $("chat-send").disabled = on;
    $("chat-stop").disabled = !on;
    $("chat-input").readOnly = on;
  }

  function readNumber(id, lo, hi, fallback) {
    const v = Number($(id).value);
    if (!Number.isFinite(v) || $(id).value === "") return fallback;
    return Math.min(hi, Math.max(lo, v));
  }

  async function errorText(r) {
    let msg = "HTTP " + r.status;
    try {
      const j = await r.json();
      if (j && j.error && j.error.message) msg += ": " + j.error.message;
    } catch (e) { /* not JSON */ }
    const retry = r.headers.get("Retry-After");
    if (retry) msg += " (retry after " + retry + " s)";
    return msg;
  }

  async function sendChat(text) {
    const temperature = readNumber("chat-temperature", 0, 2, 0);
    const maxTokens = Math.round(readNumber("chat-max-tokens", 1, 1 << 20, 128));
    conversation.push({role: "user", content: text});
    addUserMessage(text);
    const view = addAssistantMessage();
    const body = {
      messages: conversation.slice(),
      stream: true,
      stream_options: {include_usage: true},
      temperature,
      max_tokens: maxTokens,
    };
    controller = new AbortController();
    setStreaming(true);
    const t0 = performance.now();
    let firstAt = 0, chunks = 0, usage = null, finish = "", failure = "";
    try {
      const r = await apiFetch("/v1/chat/completions", {
        method: "POST",
        headers: {"Content-Type": "application/json", "Accept": "text/event-stream"},
        body: JSON.stringify(body),
        signal: controller.signal,
      });
      if (!r.ok) {
        failure = await errorText(r);
      } else {
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let done = false;
        // Text is shown once per frame, not once per token: a fast stream must not keep the page
        // busy with layout (Stop has to stay clickable).
        let pendingContent = "", pendingReasoning = "", frame = 0;
        const flush = () => {
          frame = 0;
          if (pendingReasoning) {
            view.reasoning.hidden = false;
            view.reasoningText.append(document.createTextNode(pendingReasoning));
            pendingReasoning = "";
          }
          if (pendingContent) {
            view.content.append(document.createTextNode(pendingContent));
            pendingContent = "";
          }
          setText(view.meta, chunks + " tokens · " + ((performance.now() - t0) / 1000).toFixed(1) + " s");
          scrollLog(false);
        };
        const sse = sseReader((data) => {
          if (data === "[DONE]") { done = true; return; }
          let j;
          try { j = JSON.parse(data); } catch (e) { failure = "the server sent an event that is not JSON"; return; }
          if (j.error) { failure = j.error.message || "the server reported an error"; return; }
          if (j.usage) usage = j.usage;
          for (const c of j.choices || []) {
            if (c.index !== 0 && c.index !== undefined) continue;
            const d = c.delta || {};
            if (typeof d.reasoning_content === "string" && d.reasoning_content) {
              pendingReasoning += d.reasoning_content;
              view.reasoningAll += d.reasoning_content;
            }
            if (typeof d.content === "string" && d.content) {
              pendingContent += d.content;
              view.text += d.content;
            }
            if ((d.content || d.reasoning_content) && !firstAt) firstAt = performance.now();
            if (d.content || d.reasoning_content) chunks++;
            if (c.finish_reason) finish = c.finish_reason;
          }
          if (!frame) frame = window.requestAnimationFrame(flush);
        });
        try {
          let slice = performance.now();
          for (;;) {
            const {value, done: eof} = await reader.read();
            if (eof) break;
            sse.push(decoder.decode(value, {stream: true}));
            // Reads of buffered data resolve at once: let clicks and frames in now and then.
            if (performance.now() - slice > 30) {
              await new Promise((resolve) => window.setTimeout(resolve, 0));
              slice = performance.now();
            }
          }
          sse.push(decoder.decode());
          sse.end();
        } finally {
          if (frame) window.cancelAnimationFrame(frame);
          flush();
        }
        if (!done && !failure) failure = "the stream ended before [DONE]";
      }
    } catch (e) {
      if (e && e.name === "AbortError") {
        view.root.dataset.state = "stopped";
      } else {
        failure = "cannot reach the server (" + (e && e.message ? e.message : e) + ")";
      }
    }
    controller = null;
    setStreaming(false);
    const secs = (performance.now() - t0) / 1000;
    const n = usage ? num(usage.completion_tokens) : chunks;
    const parts = [];
    if (view.root.dataset.state === "stopped") parts.push("stopped");
    parts.push(n + " tokens");
    if (firstAt) {
      parts.push("first token " + Math.round(firstAt - t0) + " ms");
      const genSecs = (performance.now() - firstAt) / 1000;
      if (n > 1 && genSecs > 0) parts.push(fmtRate((n - 1) / genSecs) + " tok/s");
    }
    parts.push(secs.toFixed(2) + " s");
    if (finish) parts.push("finish: " + finish);
    if (failure) {
      view.root.dataset.state = "error";
      view.meta.dataset.kind = "bad";
      setText(view.meta, failure);
      if (!view.text) conversation.pop();  // nothing came back: the turn is not kept
      else conversation.push({role: "assistant", content: view.text});
    } else {
      if (view.root.dataset.state !== "stopped") view.root.dataset.state = "done";
      setText(view.meta, parts.join(" · "));
      conversation.push({role: "assistant", content: view.text});
    }
    if (!view.text && !view.reasoningAll && !failure) view.content.append(el("span", "muted", "(empty reply)"));
    scrollLog(false);
  }

  function setupChat() {
    const form = $("chat-form");
    const input = $("chat-input");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (controller) return;
      const text = input.value;
      if (!text.trim()) return;
      input.value = "";
      sendChat(text);
    });
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    $("chat-stop").addEventListener("click", () => { if (controller) controller.abort(); });
    $("chat-clear").addEventListener("click", () => {
      if (controller) controller.abort();
      conversation.length = 0;
      for (const m of [...$("chat-log").querySelectorAll(".msg")]) m.remove();
      $("chat-empty").hidden = false;
      input.focus();
    });
  }

  function start() {
    $("key-button").addEventListener("click", () => {
      if (askForKey("Enter the API key for this suanli server:")) poll.now();
    });
    setupChat();
    poll();
  }
  // Poll again at once (after a new key), without a second loop.
  poll.now = () => {
    askedForKey = true;
    apiFetch("/v1/pool/state", {signal: AbortSignal.timeout(5000)}).then(async (r) => {
      if (r.ok) { const s = await r.json(); lastOkAt = Date.now(); render(s); setConn(s.status); }
      else if (r.status === 401) setConn("auth");
    }).catch(() => setConn("down"));
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
