/**
 * Nothing is lost and nothing is recorded twice: 1000 SePay deliveries (30 % of them duplicates)
 * sent concurrently to two Node instances on one PostgreSQL, which is restarted in the middle.
 * SePay's sender retries anything that is not a 2xx on its schedule (scaled down here), as SePay
 * does; afterwards there is exactly one row per unique transaction, and every delivery that got a
 * 2xx is in the table. Runs on a private PostgreSQL so the restart disturbs no other test.
 */
import { createSepaySender, type SepayTransaction, sepayTransaction } from "@n2store/testkit/fakes";
import { type ScratchPostgres, startScratchPostgres } from "@n2store/testkit/postgres";
import { type NodeProcess, SEPAY_KEY, startNodeProcess } from "@n2store/testkit/servers";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const UNIQUE = 700;
const DUPLICATES = 300;
const CONCURRENCY = 60;

const scratch = await startScratchPostgres().catch((error: unknown) => {
  console.warn(`SePay storm skipped: cannot start a private PostgreSQL (${String(error)})`);
  return null;
});

describe.skipIf(scratch === null)("SePay storm: two instances, one PostgreSQL restarted mid-way", () => {
  let database: ScratchPostgres;
  let a: NodeProcess;
  let b: NodeProcess;

  beforeAll(async () => {
    database = scratch as ScratchPostgres;
    const env = {
      DATABASE_URL: database.url,
      SEPAY_API_KEY: SEPAY_KEY,
      N2STORE_API_KEYS: "k",
      LOG_LEVEL: "warn",
    };
    a = await startNodeProcess("storm-a", env);
    b = await startNodeProcess("storm-b", env);
  }, 90_000);

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await database?.stop();
  });

  it("records every unique transaction exactly once, including every one that got a 2xx", async () => {
    const payloads: SepayTransaction[] = Array.from({ length: UNIQUE }, () => sepayTransaction());
    const deliveries = [
      ...payloads,
      ...Array.from({ length: DUPLICATES }, (_, i) => payloads[(i * 7) % UNIQUE] as SepayTransaction),
    ];
    // Shuffle with a fixed rule so duplicates interleave with originals.
    deliveries.sort((x, y) => ((x.id * 2654435761) % 1000) - ((y.id * 2654435761) % 1000));
    // One SePay minute becomes 300 ms: 8 attempts span ~10 s, longer than the restart.
    const senders = [a, b].map((instance) =>
      createSepaySender({
        url: `${instance.url}/api/sepay/webhook`,
        auth: { mode: "apikey", key: SEPAY_KEY },
        timeoutMs: 5000,
        timeScale: 300 / 60_000,
      }),
    );

    const outcomes: { id: number; delivered: boolean; got2xx: boolean }[] = [];
    let next = 0;
    let restarted: Promise<void> | undefined;
    const worker = async () => {
      while (next < deliveries.length) {
        const index = next++;
        const payload = deliveries[index] as SepayTransaction;
        if (index === Math.floor(deliveries.length * 0.4)) {
          restarted = database.restart(1500);
        }
        const result = await (senders[index % 2] ?? senders[0])?.deliver(payload);
        outcomes.push({
          id: payload.id,
          delivered: result?.delivered === true,
          got2xx: (result?.attempts ?? []).some(
            (attempt) => (attempt.status ?? 0) >= 200 && (attempt.status ?? 0) < 300,
          ),
        });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await restarted;

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const rows = await client.query<{ id: string }>("SELECT id FROM sepay_logs");
    await client.end();
    const stored = new Set(rows.rows.map((row) => Number(row.id)));

    const attempts = (
      await Promise.all(senders.flatMap((sender) => sender.deliveries.map((delivery) => delivery.result)))
    ).flatMap((result) => result.attempts);
    const refused = attempts.filter((attempt) => attempt.status === undefined || attempt.status >= 300);
    console.log(
      `SePay storm: ${deliveries.length} deliveries (${DUPLICATES} duplicates) over 2 instances, PostgreSQL restarted; ` +
        `${attempts.length} attempts, ${refused.length} refused during the restart (${refused.filter((r) => r.status === 503).length} of them 503) and retried; ` +
        `${rows.rows.length} rows for ${UNIQUE} unique ids`,
    );
    // The restart really hit deliveries in flight: some were refused and SePay's retries carried them.
    expect(refused.length).toBeGreaterThan(0);
    expect(rows.rows.length).toBe(stored.size);
    for (const outcome of outcomes) {
      if (outcome.got2xx) {
        expect(stored.has(outcome.id), `id ${outcome.id} got a 2xx but is not stored`).toBe(true);
      }
    }
    // SePay's retries carried every delivery through the restart.
    expect(outcomes.every((outcome) => outcome.delivered)).toBe(true);
    expect(stored.size).toBe(UNIQUE);
  }, 180_000);
});
