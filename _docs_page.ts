// The /docs page: one self-contained HTML document (styles, script and the
// AsyncAPI document inline), so it works offline and behind a firewall, with
// no front-end build. The script reads the embedded document, renders the
// channels, messages and schemas, and drives a console over a browser
// WebSocket speaking the protocol's wire format.

/** An HTTP route, as the page lists it. */
export interface HttpRouteEntry {
  readonly methods: readonly string[];
  readonly path: string;
  readonly name: string | undefined;
}

/** What the page reads of the document besides the script's part. */
interface DocumentHead {
  readonly asyncapi: string;
  readonly info: {
    readonly title: string;
    readonly version: string;
    readonly description?: string;
  };
}

const STYLE = String.raw`
:root { color-scheme: light dark; --fg: #1d2330; --muted: #5b6478; --bg: #fff; --panel: #f4f6fa;
  --line: #d8dde8; --accent: #2457c5; --in: #0a7a45; --out: #8a4b00; --warn: #fff6dc; --err: #b3261e; }
@media (prefers-color-scheme: dark) { :root { --fg: #e4e8f1; --muted: #9aa3b5; --bg: #14171d; --panel: #1d2129;
  --line: #313847; --accent: #7ea6ff; --in: #5fd39a; --out: #f0a95a; --warn: #3a3220; --err: #ff8a80; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 1rem 1.5rem; border-bottom: 1px solid var(--line); }
header h1 { margin: 0; font-size: 1.4rem; }
header .version { color: var(--muted); font-size: .9rem; margin-left: .5rem; }
main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(340px, 440px); gap: 1.5rem; padding: 1rem 1.5rem; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
h2 { font-size: 1.15rem; margin: 1.2rem 0 .5rem; }
h3 { font-size: 1rem; margin: .8rem 0 .3rem; }
code, pre, textarea { font: 13px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .6rem; overflow: auto; margin: .3rem 0; }
.channel { border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; margin-bottom: 1rem; }
.channel > .address { font-weight: 600; }
.muted { color: var(--muted); }
.tag { display: inline-block; background: var(--panel); border: 1px solid var(--line); border-radius: 999px; padding: 0 .5rem; font-size: .8rem; margin-right: .3rem; }
.dir { font-size: .8rem; font-weight: 600; border-radius: 4px; padding: 0 .35rem; margin-right: .4rem; }
.dir.receive { color: var(--in); border: 1px solid var(--in); }
.dir.send { color: var(--out); border: 1px solid var(--out); }
table { border-collapse: collapse; margin: .3rem 0; }
td, th { border: 1px solid var(--line); padding: .2rem .5rem; text-align: left; font-size: .9rem; }
.warning { background: var(--warn); border: 1px solid var(--line); border-radius: 8px; padding: .6rem 1rem; }
aside { position: sticky; top: 1rem; align-self: start; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 1rem; }
aside h2 { margin-top: 0; }
label { display: block; margin: .35rem 0; font-size: .9rem; }
label > span { display: block; color: var(--muted); }
input, select, textarea { width: 100%; padding: .3rem .4rem; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
input[type=checkbox] { width: auto; }
button { padding: .35rem .8rem; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; margin: .4rem .3rem 0 0; }
button.secondary { background: transparent; color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
#status { font-weight: 600; }
#log { list-style: none; padding: 0; margin: .5rem 0 0; max-height: 360px; overflow: auto; }
#log li { border-top: 1px solid var(--line); padding: .25rem 0; white-space: pre-wrap; word-break: break-all; font: 12px/1.4 ui-monospace, monospace; }
#log li.in::before { content: "\2190  "; color: var(--in); }
#log li.out::before { content: "\2192  "; color: var(--out); }
#log li.event { color: var(--muted); }
.error { color: var(--err); }
`;

const SCRIPT = String.raw`
"use strict";
const doc = JSON.parse(document.getElementById("asyncapi").textContent);
const el = (tag, attrs, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
};
function resolve(node) {
  let seen = 0;
  while (node && typeof node.$ref === "string" && node.$ref.startsWith("#/") && seen++ < 32) {
    let target = doc;
    for (const part of node.$ref.slice(2).split("/")) {
      target = target === undefined ? undefined : target[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    }
    node = target;
  }
  return node;
}
const json = (value) => JSON.stringify(value, null, 2);
const operations = Object.values(doc.operations || {});
function messagesOf(channelId, action) {
  const out = [];
  for (const op of operations) {
    if (op.action !== action || op.channel.$ref !== "#/channels/" + channelId) continue;
    for (const ref of op.messages) {
      const key = ref.$ref.split("/").pop();
      out.push({ key, message: doc.channels[channelId].messages[key], operation: op });
    }
  }
  return out;
}
const dataSchemaOf = (message) => {
  const payload = resolve(message.payload);
  return payload && payload.properties ? resolve(payload.properties.data) : undefined;
};
const isRequest = (message) => {
  const payload = resolve(message.payload);
  return !!(payload && payload.properties && payload.properties.id && payload.properties.data);
};

// The reference part: channels, messages, schemas.
const reference = document.getElementById("reference");
const undescribed = doc["x-wsapi-undescribed"] || [];
if (undescribed.length > 0) {
  reference.append(el("div", { class: "warning", id: "undescribed" },
    el("strong", {}, "Not described"),
    el("ul", {}, ...undescribed.map((u) => el("li", {},
      el("code", {}, u.channel + (u.message ? " " + u.message : "")), ": " + u.reason)))));
}
reference.append(el("h2", {}, "Channels"));
const channelIds = Object.keys(doc.channels);
if (channelIds.length === 0) reference.append(el("p", { class: "muted" }, "No WebSocket routes."));
for (const id of channelIds) {
  const channel = doc.channels[id];
  const box = el("section", { class: "channel", id: "channel-" + id },
    el("div", { class: "address" }, el("code", {}, channel.address === null ? "(dynamic address)" : channel.address),
      " ", el("span", { class: "muted" }, id)),
    channel.summary ? el("div", {}, channel.summary) : null,
    channel.description ? el("p", { class: "muted" }, channel.description) : null,
    channel.tags ? el("div", {}, ...channel.tags.map((t) => el("span", { class: "tag" }, t.name))) : null);
  const params = Object.entries(channel.parameters || {});
  const ws = (channel.bindings && channel.bindings.ws) || {};
  const rows = [];
  for (const [name, p] of params) rows.push(["path", name, "yes", p.description || ""]);
  for (const [where, schema] of [["query", ws.query], ["header", ws.headers]]) {
    if (!schema) continue;
    for (const [name, s] of Object.entries(schema.properties || {})) {
      rows.push([where, name, (schema.required || []).includes(name) ? "yes" : "no",
        s.description || s.type || json(s)]);
    }
  }
  if (rows.length > 0) {
    box.append(el("h3", {}, "Handshake"), el("table", {},
      el("tr", {}, el("th", {}, "in"), el("th", {}, "name"), el("th", {}, "required"), el("th", {}, "schema")),
      ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, String(c)))))));
  }
  const security = (operations.find((op) => op.channel.$ref === "#/channels/" + id) || {}).security || [];
  if (security.length > 0) {
    box.append(el("h3", {}, "Security"), el("ul", {}, ...security.map((ref) => {
      const scheme = resolve(ref);
      return el("li", {}, el("code", {}, ref.$ref.split("/").pop()), ": " + (scheme.description || scheme.type));
    })));
  }
  box.append(el("h3", {}, "Messages"));
  for (const [action, label] of [["receive", "client \u2192 server"], ["send", "server \u2192 client"]]) {
    for (const { key, message } of messagesOf(id, action)) {
      const data = dataSchemaOf(message);
      box.append(el("details", { class: "message" },
        el("summary", {}, el("span", { class: "dir " + action }, label), el("code", {}, message.title || key),
          message.summary ? el("span", { class: "muted" }, " " + message.summary) : null),
        message.payload ? el("pre", {}, json(message.payload)) : el("p", { class: "muted" }, "Payload not described."),
        data && message.payload && message.payload.properties && message.payload.properties.data.$ref
          ? el("pre", {}, "data: " + json(data)) : null));
    }
  }
  box.append(el("button", { class: "secondary", onclick: () => pickChannel(id) }, "Try it"));
  reference.append(box);
}
const httpRoutes = JSON.parse(document.getElementById("http-routes").textContent);
if (httpRoutes.length > 0) {
  reference.append(el("h2", {}, "HTTP routes"), el("table", { id: "http" },
    el("tr", {}, el("th", {}, "methods"), el("th", {}, "path"), el("th", {}, "name")),
    ...httpRoutes.map((r) => el("tr", {}, el("td", {}, r.methods.join(", ")), el("td", {}, el("code", {}, r.path)),
      el("td", {}, r.name || "")))));
}
const schemas = Object.entries((doc.components && doc.components.schemas) || {});
if (schemas.length > 0) {
  reference.append(el("h2", {}, "Schemas"));
  for (const [name, schema] of schemas) {
    reference.append(el("details", { class: "schema" }, el("summary", {}, el("code", {}, name)), el("pre", {}, json(schema))));
  }
}

// The console.
const $ = (id) => document.getElementById(id);
const channelSelect = $("channel-select"), params = $("params"), connectButton = $("connect"),
  statusText = $("status"), messageSelect = $("message-select"), fields = $("fields"), frame = $("frame"),
  sendButton = $("send"), log = $("log"), subprotocols = $("subprotocols");
let socket = null, nextId = 1, fieldReaders = [];
for (const id of channelIds) channelSelect.append(el("option", { value: id }, doc.channels[id].address || id));
function logLine(kind, text) {
  log.append(el("li", { class: kind }, text));
  log.scrollTop = log.scrollHeight;
}
function setStatus(text, isError) {
  statusText.textContent = text;
  statusText.className = isError ? "error" : "";
}
function inputFor(name, schema, required) {
  schema = resolve(schema) || {};
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  const title = name + (required ? " *" : "");
  let input, read;
  if (Array.isArray(schema.enum)) {
    input = el("select", { name: "field-" + name }, ...(required ? [] : [el("option", { value: "" }, "")]),
      ...schema.enum.map((v, i) => el("option", { value: String(i) }, JSON.stringify(v))));
    read = () => input.value === "" ? undefined : schema.enum[Number(input.value)];
  } else if (type === "boolean") {
    input = el("input", { type: "checkbox", name: "field-" + name });
    read = () => input.checked;
  } else if (type === "integer" || type === "number") {
    input = el("input", { type: "number", name: "field-" + name, step: type === "integer" ? "1" : "any" });
    read = () => input.value === "" ? undefined : Number(input.value);
  } else if (type === "string") {
    input = el("input", { type: "text", name: "field-" + name, autocomplete: "off" });
    read = () => input.value === "" && !required ? undefined : input.value;
  } else {
    input = el("textarea", { name: "field-" + name, rows: "3", placeholder: "JSON" });
    read = () => {
      if (input.value.trim() === "") return undefined;
      try { return JSON.parse(input.value); } catch { throw new Error(name + " is not valid JSON"); }
    };
  }
  input.addEventListener("input", updateFrame);
  input.addEventListener("change", updateFrame);
  fields.append(el("label", {}, el("span", {}, title + (schema.description ? " \u2013 " + schema.description : "")), input));
  return read;
}
function currentMessage() {
  const channel = doc.channels[channelSelect.value];
  return channel && channel.messages[messageSelect.value];
}
function buildForm() {
  fields.replaceChildren();
  fieldReaders = [];
  const message = currentMessage();
  if (!message || !message.payload) {
    frame.value = "";
    frame.placeholder = "Text to send (this route declares no protocol)";
    return;
  }
  const data = dataSchemaOf(message) || {};
  if (data.type === "object" || data.properties) {
    const required = data.required || [];
    for (const [name, schema] of Object.entries(data.properties || {})) {
      fieldReaders.push([name, inputFor(name, schema, required.includes(name))]);
    }
  } else fieldReaders.push([null, inputFor("data", data, true)]);
  updateFrame();
}
function updateFrame() {
  const message = currentMessage();
  if (!message || !message.payload) return;
  try {
    let data;
    if (fieldReaders.length === 1 && fieldReaders[0][0] === null) data = fieldReaders[0][1]();
    else {
      data = {};
      for (const [name, read] of fieldReaders) {
        const value = read();
        if (value !== undefined) data[name] = value;
      }
    }
    const envelope = { type: message.name };
    if (isRequest(message)) envelope.id = nextId;
    envelope.data = data === undefined ? null : data;
    frame.value = JSON.stringify(envelope);
    frame.classList.remove("error");
  } catch (error) {
    frame.value = error.message;
    frame.classList.add("error");
  }
}
function pickChannel(id) {
  channelSelect.value = id;
  renderChannel();
  channelSelect.scrollIntoView({ block: "nearest" });
}
function renderChannel() {
  const channel = doc.channels[channelSelect.value];
  params.replaceChildren();
  messageSelect.replaceChildren();
  if (!channel) return;
  for (const name of Object.keys(channel.parameters || {})) {
    params.append(el("label", {}, el("span", {}, "{" + name + "} " + (channel.parameters[name].description || "")),
      el("input", { type: "text", "data-path": name, name: "path-" + name, autocomplete: "off" })));
  }
  const query = (channel.bindings && channel.bindings.ws && channel.bindings.ws.query) || {};
  for (const [name, schema] of Object.entries(query.properties || {})) {
    const required = (query.required || []).includes(name);
    params.append(el("label", {}, el("span", {}, "?" + name + (required ? " *" : "")),
      el("input", { type: "text", "data-query": name, name: "query-" + name, autocomplete: "off",
        placeholder: schema.default !== undefined ? String(schema.default) : "" })));
  }
  const security = (operations.find((op) => op.channel.$ref === "#/channels/" + channelSelect.value) || {}).security || [];
  for (const ref of security) {
    const key = ref.$ref.split("/").pop();
    const scheme = resolve(ref);
    if (scheme.in === "query" && !params.querySelector("[data-query=\"" + CSS.escape(scheme.name) + "\"]")) {
      params.append(el("label", {}, el("span", {}, "?" + scheme.name + " * (API key)"),
        el("input", { type: "text", "data-query": scheme.name, name: "query-" + scheme.name, autocomplete: "off" })));
    }
    if (key.startsWith("subprotocolBearer") && subprotocols.value === "") {
      subprotocols.value = key.slice("subprotocolBearer_".length) + ", <token>";
    }
  }
  for (const { key, message } of messagesOf(channelSelect.value, "receive")) {
    messageSelect.append(el("option", { value: key }, message.title || key));
  }
  buildForm();
}
function url() {
  const channel = doc.channels[channelSelect.value];
  if (typeof channel.address !== "string") {
    throw new Error("Cannot connect: this route's path is a pattern with no address to fill in");
  }
  let path = channel.address;
  for (const input of params.querySelectorAll("[data-path]")) {
    if (input.value === "") throw new Error("Fill the path parameter {" + input.dataset.path + "}");
    path = path.replace("{" + input.dataset.path + "}", encodeURIComponent(input.value));
  }
  const search = new URLSearchParams();
  for (const input of params.querySelectorAll("[data-query]")) {
    if (input.value !== "") search.append(input.dataset.query, input.value);
  }
  const query = search.toString();
  return location.origin.replace(/^http/, "ws") + path + (query ? "?" + query : "");
}
function connect() {
  if (socket) { socket.close(1000); return; }
  let target;
  try { target = url(); } catch (error) { setStatus(error.message, true); return; }
  const protocols = subprotocols.value.split(",").map((p) => p.trim()).filter((p) => p !== "" && p !== "<token>");
  try {
    socket = new WebSocket(target, protocols);
  } catch (error) {
    setStatus("Cannot connect: " + error.message, true);
    return;
  }
  setStatus("connecting to " + target);
  connectButton.textContent = "Disconnect";
  socket.onopen = () => {
    setStatus("connected" + (socket.protocol ? " (subprotocol " + socket.protocol + ")" : ""));
    sendButton.disabled = false;
    logLine("event", "open " + target);
  };
  socket.onmessage = (event) => {
    let text = typeof event.data === "string" ? event.data : "(binary, " + (event.data.size ?? event.data.byteLength) + " bytes)";
    try { text = JSON.stringify(JSON.parse(text)); } catch { /* plain text: shown as it came */ }
    logLine("in", text);
  };
  socket.onclose = (event) => {
    logLine("event", "closed " + event.code + (event.reason ? " " + event.reason : ""));
    setStatus("closed (" + event.code + (event.reason ? ": " + event.reason : "") + ")", event.code !== 1000);
    socket = null;
    sendButton.disabled = true;
    connectButton.textContent = "Connect";
  };
  socket.onerror = () => setStatus("connection failed: the server refused or is unreachable", true);
}
function send() {
  if (!socket || socket.readyState !== 1) { setStatus("Cannot send: not connected: press Connect first", true); return; }
  const message = currentMessage();
  // The frame as shown: made from the form, perhaps edited by hand since.
  if (frame.classList.contains("error")) { setStatus("Cannot send: " + frame.value, true); return; }
  socket.send(frame.value);
  logLine("out", frame.value);
  if (message && message.payload && isRequest(message)) {
    nextId++;
    updateFrame();
  }
}
channelSelect.addEventListener("change", renderChannel);
messageSelect.addEventListener("change", buildForm);
connectButton.addEventListener("click", connect);
sendButton.addEventListener("click", send);
$("clear").addEventListener("click", () => log.replaceChildren());
renderChannel();
`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page for `doc`; `specPath` is linked as the raw document. */
export function docsPage(
  doc: DocumentHead,
  specPath: string,
  http: readonly HttpRouteEntry[],
): string {
  // "<" escaped so no string in the document can end the script element.
  const embedded = JSON.stringify(doc).replaceAll("<", "\\u003c");
  const routes = JSON.stringify(http).replaceAll("<", "\\u003c");
  const title = escapeHtml(doc.info.title);
  const description = doc.info.description === undefined
    ? ""
    : `<p>${escapeHtml(doc.info.description)}</p>`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}: WebSocket docs</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${title}<span class="version">${
    escapeHtml(doc.info.version)
  } &middot; AsyncAPI ${doc.asyncapi} &middot; <a href="${
    escapeHtml(specPath)
  }">document</a></span></h1>
${description}
</header>
<main>
<div id="reference"></div>
<aside id="console">
<h2>Console</h2>
<label><span>Route</span><select id="channel-select"></select></label>
<div id="params"></div>
<label><span>Subprotocols (comma-separated)</span><input id="subprotocols" type="text" autocomplete="off"></label>
<button id="connect" type="button">Connect</button> <span id="status">not connected</span>
<label><span>Message</span><select id="message-select"></select></label>
<div id="fields"></div>
<label><span>Frame</span><textarea id="frame" rows="3"></textarea></label>
<button id="send" type="button" disabled>Send</button><button id="clear" type="button" class="secondary">Clear log</button>
<ul id="log"></ul>
</aside>
</main>
<script type="application/json" id="asyncapi">${embedded}</script>
<script type="application/json" id="http-routes">${routes}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
