// JS half of openai_client_test.sh: the official `openai` npm client (v4) against `suanli serve`.
// Prints "ok - ..." / "FAIL - ..." lines; exits 1 when anything failed. Environment:
//   SUANLI_URL        one device, SUANLI_TEST_SCRIPT=1, a tool-capable chat template, API key
//   SUANLI_POOL_URL   (optional) the same model through a 2-worker pool (--act f32), same key
//   SUANLI_SMALL_URL  --parallel 1 --queue 1, no key
//   SUANLI_KEY, NODE_PATH (where node_modules is)
import {createRequire} from "node:module";
import net from "node:net";
import path from "node:path";
import {isDeepStrictEqual} from "node:util";

const require = createRequire(path.join(process.env.NODE_PATH, "/"));
const OpenAI = require("openai");

const URL = process.env.SUANLI_URL;
const POOL_URL = process.env.SUANLI_POOL_URL || "";
const SMALL_URL = process.env.SUANLI_SMALL_URL;
const KEY = process.env.SUANLI_KEY;
let failures = 0;
const ok = (m) => console.log("ok - " + m);
const bad = (m) => { console.log("FAIL - " + m); failures++; };
const check = (cond, m, detail) => (cond ? ok(m) : bad(m + (detail !== undefined ? ": " + detail : "")));
const show = (v) => { const s = JSON.stringify(v); return s && s.length > 400 ? s.slice(0, 400) + "…" : s; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hardStop = setTimeout(() => { bad("the client test ran past 150 s"); process.exit(1); }, 150000);

const client = (baseURL, apiKey = KEY, extra = {}) =>
  new OpenAI(Object.assign({apiKey, baseURL: baseURL + "/v1", maxRetries: 0, timeout: 60000}, extra));
const api = client(URL);

async function state(base, key = KEY) {
  const r = await fetch(base + "/v1/pool/state", {headers: key ? {Authorization: "Bearer " + key} : {},
    signal: AbortSignal.timeout(5000)});
  return r.json();
}
async function until(fn, ms, every = 100) {
  const end = Date.now() + ms;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { /* not yet */ }
    if (Date.now() > end) return null;
    await sleep(every);
  }
}
// Runs fn, expecting it to throw; returns the error (or null).
async function thrown(fn) {
  try { await fn(); } catch (e) { return e; }
  return null;
}
// A stream's chunks, read to the end.
async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}
function chatText(chunks, index = 0) {
  let s = "";
  for (const c of chunks) for (const ch of c.choices) if (ch.index === index && ch.delta.content) s += ch.delta.content;
  return s;
}

const TOOLS = [{type: "function", function: {name: "get_weather", description: "Current weather in a city",
  parameters: {type: "object", properties: {city: {type: "string"}, unit: {type: "string", enum: ["celsius", "fahrenheit"]}},
    required: ["city"]}}}];

async function main() {
  const models = await api.models.list();
  const model = models.data[0] && models.data[0].id;
  check(models.data.length === 1 && typeof model === "string" && model.length > 0, "models.list names the model: " + model);

  // ---- chat and completions, streamed and not (one device, then the pool) ------------------
  const messages = [{role: "system", content: "You are terse."}, {role: "user", content: "Name three colours."}];
  const greedy = {};
  async function chatCases(base, label) {
    const c = client(base);
    const req = {model, messages, temperature: 0, max_tokens: 32};
    const full = await c.chat.completions.create(req);
    const text = full.choices[0].message.content;
    greedy[label] = text;
    check(full.object === "chat.completion" && /^chatcmpl-/.test(full.id) && full.model === model &&
      full.choices.length === 1 && full.choices[0].message.role === "assistant" && text.length > 0,
      label + ": chat reply has the OpenAI shape", show(full));
    const u = full.usage;
    check(u && u.completion_tokens > 0 && u.completion_tokens <= 32 && u.prompt_tokens > 0 &&
      u.total_tokens === u.prompt_tokens + u.completion_tokens, label + ": usage adds up " + show(u));
    check(full.choices[0].finish_reason === (u.completion_tokens === 32 ? "length" : "stop"),
      label + ": finish_reason " + full.choices[0].finish_reason);
    const chunks = await collect(await c.chat.completions.create({...req, stream: true}));
    check(chunks.length > 2 && chunks.every((k) => k.object === "chat.completion.chunk" && k.id === chunks[0].id),
      label + ": stream chunks share one id (" + chunks.length + " chunks)");
    check(chunks[0].choices[0].delta.role === "assistant", label + ": first delta carries the role");
    check(chatText(chunks) === text, label + ": stream deltas concatenate to the greedy reply",
      show(chatText(chunks)) + " vs " + show(text));
    const finishes = chunks.flatMap((k) => k.choices.filter((x) => x.finish_reason).map((x) => x.finish_reason));
    check(finishes.length === 1 && finishes[0] === full.choices[0].finish_reason && chunks[chunks.length - 1].choices[0].finish_reason,
      label + ": one finish_reason, in the last chunk", show(finishes));
    const withUsage = await collect(await c.chat.completions.create({...req, stream: true, stream_options: {include_usage: true}}));
    const last = withUsage[withUsage.length - 1];
    check(last.choices.length === 0 && isDeepStrictEqual([last.usage.prompt_tokens, last.usage.completion_tokens],
      [u.prompt_tokens, u.completion_tokens]) && withUsage.slice(0, -1).every((k) => k.usage === null || k.usage === undefined),
      label + ": include_usage: a last chunk with usage and no choices", show(last));
    check(chatText(withUsage) === text, label + ": include_usage stream has the same text");
    // n: 2 with a seed, streamed and not.
    const nReq = {model, messages, temperature: 0.9, seed: 11, n: 2, max_tokens: 16};
    const two = await c.chat.completions.create(nReq);
    check(two.choices.length === 2 && two.choices.map((x) => x.index).join() === "0,1" &&
      two.choices.every((x) => x.message.content.length > 0), label + ": n=2 gives choices 0 and 1", show(two.choices));
    const twoStream = await collect(await c.chat.completions.create({...nReq, stream: true}));
    check([0, 1].every((i) => chatText(twoStream, i) === two.choices[i].message.content),
      label + ": n=2 streamed: each choice's deltas equal the non-streamed choice",
      show([chatText(twoStream, 0), chatText(twoStream, 1), two.choices.map((x) => x.message.content)]));
  }
  await chatCases(URL, "one device");
  const comp = {model, prompt: "Once upon a time", temperature: 0, max_tokens: 20};
  const cfull = await api.completions.create(comp);
  check(cfull.object === "text_completion" && /^cmpl-/.test(cfull.id) && cfull.choices[0].text.length > 0 &&
    cfull.usage.completion_tokens > 0, "completions: OpenAI shape", show(cfull));
  const cchunks = await collect(await api.completions.create({...comp, stream: true, stream_options: {include_usage: true}}));
  const ctext = cchunks.map((k) => (k.choices[0] ? k.choices[0].text : "")).join("");
  check(ctext === cfull.choices[0].text, "completions streamed: chunks concatenate to the same text", show([ctext, cfull.choices[0].text]));
  const clast = cchunks[cchunks.length - 1];
  check(clast.usage && clast.usage.completion_tokens === cfull.usage.completion_tokens, "completions streamed: usage at the end");

  // ---- stop ---------------------------------------------------------------------------------
  const long = await api.chat.completions.create({model, messages, temperature: 0, max_tokens: 48, logprobs: true});
  const longText = long.choices[0].message.content;
  const toks = long.choices[0].logprobs.content.map((t) => t.token);
  // A stop string from the middle of the reply: a token that is not blank.
  let stop = "";
  for (let i = Math.floor(toks.length / 2); i < toks.length && !stop; i++) if (toks[i].trim().length >= 2) stop = toks[i].trim();
  const expectStop = longText.slice(0, longText.indexOf(stop));
  check(stop && longText.indexOf(stop) > 0, "a stop string from the reply: " + show(stop));
  const stopped = await api.chat.completions.create({model, messages, temperature: 0, max_tokens: 48, stop: [stop, "\u0000never"]});
  check(stopped.choices[0].message.content === expectStop && stopped.choices[0].finish_reason === "stop",
    "stop: the reply ends before the stop string, finish_reason stop",
    show([stopped.choices[0].message.content, expectStop, stopped.choices[0].finish_reason]));
  const stopStream = await collect(await api.chat.completions.create({model, messages, temperature: 0, max_tokens: 48, stop, stream: true}));
  check(chatText(stopStream) === expectStop, "stop streamed: no part of the stop string leaks", show(chatText(stopStream)));

  // ---- logprobs -----------------------------------------------------------------------------
  const lp = await api.chat.completions.create({model, messages, temperature: 0, max_tokens: 24, logprobs: true, top_logprobs: 3});
  const entries = lp.choices[0].logprobs && lp.choices[0].logprobs.content;
  check(Array.isArray(entries) && entries.length === lp.usage.completion_tokens, "logprobs: one entry per token (" +
    (entries && entries.length) + ")");
  const wellFormed = entries && entries.every((e) => typeof e.token === "string" && Number.isFinite(e.logprob) && e.logprob <= 0 &&
    Array.isArray(e.bytes) && e.top_logprobs.length === 3 &&
    e.top_logprobs.every((t, i) => i === 0 || t.logprob <= e.top_logprobs[i - 1].logprob) &&
    e.top_logprobs[0].token === e.token && Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6);
  check(wellFormed, "logprobs: token, logprob <= 0, bytes, 3 sorted top_logprobs led by the greedy token", show(entries && entries[0]));
  const bytes = entries ? Buffer.from(entries.flatMap((e) => e.bytes)).toString("utf8") : "";
  check(bytes === lp.choices[0].message.content, "logprobs: the tokens' bytes spell the reply");
  const lpStream = await collect(await api.chat.completions.create({model, messages, temperature: 0, max_tokens: 24,
    logprobs: true, top_logprobs: 3, stream: true}));
  const streamed = lpStream.flatMap((k) => k.choices.flatMap((c) => (c.logprobs && c.logprobs.content) || []));
  check(isDeepStrictEqual(streamed, entries), "logprobs streamed: the same entries", show(streamed[0]));
  const clp = await api.completions.create({...comp, logprobs: 2});
  const L = clp.choices[0].logprobs;
  check(L && L.tokens.length === clp.usage.completion_tokens && L.token_logprobs.length === L.tokens.length &&
    L.top_logprobs.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 2) &&
    L.text_offset[0] === 0 && L.text_offset.every((o, i) => i === 0 || o === L.text_offset[i - 1] + Buffer.byteLength(L.tokens[i - 1])),
    "completions logprobs: tokens, token_logprobs, top_logprobs (<= 2), text_offset", show(L));

  // ---- seed ---------------------------------------------------------------------------------
  const seeded = (seed) => api.chat.completions.create({model, messages, temperature: 1.0, seed, max_tokens: 24})
    .then((r) => r.choices[0].message.content);
  const [s1, s2, s3] = [await seeded(1234), await seeded(1234), await seeded(1235)];
  check(s1 === s2, "seed: the same seed gives the same sampled reply", show([s1, s2]));
  check(s1 !== s3, "seed: another seed gives another reply", show([s1, s3]));

  // ---- tools, with scripted replies (SUANLI_TEST_SCRIPT) -----------------------------------
  const call = (name, args) => "<tool_call>\n" + JSON.stringify({name, arguments: args}) + "\n</tool_call>";
  const ask = [{role: "user", content: "What is the weather in Paris?"}];
  const args = {city: "Paris", unit: "celsius"};
  const t1 = await api.chat.completions.create({model, messages: ask, tools: TOOLS, suanli_test_script: call("get_weather", args)});
  const m1 = t1.choices[0].message;
  const tc = m1.tool_calls && m1.tool_calls[0];
  check(t1.choices[0].finish_reason === "tool_calls", "tools: finish_reason tool_calls", t1.choices[0].finish_reason);
  check(m1.tool_calls && m1.tool_calls.length === 1 && typeof tc.id === "string" && tc.id.length > 0 && tc.type === "function" &&
    tc.function.name === "get_weather" && typeof tc.function.arguments === "string" &&
    isDeepStrictEqual(JSON.parse(tc.function.arguments), args), "tools: one call with id, type, name and JSON-string arguments", show(m1));
  check(m1.content === null || m1.content.trim() === "", "tools: no content beside the call", show(m1.content));
  const both = await api.chat.completions.create({model, messages: ask, tools: TOOLS,
    suanli_test_script: call("get_weather", {city: "Paris"}) + "\n" + call("get_weather", {city: "Lyon"})});
  const calls2 = both.choices[0].message.tool_calls || [];
  check(calls2.length === 2 && calls2[0].id !== calls2[1].id &&
    calls2.map((x) => JSON.parse(x.function.arguments).city).join() === "Paris,Lyon", "tools: two calls, distinct ids", show(calls2));
  const ts = await collect(await api.chat.completions.create({model, messages: ask, tools: TOOLS, stream: true,
    suanli_test_script: "Checking. " + call("get_weather", args)}));
  const acc = [];
  for (const k of ts) for (const ch of k.choices) for (const d of ch.delta.tool_calls || []) {
    const a = acc[d.index] || (acc[d.index] = {id: "", type: "", name: "", arguments: ""});
    if (d.id) a.id = d.id;
    if (d.type) a.type = d.type;
    if (d.function && d.function.name) a.name += d.function.name;
    if (d.function && d.function.arguments) a.arguments += d.function.arguments;
  }
  check(acc.length === 1 && acc[0].id && acc[0].type === "function" && acc[0].name === "get_weather" &&
    isDeepStrictEqual(JSON.parse(acc[0].arguments), args), "tools streamed: tool_calls deltas assemble into the call", show(acc));
  check(chatText(ts).trim() === "Checking." && ts[ts.length - 1].choices[0].finish_reason === "tool_calls",
    "tools streamed: text before the call is content; finish_reason tool_calls", show([chatText(ts), ts[ts.length - 1].choices]));
  const answer = "It is 21 degrees in Paris.";
  const followUp = [...ask, {role: "assistant", content: null, tool_calls: [tc]},
    {role: "tool", tool_call_id: tc.id, content: JSON.stringify({temperature: 21})}];
  const t2 = await api.chat.completions.create({model, messages: followUp, tools: TOOLS, suanli_test_script: answer});
  check(t2.choices[0].message.content.replace(/^ /, "") === answer && !t2.choices[0].message.tool_calls &&
    t2.choices[0].finish_reason !== "tool_calls", "tools: a role 'tool' message fed back, the reply is content", show(t2.choices[0]));
  const rendered = await (await fetch(URL + "/apply-template", {method: "POST",
    headers: {Authorization: "Bearer " + KEY, "Content-Type": "application/json"},
    body: JSON.stringify({messages: followUp, tools: TOOLS})})).json();
  check(typeof rendered.prompt === "string" && rendered.prompt.includes("<tool_response>") &&
    rendered.prompt.includes('{"temperature":21}'),
    "tools: the template rendered the tool result into the prompt", show(rendered.prompt && rendered.prompt.slice(-300)));
  const plain = await api.chat.completions.create({model, messages: ask, suanli_test_script: call("get_weather", args)});
  check(!plain.choices[0].message.tool_calls && plain.choices[0].finish_reason !== "tool_calls",
    "tools: without 'tools' in the request a call-shaped reply stays text");

  // ---- an aborted stream ends the request on the server ------------------------------------
  // (The v4 client ends the iteration quietly when its signal aborts; chunks it had already
  // received may still come out first.)
  const ac = new AbortController();
  let got = 0, afterAbort = 0;
  const t0 = Date.now();
  const aborted = await thrown(async () => {
    const s = await api.chat.completions.create({model, messages, stream: true, max_tokens: 1900, ignore_eos: true},
      {signal: ac.signal});
    for await (const k of s) {
      if (!k.choices.length) continue;
      if (ac.signal.aborted) afterAbort++;
      if (++got === 5) ac.abort();
    }
  });
  check(got >= 5 && got < 1900 && (aborted === null || aborted instanceof OpenAI.APIUserAbortError) && Date.now() - t0 < 10000,
    "abort: the stream ends on the client after " + got + " of 1900 chunks (" + afterAbort + " already buffered)",
    aborted && aborted.constructor.name + " " + aborted.message);
  const idle = await until(async () => (await state(URL)).runtime.running_sequences === 0, 5000);
  check(idle, "abort: running_sequences is back to 0 within 5 s");

  // ---- errors through the client -------------------------------------------------------------
  const e401 = await thrown(() => client(URL, "wrong-key").chat.completions.create({model, messages}));
  check(e401 instanceof OpenAI.AuthenticationError && e401.status === 401 && e401.code === "invalid_api_key",
    "401 wrong key -> AuthenticationError", e401 && e401.constructor.name + " " + e401.message);
  const e404 = await thrown(() => api.chat.completions.create({model: "no-such-model", messages}));
  check(e404 instanceof OpenAI.NotFoundError && e404.status === 404 && e404.param === "model" && e404.code === "model_not_found",
    "404 unknown model -> NotFoundError (param model)", e404 && e404.constructor.name + " " + e404.param + " " + e404.message);
  for (const [body, param] of [[{temperature: 5}, "temperature"], [{n: 0}, "n"], [{top_logprobs: 3}, "top_logprobs"],
    [{max_tokens: -1}, "max_tokens"], [{stop: [1]}, "stop"]]) {
    const e = await thrown(() => api.chat.completions.create({model, messages, ...body}));
    check(e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === param,
      "400 " + show(body) + " -> BadRequestError naming " + param, e && e.constructor.name + " " + e.param + " " + e.message);
  }
  const eCtx = await thrown(() => api.chat.completions.create({model, messages, max_tokens: 100000}));
  check(eCtx instanceof OpenAI.BadRequestError && eCtx.code === "context_length_exceeded",
    "400 context_length_exceeded for too many max_tokens", eCtx && eCtx.message);
  const huge = [{role: "user", content: "x".repeat(9 << 20)}];
  for (let i = 0; i < 3; i++) {
    const e = await thrown(() => api.chat.completions.create({model, messages: huge}));
    check(e instanceof OpenAI.APIError && e.status === 413 && e.code === "request_too_large",
      "413 body over 8 MiB -> APIError 413 (try " + (i + 1) + ")", e && e.constructor.name + " " + e.status + " " + e.message);
  }
  // The same client (its kept-alive connections) works after refusals whose bodies were not used.
  for (let i = 0; i < 3; i++) {
    const e = await thrown(() => api.chat.completions.create({model, messages}, {headers: {Authorization: "Bearer nope"}}));
    check(e instanceof OpenAI.AuthenticationError, "401 on a kept-alive connection (try " + (i + 1) + ")", e && e.message);
  }
  const after = await thrown(() => api.chat.completions.create({model, messages, temperature: 0, max_tokens: 8}));
  check(after === null, "requests after 413s and 401s on the same client succeed", after && after.message);

  // A refused request's body is not read as another request (raw socket).
  const smuggled = await new Promise((resolve) => {
    const u = new globalThis.URL(URL);
    const inner = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + KEY + "\r\n\r\n";
    const sock = net.connect(Number(u.port), u.hostname, () => {
      sock.write("POST /v1/chat/completions HTTP/1.1\r\nHost: " + u.host + "\r\nContent-Type: application/json\r\n" +
        "Content-Length: " + inner.length + "\r\n\r\n" + inner);
    });
    let data = "";
    sock.setTimeout(3000, () => { sock.destroy(); resolve(data); });
    sock.on("data", (d) => { data += d; });
    sock.on("close", () => resolve(data));
    sock.on("error", () => resolve(data));
    setTimeout(() => sock.end(), 1500);
  });
  check(/^HTTP\/1\.1 401/.test(smuggled) && !/"object":"list"/.test(smuggled),
    "a refused request's body is not answered as a request of its own", show(smuggled.slice(0, 300)));

  // 429: --parallel 1 --queue 1, one running and one waiting; the next is refused.
  // (One after the other: two requests submitted within one scheduler tick count as two waiting,
  // see the report on the scheduler's queue bound.)
  const small = client(SMALL_URL, "unused");
  const holders = [new AbortController(), new AbortController()];
  const smallState = async (running, waiting) => {
    const s = await state(SMALL_URL, "");
    return s.runtime.running_sequences === running && s.runtime.queue_depth === waiting;
  };
  const hold = [];
  for (const [i, h] of holders.entries()) {
    hold.push(small.chat.completions.create({model, messages, stream: true, max_tokens: 4000, ignore_eos: true},
      {signal: h.signal}).then((s) => collect(s)).catch((e) => e));
    await until(() => smallState(1, i), 10000, 20);
  }
  const busy = await until(() => smallState(1, 1), 5000, 20);
  check(busy, "small server: one request running, one waiting");
  const e429 = await thrown(() => small.chat.completions.create({model, messages, max_tokens: 4}));
  check(e429 instanceof OpenAI.RateLimitError && e429.status === 429 && e429.headers && Number(e429.headers["retry-after"]) >= 1,
    "429 when the queue is full -> RateLimitError with Retry-After " + (e429 && e429.headers && e429.headers["retry-after"]),
    e429 && e429.constructor.name + " " + e429.message);
  const retried = client(SMALL_URL, "unused", {maxRetries: 1});
  holders.forEach((h) => h.abort());
  await Promise.all(hold);
  const free = await until(() => smallState(0, 0), 5000);
  check(free, "small server: aborted requests leave it idle");
  const afterFlood = await thrown(() => retried.chat.completions.create({model, messages, max_tokens: 4}));
  check(afterFlood === null, "small server answers again after the flood", afterFlood && afterFlood.message);

  // ---- the pool: same chat and stream cases, same greedy text as one device (--act f32) -----
  if (POOL_URL) {
    const ps = await state(POOL_URL);
    check(ps.runtime.backend === "pool" && ps.devices.length === 2, "pool head: 2 workers", show(ps.devices.map((d) => d.name)));
    await chatCases(POOL_URL, "pool");
    check(greedy.pool === greedy["one device"], "pool: greedy reply identical to one device's", show([greedy.pool, greedy["one device"]]));
  }
}

try {
  await main();
} catch (e) {
  bad("client test stopped: " + (e && e.stack ? e.stack.split("\n").slice(0, 4).join(" | ") : e));
}
clearTimeout(hardStop);
process.exit(failures ? 1 : 0);
