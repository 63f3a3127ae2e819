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

// The repository is type-checked as Deno code, without the DOM library (it
// would change the types of every other file in the same check): these are
// the members of the DOM this page uses, declared as the browser has them.
interface PageElement {
  hidden: boolean;
  textContent: string | null;
  className: string;
  readonly dataset: Record<string, string | undefined>;
  append(...nodes: PageElement[]): void;
  addEventListener(type: "submit", listener: (event: Event) => void): void;
  scrollIntoView(options?: { block?: "start" | "end" }): void;
}
interface PageInput extends PageElement {
  value: string;
  focus(): void;
}
interface PageButton extends PageElement {
  disabled: boolean;
}
declare const document: {
  querySelector(selector: "#name" | "#text"): PageInput | null;
  querySelector(selector: "#say button"): PageButton | null;
  querySelector(selector: string): PageElement | null;
  createElement(tag: "li" | "span"): PageElement;
};

function element<T>(found: T | null, selector: string): T {
  if (found === null) throw new Error(`The page has no ${selector}`);
  return found;
}

const joinForm = element(document.querySelector("#join"), "#join");
const nameInput = element(document.querySelector("#name"), "#name");
const sayForm = element(document.querySelector("#say"), "#say");
const sendButton = element(
  document.querySelector("#say button"),
  "#say button",
);
const textInput = element(document.querySelector("#text"), "#text");
const log = element(document.querySelector("#messages"), "#messages");
const status = element(document.querySelector("#status"), "#status");

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
  sendButton.disabled = state !== "open";
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
  void join(nameInput.value);
});
const preset = new URLSearchParams(location.search).get("name");
if (preset !== null) {
  nameInput.value = preset;
  void join(preset);
}
