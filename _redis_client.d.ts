// The part of node-redis 6 (`npm:redis@^6`) that the Redis backends use,
// declared here: the package's own declarations reference Node's types,
// which `deno doc --lint` cannot resolve (one warning per file), and they
// are far bigger than what is needed. Checked against redis 6.3.
import type { Buffer } from "node:buffer";

export interface RedisClient {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  on(event: "error", listener: (error: Error) => void): this;
  on(event: "ready", listener: () => void): this;
  connect(): Promise<RedisClient>;
  destroy(): void;
  withTypeMapping(mapping: Record<number, unknown>): RedisClient;
  subscribe(
    channel: string,
    listener: (message: Buffer) => void,
    bufferMode: true,
  ): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  publish(channel: string, message: string | Uint8Array): Promise<number>;
  sendCommand(args: (string | Uint8Array)[]): Promise<unknown>;
  scriptLoad(script: string): Promise<string>;
}

export interface RedisClientOptions {
  url: string;
  disableOfflineQueue?: boolean;
  maintNotifications?: "disabled" | "enabled" | "auto";
  socket?: {
    connectTimeout?: number;
    reconnectStrategy?: (retries: number, cause: Error) => number | Error;
  };
}

export function createClient(options: RedisClientOptions): RedisClient;

export const RESP_TYPES: { readonly BLOB_STRING: number };
