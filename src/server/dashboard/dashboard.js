// suanli dashboard: reads /v1/pool/state every second and streams chat replies from
// /v1/chat/completions. The API key (when the server needs one) is asked for once and kept in
// this browser's localStorage.
"use strict";
function apiKey() { return localStorage.getItem("suanli-api-key") || ""; }
async function api(path, options = {}) {
  options.headers = Object.assign({"Content-Type": "application/json"}, options.headers || {});
  if (apiKey()) options.headers["Authorization"] = "Bearer " + apiKey();
  let r = await fetch(path, options);
  if (r.status === 401) {
    const k = prompt("This server needs an API key:");
    if (k) { localStorage.setItem("suanli-api-key", k); return api(path, options); }
  }
  return r;
}
async function refresh() {
  try {
    const r = await api("/v1/pool/state");
    const s = await r.json();
    document.getElementById("status").textContent = s.status + " · " + (s.model.id || "");
    const box = document.getElementById("devices");
    box.textContent = "";
    for (const d of s.devices) {
      const div = document.createElement("div");
      div.className = "device";
      div.dataset.name = d.name;
      div.textContent = d.name + " — layers " + d.layers.first + "–" + (d.layers.last - 1) +
        " — " + d.tokens_per_second.toFixed(1) + " tok/s";
      box.appendChild(div);
    }
  } catch (e) { document.getElementById("status").textContent = "unreachable"; }
}
setInterval(refresh, 1000);
refresh();
document.getElementById("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = document.getElementById("chat-input");
  const log = document.getElementById("chat-log");
  const body = {messages: [{role: "user", content: input.value}], stream: true, temperature: 0};
  log.textContent = "";
  const r = await api("/v1/chat/completions", {method: "POST", body: JSON.stringify(body)});
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += dec.decode(value, {stream: true});
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!line.startsWith("data: ")) continue;
      const data = line.slice(6);
      if (data === "[DONE]") continue;
      const j = JSON.parse(data);
      if (j.choices && j.choices[0] && j.choices[0].delta.content) log.textContent += j.choices[0].delta.content;
    }
  }
});
