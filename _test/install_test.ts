// The README's install section, done as a newcomer would: a project of its
// own, a copy of this repository in it, the deno.json and the test the
// section shows (taken from the README itself, so the two cannot drift).
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
// Not part of a copy a user makes (or of what git clone brings).
const NOT_COPIED = new Set([".git", "node_modules", ".deno"]);

/** The fenced block that follows `<!-- install:NAME ... -->` in the README. */
export function installBlock(readme: string, name: string): string {
  const marker = `<!-- install:${name} `;
  const at = readme.indexOf(marker);
  if (at === -1) {
    throw new Error(
      `Cannot test the install section: README.md has no "${marker}-->" marker: put it before the block that shows ${name}`,
    );
  }
  const block = /```[a-z]*\n([\s\S]*?)\n```/.exec(readme.slice(at));
  if (block === null) {
    throw new Error(
      `Cannot test the install section: no fenced block after "${marker}-->" in README.md`,
    );
  }
  return block[1] + "\n";
}

async function copyTree(from: URL, to: URL): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (NOT_COPIED.has(entry.name)) continue;
    const source = new URL(entry.name + (entry.isDirectory ? "/" : ""), from);
    const target = new URL(entry.name + (entry.isDirectory ? "/" : ""), to);
    if (entry.isDirectory) await copyTree(source, target);
    else if (entry.isFile) await Deno.copyFile(source, target);
  }
}

async function deno(cwd: string, ...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const output = new TextDecoder().decode(stdout) +
    new TextDecoder().decode(stderr);
  assert.equal(code, 0, `deno ${args.join(" ")} failed:\n${output}`);
  return output;
}

Deno.test("README install: a project with the package copied in and the documented import map type-checks and runs", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const config = installBlock(readme, "deno.json");
  const mainTest = installBlock(readme, "main_test.ts");
  const project = await Deno.makeTempDir({ prefix: "wsapi-install-" });
  try {
    await copyTree(ROOT, new URL(`file://${project}/wsapi/`));
    await Deno.writeTextFile(`${project}/deno.json`, config);
    await Deno.writeTextFile(`${project}/main_test.ts`, mainTest);
    // The import map names every entry point of deno.json's exports (those
    // added later too), each at its file in the copy; each resolves for the
    // consumer, the Redis backend (and its npm client) included.
    const manifest = JSON.parse(
      await Deno.readTextFile(new URL("deno.json", ROOT)),
    );
    const imports: Record<string, string> = JSON.parse(config).imports;
    assert.deepEqual(
      imports,
      Object.fromEntries(
        Object.entries(manifest.exports as Record<string, string>).map((
          [key, file],
        ) => [
          manifest.name + key.slice(1),
          "./wsapi/" + file.replace(/^\.\//, ""),
        ]),
      ),
      "the README's import map does not map deno.json's exports one to one",
    );
    const entries = Object.keys(imports);
    await Deno.writeTextFile(
      `${project}/entries.ts`,
      entries.map((name, i) => `import * as m${i} from "${name}";\n`).join("") +
        `console.log([${entries.map((_, i) => `m${i}`).join(", ")}]` +
        `.map((m) => Object.keys(m).length).join(" "));\n`,
    );
    await deno(project, "check", "entries.ts", "main_test.ts");
    const counts = await deno(project, "run", "-A", "entries.ts");
    for (
      const count of counts.trim().split(/\s+/).slice(-entries.length)
    ) {
      assert.ok(
        Number(count) > 0,
        `an entry point exports nothing:\n${counts}`,
      );
    }
    const run = await deno(project, "test", "main_test.ts");
    assert.match(run, /the app answers over a WebSocket \.\.\. ok/);
    assert.match(run, /ok \| 1 passed \| 0 failed/);
  } finally {
    await Deno.remove(project, { recursive: true });
  }
});

Deno.test("README install: a missing marker is reported by name", () => {
  assert.throws(
    () => installBlock("# no install section\n", "deno.json"),
    /README\.md has no "<!-- install:deno\.json -->" marker/,
  );
});
