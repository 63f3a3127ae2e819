// .ci/setup, which `deno task test` and .ci/run both start with, on a machine
// that lacks redis-server: run with a PATH of stand-ins (for id, apt-get,
// sudo), so nothing is really installed.
import assert from "node:assert/strict";

const SETUP = new URL("../.ci/setup", import.meta.url).pathname;

async function withBin(
  tools: Record<string, string>,
  body: (bin: string) => Promise<void>,
): Promise<void> {
  const bin = await Deno.makeTempDir({ prefix: "wsapi-setup-" });
  try {
    for (const [name, script] of Object.entries(tools)) {
      await Deno.writeTextFile(`${bin}/${name}`, `#!/bin/sh\n${script}\n`);
      await Deno.chmod(`${bin}/${name}`, 0o755);
    }
    await body(bin);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
}

async function setup(bin: string) {
  const { code, stdout, stderr } = await new Deno.Command("/bin/bash", {
    args: [SETUP],
    env: { PATH: bin },
    clearEnv: true,
    stdin: "null",
  }).output();
  return {
    code,
    out: new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr),
  };
}

Deno.test(".ci/setup without root or sudo stops at once and prints the command to run", async () => {
  await withBin({
    id: "echo 1000",
    "apt-get": `echo called >> "\${0%/*}/apt.log"`,
  }, async (bin) => {
    const { code, out } = await setup(bin);
    assert.equal(code, 1);
    assert.match(
      out,
      /Cannot run the tests: [^\n]*redis-server[^\n]* missing \(installing needs root\)/,
    );
    assert.match(
      out,
      /sudo apt-get update && sudo apt-get install -y [^\n]*redis-server/,
    );
    await assert.rejects(Deno.stat(`${bin}/apt.log`), Deno.errors.NotFound);
  });
});

Deno.test(".ci/setup without apt-get names what to install", async () => {
  await withBin({ id: "echo 1000" }, async (bin) => {
    const { code, out } = await setup(bin);
    assert.equal(code, 1);
    assert.match(
      out,
      /redis-server[^\n]* missing \(this machine has no apt-get\)/,
    );
  });
});

Deno.test(".ci/setup as root installs what is missing with apt-get, and says so", async () => {
  await withBin({
    id: "echo 0",
    "apt-get": `echo "$@" >> "\${0%/*}/apt.log"`,
  }, async (bin) => {
    const { code, out } = await setup(bin);
    assert.equal(code, 0, out);
    assert.match(
      out,
      /installing what the tests need: apt-get install -y [^\n]*redis-server/,
    );
    const log = await Deno.readTextFile(`${bin}/apt.log`);
    assert.match(log, /^update -qq\ninstall -y -qq [^\n]*redis-server/);
  });
});

Deno.test(".ci/setup with sudo but no root uses sudo", async () => {
  await withBin({
    id: "echo 1000",
    sudo: `[ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; "$@"`,
    "apt-get": `echo "$@" >> "\${0%/*}/apt.log"`,
  }, async (bin) => {
    const { code, out } = await setup(bin);
    assert.equal(code, 0, out);
    const log = await Deno.readTextFile(`${bin}/apt.log`);
    assert.match(log, /install -y -qq [^\n]*redis-server/);
  });
});

Deno.test("deno task test and .ci/run both start with .ci/setup", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  assert.match(config.tasks.test, /^bash \.ci\/setup && deno test /);
  const run = await Deno.readTextFile(new URL("../.ci/run", import.meta.url));
  assert.match(run, /\nstep bash \.ci\/setup\n/);
  assert.match(run, /\nnpx -y deno@2\.9\.6 task test /);
  assert.match(
    run,
    /echo "\$\{passed:-0\} passed, \$\{failed:-0\} failed"\nexit "\$status"\n$/,
  );
});

Deno.test("the demo tasks listen on 127.0.0.1, not on every interface", async () => {
  const { tasks } = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  for (const name of ["start", "echo"]) {
    assert.match(tasks[name], /^deno serve --host 127\.0\.0\.1 /, name);
  }
});
