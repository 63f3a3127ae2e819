/// <reference lib="dom" />
// The chat page's script, bundled for the browser by `deno task bundle`
// into static/chat.js (committed, so that `deno task start` works on a fresh
// clone; a test checks that it is current). It speaks the chat protocol
// through the typed client.
import {
  type ClientStatus,
  connect,
  type ProtocolClient,
} from "../../client.ts";
import * as v from "valibot";
import { chat, NAME } from "./protocol.ts";

function element<T extends HTMLElement>(
  selector: string,
  type: { new (): T },
): T {
  const found = document.querySelector(selector);
  if (!(found instanceof type)) throw new Error(`The page has no ${selector}`);
  return found;
}

const joinForm = element("#join", HTMLFormElement);
const nameInput = element("#name", HTMLInputElement);
const sayForm = element("#say", HTMLFormElement);
const textInput = element("#text", HTMLInputElement);
const log = element("#messages", HTMLUListElement);
const status = element("#status", HTMLElement);

const STATUS_TEXT: Record<ClientStatus, string> = {
  connecting: "Connecting…",
  open: "Connected",
  reconnecting: "Disconnected, reconnecting…",
  closed: "Disconnected",
};

function show(state: ClientStatus | "refused", detail = ""): void {
  status.dataset.state = state;
  status.textContent = state === "refused"
    ? `Could not join${detail ? `: ${detail}` : ""}`
    : `${STATUS_TEXT[state]}${detail}`;
  sayForm.querySelector("button")!.disabled = state !== "open";
}

function line(kind: string, parts: [string, string][]): void {
  const item = document.createElement("li");
  item.className = kind;
  for (const [className, text] of parts) {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    item.append(span);
  }
  log.append(item);
  item.scrollIntoView({ block: "end" });
}

async function join(input: string): Promise<void> {
  // Checked here with the server's own schema: a refused handshake looks
  // like a network failure to a browser (close 1006, no reason).
  const checked = v.safeParse(NAME, input);
  if (!checked.success) {
    show("refused", checked.issues[0].message);
    return;
  }
  const name = checked.output;
  joinForm.hidden = true;
  sayForm.hidden = false;
  show("connecting");
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("name", name);
  let room: ProtocolClient<typeof chat>;
  try {
    room = await connect(chat, url, {
      reconnect: { retries: 20, minDelayMs: 500, maxDelayMs: 5000 },
      onStatus: (state) => show(state, state === "open" ? ` as ${name}` : ""),
    });
  } catch {
    show("refused", "the server refused the name or is down");
    joinForm.hidden = false;
    sayForm.hidden = true;
    return;
  }
  sayForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = textInput.value.trim();
    if (text === "") return;
    room.emit("say", { text }).then(
      () => textInput.value = "",
      (error) => line("error", [["notice", `Not sent: ${error.message}`]]),
    );
  });
  textInput.focus();
  for await (const m of room.messages()) {
    if (m.type === "said") {
      line(m.data.from === name ? "said own" : "said", [
        ["from", m.data.from === name ? "you" : m.data.from],
        ["text", m.data.text],
      ]);
    } else if (m.type === "joined") {
      line("notice", [["notice", `${m.data.name} joined`]]);
    } else if (m.type === "left") {
      line("notice", [["notice", `${m.data.name} left`]]);
    } else {
      line("error", [["notice", m.error.message]]);
    }
  }
}

joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = nameInput.value.trim();
  void join(nameInput.value);
});
const preset = new URLSearchParams(location.search).get("name");
if (preset !== null) {
  nameInput.value = preset;
  void join(preset);
}
