import type { Logger, RealtimeControl } from "@n2store/core";
import type { Schema } from "@n2store/generated";
import { sql } from "kysely";
import type { DatabaseHandle, HeldLock } from "../db/database.js";
import type { BrowserHub } from "./hub.js";
import { PhoenixClient, type PhoenixState } from "./phoenix-client.js";

type Status = Schema<"RealtimeStatus">;
type ServerMessage = Schema<"RealtimeServerMessage">;

/** The advisory lock whose holder keeps the one upstream socket of the cluster. */
const LEADER_LOCK_KEY = 0x4e32_5254; // "N2RT"
/** NOTIFY channel telling the holder that the desired state changed. */
const CONTROL_CHANNEL = "n2store_realtime_control";

/** Pancake events relayed to browsers, as the spec's RealtimeServerMessage types. */
const RELAYED = new Set<ServerMessage["type"]>([
  "pages:update_conversation",
  "pages:new_message",
  "pages:seen_conversation",
  "order:tags_updated",
]);

/** Options of the realtime service. */
export interface RealtimeServiceOptions {
  readonly database: DatabaseHandle;
  readonly hub: BrowserHub;
  readonly wsUrl: URL;
  readonly instanceId: string;
  readonly log: Logger;
  /** How often a standby instance tries to take over. */
  readonly leaderPollMs: number;
  readonly heartbeatMs?: number;
  readonly reconnectBaseMs?: number;
}

function isRelayable(event: string, payload: unknown): event is ServerMessage["type"] {
  if (!RELAYED.has(event as ServerMessage["type"]) || typeof payload !== "object" || payload === null) {
    return false;
  }
  if (event !== "pages:update_conversation") {
    return true;
  }
  const conversation = (payload as { conversation?: { id?: unknown; page_id?: unknown } }).conversation;
  return typeof conversation?.id === "string" && typeof conversation.page_id === "string";
}

/**
 * The cluster's Pancake relay. Credentials and the desired state live in `realtime_session`, so
 * any instance can start, stop or report it. Exactly one instance holds the upstream socket: the
 * holder of a PostgreSQL session advisory lock. The others retry the lock every `leaderPollMs`, so
 * when the holder dies (its connection, and so its lock, goes away) another takes over within
 * seconds. Events go to every instance's browsers through the BrowserHub.
 */
export class RealtimeService implements RealtimeControl {
  private closed = false;
  private leading = false;
  private phoenix: PhoenixClient | undefined;
  private generation = -1;
  private reconciling: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  private stopLeading: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private state: PhoenixState = "stopped";
  private lastEventAt: Date | null = null;
  /** State writes, chained so they reach the database in the order they were made. */
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly options: RealtimeServiceOptions) {}

  /** Whether this instance holds the upstream socket. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** The upstream socket's state as this instance knows it (stopped when it is not the holder). */
  get localState(): PhoenixState {
    return this.leading ? this.state : "stopped";
  }

  /** Starts competing for the upstream socket. */
  run(): void {
    this.loopDone = this.loop();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    this.stopLeading?.();
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      let lock: HeldLock | null = null;
      try {
        lock = await this.options.database.tryLock(LEADER_LOCK_KEY);
      } catch (error) {
        this.options.log.warn({ err: error }, "could not try the realtime leader lock");
      }
      if (lock !== null) {
        await this.lead(lock);
      }
      if (!this.closed) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          setTimeout(resolve, this.options.leaderPollMs).unref();
        });
      }
    }
  }

  private async lead(lock: HeldLock): Promise<void> {
    const { database, log, instanceId } = this.options;
    this.leading = true;
    // The lock alone is no socket: with no session started there is nothing to say at info.
    log.debug({ instanceId }, "this instance holds the realtime lock");
    const stopped = new Promise<void>((resolve) => {
      this.stopLeading = resolve;
    });
    let unlisten: (() => Promise<void>) | undefined;
    const flush = setInterval(() => void this.writeState({}), 5000);
    flush.unref();
    try {
      unlisten = await database.listen(CONTROL_CHANNEL, () => void this.reconcile());
      await this.reconcile();
      await Promise.race([lock.lost, stopped]);
    } catch (error) {
      log.warn({ err: error }, "lost the realtime lead");
    } finally {
      clearInterval(flush);
      await unlisten?.().catch(() => {});
      await this.reconciling;
      const held = this.detach();
      await held?.stop();
      this.generation = -1;
      await database.db
        .updateTable("realtime_session")
        .set({ leader_instance_id: null, updated_at: new Date() })
        .where("leader_instance_id", "=", instanceId)
        .execute()
        .catch(() => {});
      await lock.release();
      this.leading = false;
      this.state = "stopped";
      if (held !== undefined) {
        log.info({ instanceId }, "this instance no longer holds the Pancake socket");
      } else {
        log.debug({ instanceId }, "this instance released the realtime lock");
      }
    }
  }

  /** Makes the upstream socket match the stored desired state (serialised). */
  private reconcile(): Promise<void> {
    this.reconciling = this.reconciling.then(async () => {
      if (!this.leading) {
        return;
      }
      try {
        const row = await this.options.database.db
          .selectFrom("realtime_session")
          .selectAll()
          .where("id", "=", 1)
          .executeTakeFirst();
        if (row === undefined || row.desired !== "running" || !row.token || !row.user_id) {
          const held = this.detach();
          if (held !== undefined) {
            await held.stop();
            this.options.log.info(
              { instanceId: this.options.instanceId },
              "realtime stopped: closed the Pancake socket",
            );
          }
          this.generation = row?.generation ?? -1;
          await this.changed("stopped", { error: null, attempts: 0 });
          return;
        }
        if (row.generation === this.generation && this.phoenix !== undefined) {
          return;
        }
        const replaced = this.detach();
        await replaced?.stop();
        // The next client starts from nothing: its "connected" is a new connection.
        this.state = "stopped";
        this.generation = row.generation;
        this.options.log.info(
          { instanceId: this.options.instanceId },
          replaced !== undefined
            ? "realtime session changed: this instance reopens the Pancake socket"
            : "this instance holds the Pancake socket",
        );
        const client: PhoenixClient = new PhoenixClient({
          url: this.options.wsUrl,
          token: row.token,
          userId: row.user_id,
          pageIds: row.page_ids,
          cookie: row.cookie,
          log: this.options.log,
          onEvent: (event, payload) => this.relay(event, payload),
          // A replaced or stopped client's last words ("stopped") must not overwrite the
          // state of the one that followed it.
          onState: (state, detail) => {
            if (this.phoenix === client) {
              void this.changed(state, detail);
            }
          },
          ...(this.options.heartbeatMs ? { heartbeatMs: this.options.heartbeatMs } : {}),
          ...(this.options.reconnectBaseMs ? { reconnectBaseMs: this.options.reconnectBaseMs } : {}),
        });
        this.phoenix = client;
        client.start();
      } catch (error) {
        this.options.log.warn({ err: error }, "could not apply the realtime session");
      }
    });
    return this.reconciling;
  }

  /** Takes the current client out of service (its state callbacks are ignored from now on). */
  private detach(): PhoenixClient | undefined {
    const client = this.phoenix;
    this.phoenix = undefined;
    return client;
  }

  private relay(event: string, payload: unknown): void {
    this.lastEventAt = new Date();
    if (!isRelayable(event, payload)) {
      this.options.log.debug({ event }, "Pancake event not relayed");
      return;
    }
    void this.options.hub
      .publish({ type: event, payload } as ServerMessage)
      .catch((error: unknown) =>
        this.options.log.warn({ err: error, event }, "could not publish a Pancake event"),
      );
  }

  private async changed(
    state: PhoenixState,
    detail: { error: string | null; attempts: number },
  ): Promise<void> {
    const previous = this.state;
    this.state = state;
    await this.writeState({
      state,
      last_error: detail.error,
      reconnect_attempts: detail.attempts,
      ...(state === "connected" && previous !== "connected" ? { connected_at: new Date() } : {}),
    });
    if (state !== previous) {
      await this.options.hub
        .publish({ type: "realtime:status", payload: { state, error: detail.error } })
        .catch(() => {});
    }
  }

  private writeState(changes: {
    state?: PhoenixState;
    last_error?: string | null;
    reconnect_attempts?: number;
    connected_at?: Date;
  }): Promise<void> {
    this.writes = this.writes.then(() => this.write(changes));
    return this.writes;
  }

  private async write(changes: Parameters<RealtimeService["writeState"]>[0]): Promise<void> {
    if (!this.leading) {
      return;
    }
    await this.options.database.db
      .updateTable("realtime_session")
      .set({
        ...changes,
        leader_instance_id: this.options.instanceId,
        ...(this.lastEventAt !== null ? { last_event_at: this.lastEventAt } : {}),
        updated_at: new Date(),
      })
      .where("id", "=", 1)
      .execute()
      .catch((error: unknown) =>
        this.options.log.warn({ err: error }, "could not record the realtime state"),
      );
  }

  /** RealtimeControl.start: store the credentials, bump the generation, wake the holder. */
  async start(request: Schema<"RealtimeStartRequest">): Promise<Status> {
    const { database } = this.options;
    const values = {
      desired: "running" as const,
      token: request.token,
      cookie: request.cookie ?? null,
      user_id: request.userId,
      page_ids: JSON.stringify(request.pageIds),
      state: "connecting" as const,
      reconnect_attempts: 0,
      last_error: null,
      updated_at: new Date(),
    };
    await database.db
      .insertInto("realtime_session")
      .values({ id: 1, ...values })
      .onConflict((conflict) =>
        conflict.column("id").doUpdateSet({ ...values, generation: sql`realtime_session.generation + 1` }),
      )
      .execute();
    await database.notify(CONTROL_CHANNEL, "changed");
    return this.status();
  }

  /** RealtimeControl.stop: the holder closes the upstream socket. */
  async stop(): Promise<Status> {
    const { database } = this.options;
    await database.db
      .updateTable("realtime_session")
      .set({ desired: "stopped", generation: sql`generation + 1`, updated_at: new Date() })
      .where("id", "=", 1)
      .execute();
    await database.notify(CONTROL_CHANNEL, "changed");
    return this.status();
  }

  /** RealtimeControl.status: the stored state, and what this instance knows. */
  async status(): Promise<Status> {
    const row = await this.options.database.db
      .selectFrom("realtime_session")
      .select([
        "desired",
        "state",
        "user_id",
        "page_ids",
        "leader_instance_id",
        "connected_at",
        "last_event_at",
        "reconnect_attempts",
        "last_error",
        "updated_at",
      ])
      .where("id", "=", 1)
      .executeTakeFirst();
    const iso = (value: Date | string | null | undefined) =>
      value == null ? null : new Date(value).toISOString();
    const state = row?.state ?? "stopped";
    return {
      success: true,
      connected: state === "connected",
      desired: row?.desired ?? "stopped",
      state,
      userId: row?.user_id ?? null,
      pageIds: row?.page_ids ?? [],
      leaderInstanceId: row?.leader_instance_id ?? null,
      isLeader: this.leading,
      connectedAt: iso(row?.connected_at),
      lastEventAt: iso(row?.last_event_at),
      reconnectAttempts: row?.reconnect_attempts ?? 0,
      lastError: row?.last_error ?? null,
      browserClients: this.options.hub.size,
      updatedAt: iso(row?.updated_at),
    };
  }
}
