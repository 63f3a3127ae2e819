// The group commit of RedisStreamBackend's publications (_publish_batches.ts).
import assert from "node:assert/strict";
import { PublishBatches } from "../_publish_batches.ts";

const bytes = (n: number) => new Uint8Array([n]);

// A send that records each batch and answers when told to.
function recorder() {
  const batches: { channel: string; payloads: number[] }[] = [];
  const answers: PromiseWithResolvers<void>[] = [];
  let offset = 0;
  const publisher = new PublishBatches(async (channel, payloads) => {
    batches.push({ channel, payloads: payloads.map((p) => p[0]) });
    const answer = Promise.withResolvers<void>();
    answers.push(answer);
    await answer.promise;
    const first = offset + 1;
    offset += payloads.length;
    return { epoch: "e", first };
  });
  return { batches, answers, publisher };
}

Deno.test("PublishBatches: what one turn publishes goes in one batch; what comes while it is out goes next, in order", async () => {
  const { batches, answers, publisher } = recorder();
  const first = [1, 2, 3].map((n) => publisher.add("room", bytes(n)));
  await Promise.resolve();
  assert.deepEqual(batches, [{ channel: "room", payloads: [1, 2, 3] }]);
  // While it is on its way.
  const later = [4, 5].map((n) => publisher.add("room", bytes(n)));
  await Promise.resolve();
  assert.equal(batches.length, 1);
  answers[0].resolve();
  assert.deepEqual((await Promise.all(first)).map((p) => p.offset), [1, 2, 3]);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(batches[1], { channel: "room", payloads: [4, 5] });
  answers[1].resolve();
  assert.deepEqual(await Promise.all(later), [
    { epoch: "e", offset: 4 },
    { epoch: "e", offset: 5 },
  ]);
});

Deno.test("PublishBatches: channels are batched apart and do not wait for each other", async () => {
  const { batches, answers, publisher } = recorder();
  const a = publisher.add("a", bytes(1));
  const b = publisher.add("b", bytes(2));
  await Promise.resolve();
  assert.deepEqual(batches, [
    { channel: "a", payloads: [1] },
    { channel: "b", payloads: [2] },
  ]);
  answers[1].resolve();
  assert.equal((await b).offset, 1);
  answers[0].resolve();
  assert.equal((await a).offset, 2);
});

Deno.test("PublishBatches: a failed batch rejects its publications only; the next batch still goes", async () => {
  let calls = 0;
  const publisher = new PublishBatches((_channel, payloads) => {
    calls++;
    if (calls === 1) return Promise.reject(new Error("Redis is away"));
    return Promise.resolve({ epoch: "e", first: 10 + payloads.length });
  });
  const failed = [1, 2].map((n) => publisher.add("room", bytes(n)));
  const next = publisher.add("room", bytes(3)); // the same turn: same batch
  await assert.rejects(failed[0], /Redis is away/);
  await assert.rejects(failed[1], /Redis is away/);
  await assert.rejects(next, /Redis is away/);
  assert.deepEqual(await publisher.add("room", bytes(4)), {
    epoch: "e",
    offset: 11,
  });
  assert.equal(calls, 2);
});

Deno.test("PublishBatches: a batch holds at most 256 publications and 1 MiB (a bigger one goes alone)", async () => {
  const sizes: number[][] = [];
  const publisher = new PublishBatches((_channel, payloads) => {
    sizes.push(payloads.map((p) => p.length));
    return Promise.resolve({ epoch: "e", first: 1 });
  });
  const small = Array.from({ length: 300 }, () => publisher.add("c", bytes(0)));
  await Promise.all(small);
  assert.deepEqual(sizes.map((batch) => batch.length), [256, 44]);
  sizes.length = 0;
  const big = 600 * 1024;
  await Promise.all([
    publisher.add("c", new Uint8Array(big)),
    publisher.add("c", new Uint8Array(big)),
    publisher.add("c", new Uint8Array(2 << 20)),
  ]);
  assert.deepEqual(sizes, [[big], [big], [2 << 20]]);
});
