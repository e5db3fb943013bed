import { SqlIdempotencyStore } from "@n2store/core/idempotency-sql";
import type { Schema } from "@n2store/generated";
import pg from "pg";

/**
 * One request's connection to PostgreSQL through the Hyperdrive binding. A Worker cannot keep a
 * connection across requests, so it is opened on first use and closed when the request is done;
 * Hyperdrive pools the real connections.
 */
class HyperdriveConnection {
  private client: pg.Client | undefined;
  private connected: Promise<void> | undefined;

  constructor(private readonly hyperdrive: Hyperdrive) {}

  async query<Row>(text: string, parameters: readonly unknown[]): Promise<{ rows: Row[] }> {
    if (this.connected === undefined) {
      this.client = new pg.Client({
        connectionString: this.hyperdrive.connectionString,
        connectionTimeoutMillis: 5000,
      });
      // A broken connection must fail the statement, never crash the isolate.
      this.client.on("error", () => {});
      this.connected = this.client.connect().then(() => undefined);
    }
    await this.connected;
    const result = await (this.client as pg.Client).query(text, [...parameters]);
    return { rows: result.rows as Row[] };
  }

  /** Closes the connection if this request opened one. */
  async close(): Promise<void> {
    await this.client?.end().catch(() => {});
  }
}

/**
 * The idempotency store shared with the Node server: the same SQL store, its statements run over
 * this request's Hyperdrive connection. `close` is handed to ctx.waitUntil.
 */
export class HyperdriveIdempotencyStore extends SqlIdempotencyStore {
  private readonly connection: HyperdriveConnection;

  constructor(hyperdrive: Hyperdrive) {
    const connection = new HyperdriveConnection(hyperdrive);
    super((text, parameters) => connection.query(text, parameters));
    this.connection = connection;
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

/** How long `/health` waits for the store before calling it unreachable (the SDK's probe allows 2 s). */
const STORE_CHECK_TIMEOUT_MS = 1000;

/**
 * The check `/health` runs: whether the store's table exists (a database without the schema is no
 * store either), reading no row. `clock_timestamp()` is volatile, and Hyperdrive never answers a
 * query with a volatile function from its cache: the answer comes from PostgreSQL itself, not from a
 * cache that outlives the database. It asks rather than selects from the table: a statement that
 * fails gets its ErrorResponse before its ReadyForQuery, and a client that hangs up in between
 * leaves bytes unread, which makes workerd reset the connection and, under `wrangler dev`, kills
 * wrangler's local Hyperdrive proxy (seen: every later request refused).
 */
const STORE_CHECK_SQL =
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
