import type { Logger } from "@n2store/core";
import type { Schema } from "@n2store/generated";
import { sql } from "kysely";
import type WebSocket from "ws";
import type { DatabaseHandle } from "../db/database.js";

type ServerMessage = Schema<"RealtimeServerMessage">;

/** The NOTIFY channel every instance listens on for browser events. */
const EVENTS_CHANNEL = "n2store_realtime_events";
/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay clear of the limit. */
const NOTIFY_MAX_BYTES = 7900;
/** A browser with more than this unsent is too slow: it is closed (1013) so it cannot hold others up. */
const SLOW_CLIENT_BYTES = 1024 * 1024;
/** ws sends a Buffer as binary unless told otherwise; browsers expect the events as text. */
const TEXT_FRAME = { binary: false } as const;

/**
 * Fans realtime events out to the browser sockets of every instance: an event is published once
 * with PostgreSQL NOTIFY (large ones stored in `realtime_events` and passed by id), and each
 * instance delivers what it hears to its own sockets. Publishing is serialised, so events arrive
 * in the order they were published.
 */
export class BrowserHub {
  private readonly sockets = new Set<WebSocket>();
  private publishing: Promise<void> = Promise.resolve();
  private unlisten: (() => Promise<void>) | undefined;
  private delivered = 0;

  constructor(
    private readonly database: DatabaseHandle,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.database.listen(EVENTS_CHANNEL, (payload) => {
      void this.receive(payload);
    });
  }

  /** Browser sockets open on this instance. */
  get size(): number {
    return this.sockets.size;
  }

  /** Events delivered to sockets so far (for tests and logs). */
  get deliveredCount(): number {
    return this.delivered;
  }

  add(socket: WebSocket): void {
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
  }

  /** Publishes to every instance's browsers (this one included, through its own LISTEN). */
  publish(message: ServerMessage): Promise<void> {
    const next = this.publishing.then(() => this.notify(message));
    this.publishing = next.catch(() => {});
    return next;
  }

  private async notify(message: ServerMessage): Promise<void> {
    const text = JSON.stringify(message);
    if (new TextEncoder().encode(text).length <= NOTIFY_MAX_BYTES) {
      await this.database.notify(EVENTS_CHANNEL, text);
      return;
    }
    const row = await this.database.db
      .insertInto("realtime_events")
      .values({ message: text })
      .returning("id")
      .executeTakeFirstOrThrow();
    await this.database.notify(EVENTS_CHANNEL, JSON.stringify({ ref: String(row.id) }));
  }

  private async receive(payload: string): Promise<void> {
    try {
      const parsed = JSON.parse(payload) as { ref?: string } & Record<string, unknown>;
      let text = payload;
      if (typeof parsed.ref === "string" && parsed.type === undefined) {
        const row = await this.database.db
          .selectFrom("realtime_events")
          .select("message")
          .where("id", "=", parsed.ref)
          .executeTakeFirst();
        if (row === undefined) {
          this.log.warn({ ref: parsed.ref }, "a large realtime event was gone before delivery");
          return;
        }
        text = JSON.stringify(row.message);
      }
      this.broadcast(text);
    } catch (error) {
      this.log.warn({ err: error }, "could not deliver a realtime event");
    }
  }

  /**
   * Sends to every socket of this instance; a socket too far behind is closed instead. The message
   * is encoded to UTF-8 once and the same bytes go to every socket as a text frame: given a string,
   * ws encoded it again for each socket, a third of the fan-out's CPU time for 1 000 sockets here.
   */
  broadcast(text: string): void {
    const bytes = Buffer.from(text);
    for (const socket of this.sockets) {
      if (socket.readyState !== 1) {
        continue;
      }
      if (socket.bufferedAmount > SLOW_CLIENT_BYTES) {
        this.log.warn({ buffered: socket.bufferedAmount }, "closing a browser socket that cannot keep up");
        socket.close(1013, "too slow; reconnect");
        continue;
      }
      socket.send(bytes, TEXT_FRAME);
      this.delivered += 1;
    }
  }

  /** Closes every browser socket (shutdown: 1001 Going Away). */
  closeAll(code: number, reason: string): void {
    for (const socket of this.sockets) {
      socket.close(code, reason);
    }
  }

  /** Deletes stored large events nobody needs any more. */
  async purge(olderThanMs: number): Promise<void> {
    await this.database.db
      .deleteFrom("realtime_events")
      .where("created_at", "<", sql<Date>`now() - ${`${Math.round(olderThanMs / 1000)} seconds`}::interval`)
      .execute();
  }

  async stop(): Promise<void> {
    await this.publishing;
    await this.unlisten?.();
  }
}
