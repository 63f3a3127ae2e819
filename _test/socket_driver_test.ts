// The driver's send-side bookkeeping, against a socket the test controls.
import assert from "node:assert/strict";
import {
  queuedCost,
  SocketDriver,
  type WebSocketLike,
} from "../_socket_driver.ts";

/** An open socket whose buffer only grows with send() and counts its readings. */
class BufferingSocket implements WebSocketLike {
  readyState = 1;
  binaryType: BinaryType = "arraybuffer";
  readings = 0;
  #buffered = 0;
  get bufferedAmount(): number {
    this.readings++;
    return this.#buffered;
  }
  send(data: string | ArrayBufferLike | ArrayBufferView): void {
    this.#buffered += typeof data === "string"
      ? new TextEncoder().encode(data).length
      : data.byteLength;
  }
  drain(): void {
    this.#buffered = 0;
  }
  close(): void {}
  addEventListener(): void {}
  removeEventListener(): void {}
}

const limits = (sendHighWaterMark: number) => ({
  maxMessageSize: 1 << 20,
  maxQueuedMessages: 16,
  maxQueuedBytes: 1 << 20,
  sendHighWaterMark,
});

Deno.test("mustWait() stops a sender once more than the high-water mark is buffered, reading the buffer rarely", async () => {
  const socket = new BufferingSocket();
  const driver = new SocketDriver(limits(64 * 1024));
  await driver.attach(socket);
  for (const message of ["x".repeat(100), "é".repeat(100)]) {
    socket.drain();
    socket.readings = 0;
    let sends = 0;
    while (!driver.mustWait(message)) {
      socket.send(message);
      sends++;
    }
    const buffered = socket.bufferedAmount;
    // Never stops early, never runs past the mark by more than a message.
    assert.ok(buffered > 64 * 1024, `stopped at ${buffered} bytes`);
    assert.ok(buffered <= 64 * 1024 + 200, `ran on to ${buffered} bytes`);
    // Read only when the bound neared the mark (more often as the buffer
    // fills): a few per cent of the sends, not one reading per send.
    assert.ok(
      socket.readings * 10 < sends,
      `${socket.readings} readings for ${sends} sends`,
    );
  }
});

Deno.test("mustWait() lets a single message larger than the mark through an empty buffer", async () => {
  const socket = new BufferingSocket();
  const driver = new SocketDriver(limits(1024));
  await driver.attach(socket);
  const big = new Uint8Array(4096);
  assert.equal(driver.mustWait(big), false);
  socket.send(big);
  assert.equal(driver.mustWait(big), true);
  socket.drain();
  assert.equal(driver.mustWait(big), false);
});

/** A socket that stays CONNECTING until told to open. */
class PendingSocket implements WebSocketLike {
  readyState = 0;
  bufferedAmount = 0;
  binaryType: BinaryType = "blob";
  closes = 0;
  closedWith: [number | undefined, string | undefined][] = [];
  #listener: EventListenerObject | undefined;
  send(): void {}
  close(code?: number, reason?: string): void {
    this.closes++;
    this.closedWith.push([code, reason]);
  }
  addEventListener(_type: string, listener: EventListenerObject): void {
    this.#listener = listener;
  }
  removeEventListener(): void {}
  emit(event: Event): void {
    this.#listener?.handleEvent(event);
  }
}

Deno.test("A socket that never opens is given up after the open timeout with 1006", async () => {
  const socket = new PendingSocket();
  const driver = new SocketDriver({ ...limits(1024), openTimeoutMs: 50 });
  const started = performance.now();
  await driver.attach(socket);
  assert.ok(performance.now() - started >= 45, "not before the timeout");
  assert.deepEqual(
    { code: driver.ended?.code, reason: driver.ended?.reason },
    { code: 1006, reason: "" },
  );
  assert.equal(socket.closes, 1);
  assert.ok(driver.settled);
  // The sanitizers check that no timer is left behind.
});

Deno.test("Sockets that open in time are never given up, and leave no timer", async () => {
  const sockets = [new PendingSocket(), new PendingSocket()];
  const drivers = sockets.map(() =>
    new SocketDriver({ ...limits(1024), openTimeoutMs: 50 })
  );
  const opened = drivers.map((driver, i) => driver.attach(sockets[i]));
  for (const socket of sockets) {
    socket.readyState = 1;
    socket.emit(new Event("open"));
  }
  await Promise.all(opened);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(drivers.map((driver) => driver.ended), [null, null]);
  for (const socket of sockets) {
    socket.readyState = 3;
    socket.emit(new CloseEvent("close", { code: 1000 }));
  }
  assert.deepEqual(drivers.map((driver) => driver.ended?.code), [1000, 1000]);
});

// (A function, so that TypeScript does not narrow `ended` after a check.)
function endOf(driver: SocketDriver): { code: number; reason: string } | null {
  const end = driver.ended;
  return end === null ? null : { code: end.code, reason: end.reason };
}

Deno.test("close() on a socket still connecting is made once it opens", async () => {
  // Deno 2.9.6 drops a close made before then and opens the socket anyway.
  const socket = new PendingSocket();
  const driver = new SocketDriver(limits(1024));
  const opened = driver.attach(socket);
  driver.close(4000, "bye");
  driver.close(4001, "again"); // the first close wins, as on an open socket
  assert.deepEqual(socket.closedWith, []);
  socket.readyState = 1;
  socket.emit(new Event("open"));
  await opened;
  assert.deepEqual(socket.closedWith, [[4000, "bye"]]);
  assert.equal(driver.ended, null, "ended by the close event, not before");
  socket.readyState = 3;
  socket.emit(new CloseEvent("close", { code: 4000, reason: "bye" }));
  assert.deepEqual(
    endOf(driver),
    { code: 4000, reason: "bye" },
  );
});

Deno.test("fail() before the socket opens ends at once and sends its close frame on open", async () => {
  const socket = new PendingSocket();
  const driver = new SocketDriver(limits(1024));
  const opened = driver.attach(socket);
  driver.fail(1001, "shutting down");
  assert.equal(driver.ended?.code, 1001);
  assert.deepEqual(socket.closedWith, []);
  socket.readyState = 1;
  socket.emit(new Event("open"));
  await opened;
  assert.deepEqual(socket.closedWith, [[1001, "shutting down"]]);
  socket.readyState = 3;
  socket.emit(new CloseEvent("close", { code: 1001 }));
  assert.ok(driver.settled);
});

Deno.test("queuedCost() counts what V8 holds: 2 bytes per code unit and 32 for text, the length and 224 for bytes", () => {
  assert.equal(queuedCost(""), 32);
  assert.equal(queuedCost("x".repeat(64)), 160);
  assert.equal(queuedCost(new Uint8Array(0)), 224);
  assert.equal(queuedCost(new Uint8Array(1000)), 1224);
});

Deno.test("Unread messages past maxQueuedBytes close with 1008; read ones no longer count", async () => {
  const socket = new PendingSocket();
  socket.readyState = 1;
  // Room for three 64-byte texts (160 each), not four.
  const driver = new SocketDriver({ ...limits(1024), maxQueuedBytes: 480 });
  await driver.attach(socket);
  const text = "x".repeat(64);
  const message = () =>
    socket.emit(new MessageEvent("message", { data: text }));
  for (let i = 0; i < 3; i++) message();
  assert.equal(driver.ended, null);
  // Read two: their bytes are free again.
  assert.equal(driver.next(), text);
  assert.equal(driver.next(), text);
  message();
  message();
  assert.equal(driver.ended, null, "three unread, within the bound");
  message();
  assert.deepEqual(
    endOf(driver),
    { code: 1008, reason: "Too many unread bytes" },
  );
  assert.deepEqual(socket.closedWith, [[1008, "Too many unread bytes"]]);
  // What was queued before the limit is still read, then the end.
  for (let i = 0; i < 3; i++) assert.equal(driver.next(), text);
  assert.equal((driver.next() as { code: number }).code, 1008);
});
