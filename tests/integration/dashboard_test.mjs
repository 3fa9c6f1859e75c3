// Browser half of dashboard_test.sh: drives the dashboard in headless Chromium with
// playwright-core and checks what it shows against the API. Prints "ok - ..." / "FAIL - ..."
// lines; exits 1 when anything failed. Environment (set by dashboard_test.sh): SUANLI_URL,
// SUANLI_KEY, SUANLI_HOSTILE (the first worker's host name, markup), SUANLI_RESTART (script:
// stop|start the server), SUANLI_OUT (screenshot directory), SUANLI_CHROMIUM, NODE_PATH.
import {createRequire} from "node:module";
import {execFileSync} from "node:child_process";
import {mkdtempSync, rmSync} from "node:fs";
import {tmpdir} from "node:os";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH, "/"));
const {chromium} = require("playwright-core");

const URL = process.env.SUANLI_URL;
const KEY = process.env.SUANLI_KEY;
const HOSTILE = process.env.SUANLI_HOSTILE;
const OUT = process.env.SUANLI_OUT;
let failures = 0;
const ok = (m) => console.log("ok - " + m);
const bad = (m) => { console.log("FAIL - " + m); failures++; };
const check = (cond, m, detail) => (cond ? ok(m) : bad(m + (detail ? ": " + detail : "")));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const show = (s) => JSON.stringify(s);

async function api(p, body) {
  const r = await fetch(URL + p, {
    method: body ? "POST" : "GET",
    headers: {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30000),
  });
  if (!r.ok) throw new Error(p + ": HTTP " + r.status + " " + (await r.text()));
  return r.json();
}
// Polls fn until it returns a truthy value; null after `ms`.
async function until(fn, ms, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { /* not yet */ }
    if (Date.now() > end) return null;
    await sleep(every);
  }
}

const userData = mkdtempSync(path.join(tmpdir(), "suanli-chromium-"));
const context = await chromium.launchPersistentContext(userData, {
  executablePath: process.env.SUANLI_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: {width: 1440, height: 1000},
  timeout: 30000,
});
const hardStop = setTimeout(() => { bad("the browser test ran past 160 s"); process.exit(1); }, 160000);

try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(10000);
  // What the page must not do: throw, log errors other than failed loads, break its CSP.
  const pageErrors = [], consoleErrors = [], cspViolations = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => {
    const t = m.text();
    if (/Content Security Policy/i.test(t)) cspViolations.push(t);
    else if (m.type() === "error" && !/^Failed to load resource/.test(t)) consoleErrors.push(t);
  });
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
  });
  // Dialogs: the first is answered with a wrong key, later ones with the right key.
  const dialogs = [];
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.accept(dialogs.length === 1 ? "wrong-" + KEY : KEY);
  });

  // ---- API key -----------------------------------------------------------------------------
  const resp = await page.goto(URL + "/", {waitUntil: "load"});
  check(resp && resp.status() === 200, "GET / answers 200");
  const csp = resp ? resp.headers()["content-security-policy"] || "" : "";
  check(/default-src 'self'/.test(csp), "dashboard served with a Content-Security-Policy", csp);
  await page.waitForSelector("body[data-conn=auth]", {timeout: 10000}).catch(() => {});
  check(dialogs.length === 1 && /API key/.test(dialogs[0]), "a 401 asks for the API key once", show(dialogs));
  check(await page.isVisible("#key-button"), "a rejected key leaves an 'Enter API key' button");
  check(/rejected/.test(await page.textContent("#banner")), "the banner says the key was rejected",
    await page.textContent("#banner"));
  await sleep(2500);
  check(dialogs.length === 1, "no second automatic prompt", show(dialogs));
  await page.click("#key-button");
  const live = await page.waitForSelector("body[data-conn=ok]", {timeout: 10000}).catch(() => null);
  check(live && dialogs.length === 2, "the button asks again and the right key connects",
    "dialogs " + dialogs.length + ", state " + (await page.getAttribute("body", "data-conn")));
  check(await page.evaluate(() => localStorage.getItem("suanli-api-key")) === KEY, "the key is kept in localStorage");
  check(await page.isHidden("#key-button"), "the key button goes away");

  // ---- devices and layers against /v1/pool/state -------------------------------------------
  const state = await api("/v1/pool/state");
  const nLayers = state.model.layers;
  await page.waitForFunction((n) => document.querySelectorAll("#devices article[data-device]").length === n,
    state.devices.length, {timeout: 5000}).catch(() => {});
  const shown = await page.$$eval("#devices article[data-device]", (cards) => cards.map((c) => ({
    name: c.dataset.device,
    title: c.querySelector(".device-name").textContent,
    first: Number(c.querySelector("[data-field=layers]").dataset.first),
    last: Number(c.querySelector("[data-field=layers]").dataset.last),
    layersText: c.querySelector("[data-field=layers]").textContent,
    host: c.querySelector(".device-host").textContent,
    up: c.dataset.up,
    text: c.textContent,
  })));
  const want = state.devices.map((d) => ({name: d.name, first: d.layers.first, last: d.layers.last}));
  check(show(shown.map((d) => ({name: d.name, first: d.first, last: d.last}))) === show(want),
    "device cards match /v1/pool/state (names, layer ranges): " + show(want), show(shown));
  check(shown.every((d) => d.title === d.name && d.up === "true"), "each card shows its name and 'up'");
  for (const d of state.devices) {
    const card = shown.find((c) => c.name === d.name);
    if (!card) continue;
    const g = d.total_memory_bytes / 2 ** 30;
    const gib = g < 10 ? g.toFixed(1) : String(Math.round(g));
    check(card.text.includes(d.cpu) && card.text.includes("of " + gib + " GiB") && /mains|battery/.test(card.text) &&
      /normal|throttled/.test(card.text), "card " + d.name + " shows CPU, memory, power, thermal", card.text);
    const range = d.layers.last - d.layers.first === 1 ? String(d.layers.first) : d.layers.first + "–" + (d.layers.last - 1);
    check(card.layersText.startsWith(range), "card " + d.name + " reads layers " + range, card.layersText);
  }
  const hostileCard = shown.find((c) => state.devices.find((d) => d.name === c.name && d.host === HOSTILE));
  check(hostileCard && hostileCard.host === HOSTILE, "a host name with markup is shown as text", hostileCard && hostileCard.host);
  const injected = await page.evaluate(() => ({pwned: window.__pwned, imgs: document.querySelectorAll("#devices img, #devices b").length}));
  check(injected.pwned === undefined && injected.imgs === 0, "and is not parsed as HTML", show(injected));

  for (const p of state.placement.pipelines) {
    const segs = await page.$$eval(`.pipeline[data-lane="${p.lane}"] .segment`, (ss) => ss.map((s) => {
      const r = s.getBoundingClientRect();
      const bar = s.parentElement.getBoundingClientRect();
      return {device: s.dataset.device, first: Number(s.dataset.first), last: Number(s.dataset.last),
        x: r.left - bar.left, w: r.width, barW: bar.width, text: s.textContent};
    }));
    segs.sort((a, b) => a.first - b.first);
    let next = 0, tiled = segs.length > 0;
    for (const s of segs) {
      if (s.first !== next || s.last <= s.first) tiled = false;
      next = s.last;
    }
    tiled = tiled && next === nLayers;
    check(tiled, `pipeline ${p.lane}: the layer bar covers layers 0..${nLayers} exactly once`, show(segs));
    const stages = p.stages.map((s) => [s.device, s.first_layer, s.last_layer]);
    check(show(segs.map((s) => [s.device, s.first, s.last])) === show(stages),
      `pipeline ${p.lane}: segments are the placement's stages`, show(segs));
    const drawn = segs.every((s) => Math.abs(s.w - (s.barW * (s.last - s.first)) / nLayers) < 4 &&
      Math.abs(s.x - (s.barW * s.first) / nLayers) < 4);
    check(drawn, `pipeline ${p.lane}: segment widths are proportional to their layer counts`, show(segs));
    check(segs.every((s) => s.text.includes(s.device)), `pipeline ${p.lane}: segments are labelled with their device`);
  }

  // ---- chat: the streamed reply equals the API's greedy reply ------------------------------
  const doneBefore = state.runtime.requests_done;
  check(await page.inputValue("#chat-temperature") === "0", "temperature defaults to 0");
  const maxTokens = 40;
  await page.fill("#chat-max-tokens", String(maxTokens));
  async function chatTurn(text) {
    const n = await page.$$eval(".msg-assistant", (m) => m.length);
    await page.fill("#chat-input", text);
    await page.press("#chat-input", "Enter");
    await page.waitForFunction((k) => {
      const m = document.querySelectorAll(".msg-assistant");
      return m.length > k && m[m.length - 1].dataset.state !== "streaming";
    }, n, {timeout: 30000});
    return page.$eval(".msg-assistant:last-of-type", (m) => ({
      state: m.dataset.state, content: m.querySelector(".msg-content").textContent,
      reasoning: m.querySelector(".reasoning-text").textContent, meta: m.querySelector(".msg-meta").textContent,
    }));
  }
  const q1 = "Hello! Which devices run you?";
  const r1 = await chatTurn(q1);
  const g1 = await api("/v1/chat/completions", {messages: [{role: "user", content: q1}], temperature: 0, max_tokens: maxTokens});
  const want1 = g1.choices[0].message.content;
  check(r1.state === "done", "the chat reply streams to the end", show(r1));
  check(want1.length > 0 && r1.content === want1, "streamed reply equals the API's greedy reply (" +
    g1.usage.completion_tokens + " tokens)", "page " + show(r1.content) + " vs API " + show(want1));
  check(new RegExp("\\b" + g1.usage.completion_tokens + " tokens").test(r1.meta), "the reply shows its token count", r1.meta);
  const q2 = "Tell me more.";
  const r2 = await chatTurn(q2);
  const g2 = await api("/v1/chat/completions", {messages: [{role: "user", content: q1},
    {role: "assistant", content: want1}, {role: "user", content: q2}], temperature: 0, max_tokens: maxTokens});
  check(r2.state === "done" && r2.content === g2.choices[0].message.content,
    "second turn (the conversation so far) equals the API's greedy reply",
    "page " + show(r2.content) + " vs API " + show(g2.choices[0].message.content));

  // ---- tokens/s after the requests ---------------------------------------------------------
  const rates = await until(() => page.evaluate((want) => {
    const peak = (c) => Number(c.dataset.peak);
    const overall = peak(document.getElementById("tps-chart"));
    const devices = [...document.querySelectorAll("#devices article[data-device] canvas")].map(peak);
    const done = Number(document.getElementById("requests-done").textContent.replace(/,/g, ""));
    // The page polls the state: wait until it has seen all 4 requests, not just the first tokens.
    return overall > 0 && devices.length && devices.every((p) => p > 0) && done >= want ?
      {overall, devices, done} : null;
  }, doneBefore + 4), 8000);
  check(rates, "tokens/s went up after the requests (overall, every device) and all 4 were counted", show(rates));
  if (rates) check(rates.done >= doneBefore + 4, "requests served counted (" + rates.done + ")", doneBefore + " before");
  const shotPath = path.join(OUT, "dashboard.png");
  await page.screenshot({path: shotPath, fullPage: true});
  ok("screenshot: " + shotPath);

  // ---- Stop ends the request on the server -------------------------------------------------
  await page.click("#chat-clear");
  await page.fill("#chat-max-tokens", "1900");
  // The random model may draw its end token early: this one request ignores it, so the reply is
  // long enough (1900 tokens) to be stopped in the middle.
  let stopBody = null;
  await page.route("**/v1/chat/completions", (route) => {
    stopBody = JSON.parse(route.request().postData());
    route.continue({postData: JSON.stringify(Object.assign({}, stopBody, {ignore_eos: true}))});
  });
  await page.fill("#chat-input", "Write a long story.");
  await page.click("#chat-send");
  const streaming = await page.waitForFunction(() => {
    const m = document.querySelector(".msg-assistant:last-of-type");
    return m && m.dataset.state === "streaming" && m.querySelector(".msg-content").textContent.length > 0;
  }, null, {timeout: 10000, polling: 20}).catch(() => null);
  check(streaming && (await page.isEnabled("#chat-stop")) && (await page.isDisabled("#chat-send")),
    "while streaming: Stop enabled, Send disabled, text arriving");
  await page.unroute("**/v1/chat/completions");
  check(stopBody && stopBody.stream === true && stopBody.temperature === 0 && stopBody.max_tokens === 1900 &&
    stopBody.messages.length === 1, "the page sends stream, temperature and max_tokens", show(stopBody));
  await page.click("#chat-stop", {timeout: 3000}).catch(async (e) => {
    bad("cannot click Stop: " + await page.$eval(".msg-assistant:last-of-type", (m) => m.dataset.state + ": " +
      m.querySelector(".msg-meta").textContent) + " " + String(e.message).split("\n").slice(0, 6).join(" | "));
  });
  const stopped = await page.waitForSelector(".msg-assistant:last-of-type[data-state=stopped]", {timeout: 3000}).catch(() => null);
  check(stopped, "Stop aborts the stream (reply marked stopped)",
    await page.$eval(".msg-assistant:last-of-type", (m) => m.dataset.state + " " + m.querySelector(".msg-meta").textContent));
  const idle = await until(async () => (await api("/v1/pool/state")).runtime.running_sequences === 0, 5000, 200);
  check(idle, "after Stop the server runs no sequence within 5 s");
  check(await page.isEnabled("#chat-send") && await page.isDisabled("#chat-stop"), "Send is back, Stop disabled");

  // ---- reasoning and errors, from scripted responses ---------------------------------------
  const sse = (o) => "data: " + JSON.stringify(o) + "\n\n";
  const chunk = (delta, finish = null) => ({id: "x", object: "chat.completion.chunk", created: 0, model: "m",
    choices: [{index: 0, delta, logprobs: null, finish_reason: finish}]});
  await page.route("**/v1/chat/completions", (route) => route.fulfill({
    status: 200, headers: {"Content-Type": "text/event-stream"},
    body: sse(chunk({role: "assistant", content: ""})) + ": keep-alive\r\n\r\n" +
      sse(chunk({reasoning_content: "Let me <think> "})).replace(/\n\n$/, "\r\n\r\n") +
      sse(chunk({reasoning_content: "about it."})) + sse(chunk({content: "<b>Hello</b>"})) +
      sse(chunk({content: " there."})) + sse(chunk({}, "stop")) + "data: [DONE]\n\n",
  }));
  const r3 = await chatTurn("Think first.");
  check(r3.state === "done" && r3.reasoning === "Let me <think> about it." && r3.content === "<b>Hello</b> there.",
    "reasoning_content and content are shown apart, as text", show(r3));
  check(await page.isVisible(".msg-assistant:last-of-type .msg-reasoning"), "the reasoning block is visible");
  await page.unroute("**/v1/chat/completions");
  await page.route("**/v1/chat/completions", (route) => route.fulfill({
    status: 429, headers: {"Content-Type": "application/json", "Retry-After": "1"},
    body: JSON.stringify({error: {message: "the queue is full", type: "rate_limit_error", param: null, code: "rate_limit_exceeded"}}),
  }));
  const r4 = await chatTurn("Are you busy?");
  check(r4.state === "error" && /429/.test(r4.meta) && /queue is full/.test(r4.meta) && /retry after 1/.test(r4.meta),
    "a 429 is shown with its message and Retry-After", show(r4));
  await page.unroute("**/v1/chat/completions");

  // ---- the server goes away and comes back ---------------------------------------------------
  execFileSync(process.env.SUANLI_RESTART, ["stop"], {timeout: 15000});
  const down = await page.waitForSelector("body[data-conn=down]", {timeout: 8000}).catch(() => null);
  check(down && /Cannot reach the server/.test(await page.textContent("#banner")),
    "server stopped: the page says it is unreachable", await page.textContent("#banner"));
  check(await page.$$eval("#devices article[data-device]", (c) => c.length) === state.devices.length,
    "the last known devices stay on screen");
  await page.screenshot({path: path.join(OUT, "dashboard-unreachable.png")});
  execFileSync(process.env.SUANLI_RESTART, ["start"], {timeout: 15000});
  const back = await page.waitForSelector("body[data-conn=ok]", {timeout: 60000}).catch(() => null);
  check(back && await page.isHidden("#banner"), "server restarted: the page is live again on its own");
  const after = await api("/v1/pool/state");
  const names = await page.$$eval("#devices article[data-device]", (c) => c.map((x) => x.dataset.device));
  check(show(names) === show(after.devices.map((d) => d.name)), "devices after the restart match the new state", show(names));
  check(dialogs.length === 2, "no new key prompt after the restart", show(dialogs));

  // ---- a fresh load uses the stored key; a narrow screen still works -----------------------
  await page.setViewportSize({width: 420, height: 900});
  await page.reload({waitUntil: "load"});
  const again = await page.waitForSelector("body[data-conn=ok]", {timeout: 10000}).catch(() => null);
  check(again && dialogs.length === 2, "reload: the stored key is used without asking");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, "420 px wide: nothing overflows sideways", overflow + " px");
  await page.screenshot({path: path.join(OUT, "dashboard-narrow.png"), fullPage: true});

  const csp2 = await page.evaluate(() => window.__csp);
  check(cspViolations.length === 0 && csp2.length === 0, "no Content-Security-Policy violations", show([cspViolations, csp2]));
  check(pageErrors.length === 0, "no script errors", show(pageErrors));
  check(consoleErrors.length === 0, "no console errors (besides failed loads)", show(consoleErrors));
} catch (e) {
  bad("browser test stopped: " + (e && e.stack ? e.stack.split("\n").slice(0, 3).join(" | ") : e));
} finally {
  clearTimeout(hardStop);
  await context.close().catch(() => {});
  rmSync(userData, {recursive: true, force: true});
}
process.exit(failures ? 1 : 0);
