import type {
  BeginOutcome,
  IdempotencyClaim,
  IdempotencyStore,
  KeyRef,
  Progress,
  StoredResponse,
} from "@n2store/core";
import { SqlIdempotencyStore } from "@n2store/core/idempotency-sql";
import type { Schema } from "@n2store/generated";
import pg from "pg";

/**
 * The idempotency store shared with the Node server, reached through the Hyperdrive binding. A
 * Worker cannot keep a connection across requests, so one is opened on first use within a request
 * and closed when the request is done (`close`, handed to ctx.waitUntil); Hyperdrive pools the real
 * connections to PostgreSQL.
 */
export class HyperdriveIdempotencyStore implements IdempotencyStore {
  private client: pg.Client | undefined;
  private connected: Promise<void> | undefined;
  private readonly store = new SqlIdempotencyStore(
    async <Row>(text: string, parameters: readonly unknown[]) => {
      await this.connect();
      const result = await (this.client as pg.Client).query(text, [...parameters]);
      return { rows: result.rows as Row[] };
    },
  );

  constructor(private readonly hyperdrive: Hyperdrive) {}

  private connect(): Promise<void> {
    if (this.connected === undefined) {
      this.client = new pg.Client({
        connectionString: this.hyperdrive.connectionString,
        connectionTimeoutMillis: 5000,
      });
      // A broken connection must fail the statement, never crash the isolate.
      this.client.on("error", () => {});
      this.connected = this.client.connect().then(() => undefined);
    }
    return this.connected as Promise<void>;
  }

  begin(claim: IdempotencyClaim): Promise<BeginOutcome> {
    return this.store.begin(claim);
  }

  complete(ref: KeyRef, response: StoredResponse): Promise<void> {
    return this.store.complete(ref, response);
  }

  saveProgress(ref: KeyRef, progress: Progress): Promise<void> {
    return this.store.saveProgress(ref, progress);
  }

  release(ref: KeyRef): Promise<void> {
    return this.store.release(ref);
  }

  /** Closes the connection if this request opened one. */
  async close(): Promise<void> {
    if (this.client !== undefined) {
      await this.client.end().catch(() => {});
    }
  }
}

/** How long `/health` waits for the store before calling it unreachable (the SDK's probe allows 2 s). */
export const STORE_CHECK_TIMEOUT_MS = 1000;

/**
 * The check `/health` runs: whether the store's table exists (a database without the schema is no
 * store either), reading no row. `clock_timestamp()` is volatile, and Hyperdrive never answers a
 * query with a volatile function from its cache: the answer comes from PostgreSQL itself, not from a
 * cache that outlives the database. It asks rather than selects from the table: a statement that
 * fails gets its ErrorResponse before its ReadyForQuery, and a client that hangs up in between
 * leaves bytes unread, which makes workerd reset the connection and, under `wrangler dev`, kills
 * wrangler's local Hyperdrive proxy (seen: every later request refused).
 */
export const STORE_CHECK_SQL =
  "SELECT to_regclass('idempotency_keys') IS NOT NULL AS migrated, clock_timestamp() AS checked_at";

/**
 * Whether the store answers now: a connection of its own through Hyperdrive and one uncached
 * statement, within `timeoutMs`. Never throws. The connection is closed through `defer`
 * (ctx.waitUntil), so a database that hangs does not hold up the answer.
 */
export async function checkHyperdriveStore(
  hyperdrive: Hyperdrive,
  defer: (work: Promise<unknown>) => void,
  timeoutMs = STORE_CHECK_TIMEOUT_MS,
): Promise<NonNullable<Schema<"Health">["idempotencyStore"]>> {
  const started = Date.now();
  const client = new pg.Client({
    connectionString: hyperdrive.connectionString,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on("error", () => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        const { rows } = await client.query<{ migrated: boolean }>(STORE_CHECK_SQL);
        if (rows[0]?.migrated !== true) {
          throw new Error("the idempotency-key table does not exist");
        }
      })(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("the store check timed out")), timeoutMs);
      }),
    ]);
    // workerd's clock moves on I/O, which is what this measures (whole milliseconds).
    return { configured: true, reachable: true, latencyMs: Date.now() - started };
  } catch {
    return { configured: true, reachable: false };
  } finally {
    clearTimeout(timer);
    defer(client.end().catch(() => {}));
  }
}
