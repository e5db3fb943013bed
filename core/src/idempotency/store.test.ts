import { PGlite } from "@electric-sql/pglite";
import type { AnyResult } from "@n2store/generated";
import { Kysely, type Migration, Migrator } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqlIdempotencyStore } from "../db/idempotency-store.js";
import { migrations } from "../db/migrations.js";
import { PGliteDialect } from "../db/pglite-dialect.js";
import type { SharedDeps } from "../deps.js";
import { ApiError } from "../errors.js";
import { testDeps } from "../testing/deps.js";
import { MemoryIdempotencyStore } from "../testing/memory-idempotency-store.js";
import type { CallProgress } from "./progress.js";
import { IDEMPOTENCY_LEASE_MS, IDEMPOTENCY_TTL_MS, runIdempotent } from "./run.js";
import type { IdempotencyClaim, IdempotencyStore, StoredResponse } from "./store.js";

const T0 = Date.UTC(2026, 11, 3, 9);
const OK: StoredResponse = {
  status: 200,
  headers: {},
  body: { kind: "json", value: { success: true, message_ids: ["m_2", "m_1"] } },
};

let counter = 0;
function claim(overrides: Partial<IdempotencyClaim> = {}): IdempotencyClaim {
  counter += 1;
  return {
    scope: "scope-a",
    key: `key-${counter}`,
    operationId: "sendFacebookMessage",
    requestHash: "hash-a",
    now: new Date(T0),
    ttlMs: IDEMPOTENCY_TTL_MS,
    leaseMs: IDEMPOTENCY_LEASE_MS,
    ...overrides,
  };
}

const at = (base: IdempotencyClaim, ms: number, overrides: Partial<IdempotencyClaim> = {}) => ({
  ...base,
  now: new Date(T0 + ms),
  ...overrides,
});

async function sqlStore(): Promise<{ store: SqlIdempotencyStore; close(): Promise<void> }> {
  const pglite = new PGlite();
  const db = new Kysely<unknown>({ dialect: new PGliteDialect(pglite) });
  const migrated = await new Migrator({
    db,
    provider: { getMigrations: async (): Promise<Record<string, Migration>> => migrations },
  }).migrateToLatest();
  if (migrated.error !== undefined) {
    throw migrated.error;
  }
  const store = new SqlIdempotencyStore(async <Row>(text: string, parameters: readonly unknown[]) => {
    const result = await pglite.query<Row>(text, [...parameters]);
    return { rows: result.rows };
  });
  return {
    store,
    // The dialect's destroy() closes PGlite.
    close: () => db.destroy(),
  };
}

function deps(now: () => number): SharedDeps {
  return testDeps({ now, runtime: "node" });
}

/** A store whose progress cannot be written (its database went away mid-call, say). */
function failingProgress(store: IdempotencyStore): IdempotencyStore {
  return {
    begin: (c) => store.begin(c),
    complete: (ref, response, now) => store.complete(ref, response, now),
    saveProgress: async () => {
      throw new Error("connection terminated");
    },
    release: (ref) => store.release(ref),
  };
}

const implementations: [string, () => Promise<{ store: IdempotencyStore; close(): Promise<void> }>][] = [
  ["MemoryIdempotencyStore", async () => ({ store: new MemoryIdempotencyStore(), close: async () => {} })],
  ["SqlIdempotencyStore on PGlite (migrated)", sqlStore],
];

describe.each(implementations)("%s", (_name, open) => {
  let store: IdempotencyStore;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ store, close } = await open());
  }, 30_000);
  afterAll(async () => {
    await close();
  });

  it("starts a new key with no progress; a second claim while it runs is in flight, then abandoned", async () => {
    const first = claim();
    expect(await store.begin(first)).toEqual({ outcome: "started", progress: {} });
    expect(await store.begin(at(first, 1000))).toEqual({ outcome: "in_flight", abandoned: false });
    expect(await store.begin(at(first, IDEMPOTENCY_LEASE_MS))).toEqual({
      outcome: "in_flight",
      abandoned: true,
    });
  });

  it("replays a completed key exactly, and refuses it to another request", async () => {
    const first = claim();
    await store.begin(first);
    await store.complete(first, OK, first.now);
    expect(await store.begin(at(first, 5))).toEqual({ outcome: "replay", response: OK });
    expect(await store.begin(at(first, 5, { requestHash: "hash-b" }))).toEqual({ outcome: "mismatch" });
  });

  it("forgets a released key without progress: any request may claim it", async () => {
    const first = claim();
    await store.begin(first);
    await store.release(first);
    expect(await store.begin(at(first, 5, { requestHash: "hash-b" }))).toEqual({
      outcome: "started",
      progress: {},
    });
  });

  it("keeps a released key's progress for the same request only, which resumes from it", async () => {
    const first = claim();
    await store.begin(first);
    await store.saveProgress(first, { "image:0": { message_id: "m_1" } });
    await store.saveProgress(first, {
      "image:0": { message_id: "m_1" },
      "image:1": { message_id: "m_2" },
    });
    await store.release(first);
    expect(await store.begin(at(first, 5, { requestHash: "hash-b" }))).toEqual({ outcome: "mismatch" });
    const resumed = await store.begin(at(first, 10));
    expect(resumed).toEqual({
      outcome: "started",
      progress: { "image:0": { message_id: "m_1" }, "image:1": { message_id: "m_2" } },
    });
    // Resumed, it is held again: a duplicate is told it is in flight, then it completes as usual.
    expect(await store.begin(at(first, 20))).toEqual({ outcome: "in_flight", abandoned: false });
    await store.complete(first, OK, new Date(T0 + 30));
    expect(await store.begin(at(first, 40))).toEqual({ outcome: "replay", response: OK });
  });

  it("starts an expired released key over, without its progress", async () => {
    const first = claim();
    await store.begin(first);
    await store.saveProgress(first, { text: { message_id: "m_1" } });
    await store.release(first);
    expect(await store.begin(at(first, IDEMPOTENCY_TTL_MS))).toEqual({ outcome: "started", progress: {} });
  });

  it("refuses to record progress on a key this request does not hold", async () => {
    const done = claim();
    await store.begin(done);
    await store.complete(done, OK, done.now);
    await expect(store.saveProgress(done, { text: {} })).rejects.toThrow(/no longer held/);
    await expect(
      store.saveProgress({ scope: "scope-a", key: "never-claimed" }, { text: {} }),
    ).rejects.toThrow(/no longer held/);
    const released = claim();
    await store.begin(released);
    await store.saveProgress(released, { a: 1 });
    await store.release(released);
    await expect(store.saveProgress(released, { a: 2 })).rejects.toThrow(/no longer held/);
  });

  it("keeps one key text of two callers (scopes) apart: neither sees nor blocks the other", async () => {
    const mine = claim({ scope: "caller-a" });
    const theirs = { ...mine, scope: "caller-b" };
    expect(await store.begin(mine)).toEqual({ outcome: "started", progress: {} });
    // While mine runs, theirs with the same key text starts too: it is another key.
    expect(await store.begin(theirs)).toEqual({ outcome: "started", progress: {} });
    await store.complete(mine, OK, mine.now);
    expect(await store.begin(at(mine, 10))).toEqual({ outcome: "replay", response: OK });
    // Theirs is still its own, in flight, and completes with its own answer.
    expect(await store.begin(at(theirs, 10))).toEqual({ outcome: "in_flight", abandoned: false });
    const other: StoredResponse = { ...OK, status: 202 };
    await store.complete(theirs, other, theirs.now);
    expect(await store.begin(at(theirs, 20))).toEqual({ outcome: "replay", response: other });
    expect(await store.begin(at(mine, 20))).toEqual({ outcome: "replay", response: OK });
  });

  describe("through runIdempotent (the progress port handlers get)", () => {
    /** A two-step call: step a, then step b, each recorded; `failB` refuses step b definitely. */
    function twoSteps(sent: string[], failB: boolean) {
      return async (progress: CallProgress): Promise<AnyResult> => {
        for (const step of ["a", "b"]) {
          if (progress.get(step) !== undefined) {
            continue;
          }
          if (step === "b" && failB) {
            throw new ApiError("FB_RATE_LIMITED", "slow down", { nothingSent: true });
          }
          sent.push(step);
          await progress.record(step, { message_id: `m_${step}` });
        }
        return { status: 200, body: { a: progress.get("a"), b: progress.get("b") } };
      };
    }

    it("resumes after a definite refusal part-way: the retry runs only the missing step", async () => {
      const { key } = claim();
      const identity = { scope: "", key, operationId: "sendFacebookMessage", requestHash: "hash-a" };
      const sent: string[] = [];
      let now = T0;
      const refusal = runIdempotent(
        store,
        identity,
        deps(() => now),
        twoSteps(sent, true),
      );
      await expect(refusal).rejects.toMatchObject({ code: "FB_RATE_LIMITED" });
      expect(sent).toEqual(["a"]);
      now += 60_000;
      const retry = await runIdempotent(
        store,
        identity,
        deps(() => now),
        twoSteps(sent, false),
      );
      expect(retry).toEqual({ status: 200, body: { a: { message_id: "m_a" }, b: { message_id: "m_b" } } });
      expect(sent).toEqual(["a", "b"]);
      const replay = await runIdempotent(
        store,
        identity,
        deps(() => now),
        twoSteps(sent, false),
      );
      expect(replay).toMatchObject({ status: 200, headers: { "idempotent-replayed": "true" } });
      expect(sent).toEqual(["a", "b"]);
    });

    it("stores the refusal instead of releasing when a step could not be recorded", async () => {
      const { key } = claim();
      const identity = { scope: "", key, operationId: "sendFacebookMessage", requestHash: "hash-a" };
      const sent: string[] = [];
      const broken = failingProgress(store);
      await expect(
        runIdempotent(
          broken,
          identity,
          deps(() => T0),
          twoSteps(sent, true),
        ),
      ).rejects.toMatchObject({
        code: "FB_RATE_LIMITED",
      });
      // The retry must not send step a again: it gets the stored refusal.
      const retry = await runIdempotent(
        store,
        identity,
        deps(() => T0 + 1000),
        twoSteps(sent, false),
      );
      expect(retry).toMatchObject({ status: 429, headers: { "idempotent-replayed": "true" } });
      expect(sent).toEqual(["a"]);
    });
  });
});

describe("SqlIdempotencyStore.purgeExpired", () => {
  it("deletes at most `limit` expired keys a call, the longest expired first, and never a live one", async () => {
    const { store, close } = await sqlStore();
    try {
      for (let i = 0; i < 5; i++) {
        const expiring = claim({ ttlMs: 1000 + i });
        await store.begin(expiring);
        await store.complete(expiring, OK);
      }
      const live = claim();
      await store.begin(live);
      await store.complete(live, OK);
      const later = new Date(T0 + 60_000);
      expect(await store.purgeExpired(later, 3)).toBe(3);
      expect(await store.purgeExpired(later, 3)).toBe(2);
      expect(await store.purgeExpired(later, 3)).toBe(0);
      expect(await store.begin(at(live, 60_000))).toEqual({ outcome: "replay", response: OK });
    } finally {
      await close();
    }
  }, 30_000); // a PGlite of its own starts inside the test: seconds on a loaded 2-core machine
});
