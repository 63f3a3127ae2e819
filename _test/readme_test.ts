// The README's code: `deno task test` runs every ```ts block of README.md as
// a doc test (type-checked, then run). These tests keep that mechanism in
// place for sections added later, and run the Broadcast snippet as a user
// pastes it: as a program's main module, served.
import assert from "node:assert/strict";
import { TestClient } from "../testing.ts";
import type { App } from "../mod.ts";

const ROOT = new URL("../", import.meta.url);
// What `deno test --doc` type-checks and runs in a Markdown file.
const RUN_BY_DENO = new Set([
  "ts",
  "typescript",
  "mts",
  "tsx",
  "js",
  "javascript",
  "mjs",
  "jsx",
]);

interface Block {
  line: number;
  lang: string;
  attributes: string[];
  code: string;
}

/** The fenced code blocks of a Markdown text, with their first line. */
export function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]);
    if (open === null) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && !lines[i].startsWith("```")) {
      body.push(lines[i]);
    }
    blocks.push({
      line: start + 1,
      lang: open[1].toLowerCase(),
      attributes: open[2].trim().split(/\s+/).filter((a) => a !== ""),
      code: body.join("\n"),
    });
  }
  return blocks;
}

/** Why a README block would not be run by the doc tests, or null. */
export function notRun(block: Block): string | null {
  if (RUN_BY_DENO.has(block.lang) && block.attributes.includes("ignore")) {
    return `README.md:${block.line}: a \`\`\`${block.lang} ignore block is neither type-checked nor run by deno test --doc: drop "ignore", and put what needs a server or a network under \`if (import.meta.main)\` so that it is type-checked still`;
  }
  if (
    block.lang === "" && /^\s*(import|export|const|await|app\.)\b/m.test(
      block.code,
    )
  ) {
    return `README.md:${block.line}: a code block without a language is not checked by deno test --doc: mark it \`\`\`ts`;
  }
  return null;
}

Deno.test("README: every code block is run by the doc tests (none ignored, none unmarked)", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const blocks = codeBlocks(readme);
  assert.ok(
    blocks.filter((b) => RUN_BY_DENO.has(b.lang)).length >= 5,
    "README.md: expected its TypeScript examples, found almost none",
  );
  const problems = blocks.map(notRun).filter((p) => p !== null);
  assert.deepEqual(problems, [], problems.join("\n"));
});

Deno.test("README: the test task runs the README's code blocks", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  );
  assert.match(
    config.tasks.test,
    /deno test [^&]*--doc [^&]*\bREADME\.md\b/,
    "deno.json: the test task must keep `--doc ... README.md`, or the README's snippets go unchecked",
  );
});

Deno.test("README: a ts ignore block and an unmarked code block are reported with their line", () => {
  const [ignored, unmarked, shell] = codeBlocks(
    '# t\n\n```ts ignore\nawait fetch(url);\n```\n\n```\nimport { App } from "x";\n```\n\n```sh\ndeno task test\n```\n',
  );
  assert.match(notRun(ignored)!, /^README\.md:3: a ```ts ignore block/);
  assert.match(notRun(unmarked)!, /^README\.md:7: .*mark it ```ts/);
  assert.equal(notRun(shell), null);
});

Deno.test("README Broadcast snippet, pasted as main.ts: members hear each other and the departure", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const snippet = codeBlocks(readme).find((b) =>
    b.lang === "ts" && b.code.includes("new Broadcast(")
  );
  assert.ok(snippet, "README.md: no ```ts block with `new Broadcast(`");
  // Inside the project, so that deno.json's import map resolves
  // "@wsapi/wsapi" as it does for the doc tests.
  const file = await Deno.makeTempFile({
    dir: new URL("_test/", ROOT).pathname,
    prefix: "_readme_broadcast_",
    suffix: ".ts",
  });
  try {
    await Deno.writeTextFile(file, snippet.code);
    const { default: app } = await import(`file://${file}`) as { default: App };
    const client = new TestClient(app);
    await using one = await client.websocketConnect("/ws/1");
    const two = await client.websocketConnect("/ws/2");
    await one.sendText("hello");
    assert.equal(await one.receiveText(), "Client #1 says: hello");
    assert.equal(await two.receiveText(), "Client #1 says: hello");
    await two.close();
    assert.equal(await one.receiveText(), "Client #2 left the chat");
  } finally {
    await Deno.remove(file);
  }
});
