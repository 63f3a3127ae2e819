// Starting the benchmark and soak servers: a child process that prints
// "listening PORT" on stdout once it serves, and stops when its stdin closes
// (see servers/_serve.ts and soak/server.ts).

/** A server process started by {@linkcode spawnServer}. */
export interface SpawnedServer {
  readonly port: number;
  readonly pid: number;
  /**
   * Closes the server's stdin and waits for it to exit; kills it after
   * `timeoutMs`.
   */
  stop(timeoutMs?: number): Promise<Deno.CommandStatus>;
}

/** Runs `command args` and resolves once it prints its port. */
export async function spawnServer(
  command: string,
  args: string[],
  options: { stderr?: "inherit" | "null" } = {},
): Promise<SpawnedServer> {
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: options.stderr ?? "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let head = "";
  try {
    while (!/listening \d+\n/.test(head)) {
      const { value, done } = await reader.read();
      if (done) {
        throw new Error(`${args.at(-1)} exited before listening: ${head}`);
      }
      head += value;
    }
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  } finally {
    await reader.cancel();
  }
  let stopped: Promise<Deno.CommandStatus> | undefined;
  return {
    port: Number(/listening (\d+)/.exec(head)![1]),
    pid: child.pid,
    stop(timeoutMs = 5_000) {
      stopped ??= (async () => {
        await child.stdin.close();
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        const status = await child.status;
        clearTimeout(timer);
        return status;
      })();
      return stopped;
    },
  };
}
