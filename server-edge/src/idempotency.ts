import type {
  BeginOutcome,
  IdempotencyClaim,
  IdempotencyStore,
  KeyRef,
  Progress,
  StoredResponse,
} from "@n2store/core";
import { SqlIdempotencyStore } from "@n2store/core/idempotency-sql";
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
