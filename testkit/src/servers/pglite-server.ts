/**
 * PostgreSQL's wire protocol in front of one embedded PGlite, so that several clients share one
 * database with no PostgreSQL installed: the sandbox's Node server (a `pg` pool, its LISTEN
 * connection, its lock connections) and its Worker (through wrangler's local Hyperdrive proxy).
 *
 * PGlite is a single PostgreSQL session, so the connections take turns on it:
 * - a connection holds the session for a whole request cycle (a simple Query, or extended-protocol
 *   messages up to their Sync) and for as long as it keeps a transaction open, as PostgreSQL's
 *   `ReadyForQuery` status says; the others wait. A cycle is never interleaved with another
 *   connection's, whatever arrives when;
 * - a connection that closes while it holds the session has its cycle ended and its transaction
 *   rolled back, as a backend whose client went away;
 * - notifications go to the connections that issued `LISTEN` for their channel. PGlite writes a
 *   notification into the answer of whichever statement caused it, which is the notifying
 *   connection's, not the listener's.
 *
 * What one session cannot give, this does not pretend to: advisory locks are granted to every
 * connection (they are all the same session), and settings made with `SET` are seen by all. Enough
 * for one Node server and one Worker; not a PostgreSQL for several Node instances.
 *
 * `@electric-sql/pglite-socket` (0.2.17, the newest) was the first choice. It was not taken: it
 * requires PGlite 0.5.14 exactly (this repository runs 0.5.16) and seven PGlite extensions as peer
 * dependencies, and it sends a notification to the connection that caused it (measured: a `pg`
 * client that LISTENs never receives a NOTIFY made on another connection), which stops the Node
 * server's realtime relay, built on LISTEN/NOTIFY.
 */
import { createServer, type Socket } from "node:net";
import { PGlite } from "@electric-sql/pglite";

/** The part of PGlite this uses: its raw wire-protocol entry point. */
interface WireSession {
  execProtocolRawStream(
    message: Uint8Array,
    options: { onRawData: (data: Uint8Array) => void; syncToFs?: boolean },
  ): Promise<void>;
  close(): Promise<void>;
}

/** A started server. */
export interface PgliteServer {
  /** `postgres://postgres:postgres@127.0.0.1:<port>/postgres` (a password, for Hyperdrive's local mode). */
  readonly url: string;
  readonly port: number;
  /** Connections open now. */
  connections(): number;
  /** Closes every connection, stops listening and closes PGlite. */
  close(): Promise<void>;
}

/** Options of startPgliteServer. */
export interface PgliteServerOptions {
  /** Default: an ephemeral port. */
  readonly port?: number;
  /** Where PGlite keeps its files; default: in memory. */
  readonly dataDir?: string;
  /** A session to serve instead of a new PGlite (tests). */
  readonly session?: WireSession;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
/** The largest message a client may send (PostgreSQL's own limit on a query string is 1 GB). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Sync: ends an extended-protocol cycle (and an error's skipping). */
const SYNC = Uint8Array.from([0x53, 0, 0, 0, 4]);

/** A FIFO lock on the one session. */
class SessionLock {
  private tail: Promise<void> = Promise.resolve();

  /** Resolves, in the order asked, with the function that hands the session on. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const previous = this.tail;
    this.tail = previous.then(() => released);
    return previous.then(() => release);
  }
}

/** One wire message: its type byte (0 for startup-phase messages) and all its bytes. */
interface Message {
  readonly type: number;
  readonly bytes: Buffer;
}

/** Splits complete backend messages (type byte + length) out of `data`. */
function backendMessages(data: Buffer): Message[] {
  const messages: Message[] = [];
  let offset = 0;
  while (offset + 5 <= data.length) {
    const end = offset + 1 + data.readInt32BE(offset + 1);
    messages.push({ type: data[offset] as number, bytes: data.subarray(offset, end) });
    offset = end;
  }
  return messages;
}

/** The channel of a NotificationResponse ('A': process id, channel, payload). */
function notificationChannel(message: Buffer): string {
  const start = 9;
  return message.toString("utf8", start, message.indexOf(0, start));
}

/** The SQL text of a Query ('Q') or Parse ('P': statement name, then the text) message. */
function statementText(message: Message): string | null {
  if (message.type === 0x51) {
    return message.bytes.toString("utf8", 5, message.bytes.length - 1);
  }
  if (message.type === 0x50) {
    const textStart = message.bytes.indexOf(0, 5) + 1;
    return message.bytes.toString("utf8", textStart, message.bytes.indexOf(0, textStart));
  }
  return null;
}

/** A LISTEN / UNLISTEN statement's channel, folded as PostgreSQL folds identifiers; `*` for all. */
export function listenStatement(sql: string): { listen: boolean; channel: string } | null {
  const match = /^\s*(UN)?LISTEN\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*|\*)\s*;?\s*$/i.exec(sql);
  if (match === null) {
    return null;
  }
  const name = match[2] as string;
  const channel = name.startsWith('"') ? name.slice(1, -1).replaceAll('""', '"') : name.toLowerCase();
  return { listen: match[1] === undefined, channel };
}

/** A simple Query message. */
function simpleQuery(sql: string): Uint8Array {
  const text = Buffer.from(`${sql}\0`);
  const message = Buffer.alloc(5 + text.length);
  message.write("Q", 0);
  message.writeInt32BE(4 + text.length, 1);
  text.copy(message, 5);
  return message;
}

/**
 * Starts the server on 127.0.0.1 in front of a new in-memory PGlite (or `options.session`), and
 * resolves once it listens.
 */
export async function startPgliteServer(options: PgliteServerOptions = {}): Promise<PgliteServer> {
  const session: WireSession =
    options.session ?? (options.dataDir === undefined ? new PGlite() : new PGlite(options.dataDir));
  if (session instanceof PGlite) {
    await session.waitReady;
  }
  const lock = new SessionLock();
  const connections = new Set<Connection>();

  /** Runs one message on the session, returning its answer with notifications taken out and routed. */
  async function execute(message: Uint8Array, from: Connection | null): Promise<Buffer> {
    const chunks: Uint8Array[] = [];
    await session.execProtocolRawStream(message, {
      // PGlite reuses its buffer: copy each chunk.
      onRawData: (data) => chunks.push(Uint8Array.prototype.slice.call(data)),
    });
    const answer: Buffer[] = [];
    for (const reply of backendMessages(Buffer.concat(chunks))) {
      if (reply.type !== 0x41) {
        answer.push(reply.bytes);
        continue;
      }
      const channel = notificationChannel(reply.bytes);
      for (const connection of connections) {
        if (connection.channels.has(channel) && !connection.closed) {
          if (connection === from) {
            answer.push(reply.bytes);
          } else {
            connection.socket.write(reply.bytes);
          }
        }
      }
    }
    return Buffer.concat(answer);
  }

  /** The last ReadyForQuery status of an answer ('I' idle, 'T' in a transaction, 'E' failed one). */
  function readyStatus(answer: Buffer): number | null {
    let status: number | null = null;
    for (const reply of backendMessages(answer)) {
      if (reply.type === 0x5a) {
        status = reply.bytes[5] as number;
      }
    }
    return status;
  }

  class Connection {
    buffer: Buffer = Buffer.alloc(0);
    started = false;
    closed = false;
    /** Set while this connection holds the session. */
    release: (() => void) | undefined;
    readonly channels = new Set<string>();
    /** Whether this connection's cycle ran an UNLISTEN (see relisten). */
    private unlistened = false;
    /** This connection's messages, one after the other. */
    private work: Promise<void> = Promise.resolve();

    constructor(readonly socket: Socket) {
      socket.setNoDelay(true);
      socket.on("data", (data: Buffer) => this.receive(data));
      socket.on("error", () => socket.destroy());
      socket.on("close", () => {
        this.closed = true;
        connections.delete(this);
        this.work = this.work.then(() => this.abandon());
      });
    }

    private receive(data: Buffer): void {
      this.buffer = Buffer.concat([this.buffer, data]);
      for (;;) {
        const message = this.next();
        if (message === null) {
          return;
        }
        this.work = this.work
          .then(() => this.handle(message))
          .catch(() => {
            // A failure of the session itself: drop the client, whose close hands the session on.
            this.socket.destroy();
          });
      }
    }

    /** The next complete message in the buffer, or null. */
    private next(): Message | null {
      const header = this.started ? 5 : 4;
      if (this.buffer.length < header) {
        return null;
      }
      const length = this.started ? 1 + this.buffer.readInt32BE(1) : this.buffer.readInt32BE(0);
      if (length < header || length > MAX_MESSAGE_BYTES) {
        // Not PostgreSQL's protocol (or out of step with it): nothing more can be read from it.
        this.buffer = Buffer.alloc(0);
        this.socket.destroy();
        return null;
      }
      if (this.buffer.length < length) {
        return null;
      }
      const bytes = this.buffer.subarray(0, length);
      this.buffer = this.buffer.subarray(length);
      if (this.started) {
        return { type: bytes[0] as number, bytes };
      }
      // SSLRequest, GSSENCRequest, CancelRequest or the startup message, after which typed messages follow.
      this.started = length >= 8 && bytes.readInt32BE(4) === PROTOCOL_3;
      return { type: 0, bytes };
    }

    private async handle(message: Message): Promise<void> {
      if (this.closed) {
        return;
      }
      if (message.type === 0) {
        await this.startup(message.bytes);
        return;
      }
      if (message.type === 0x58) {
        // Terminate.
        this.socket.end();
        return;
      }
      this.release ??= await lock.acquire();
      const answer = await execute(message.bytes, this);
      this.track(message);
      this.socket.write(answer);
      if (readyStatus(answer) === 0x49) {
        await this.relisten();
        this.handOn();
      }
    }

    private async startup(bytes: Buffer): Promise<void> {
      const code = bytes.length >= 8 ? bytes.readInt32BE(4) : 0;
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        this.socket.write("N"); // no TLS on loopback: the client goes on in plain text
        return;
      }
      if (code === CANCEL_REQUEST) {
        this.socket.end(); // one session, nothing to cancel in another
        return;
      }
      if (code !== PROTOCOL_3) {
        this.socket.destroy();
        return;
      }
      const release = await lock.acquire();
      try {
        this.socket.write(await execute(bytes, this));
      } finally {
        release();
      }
    }

    /** Follows LISTEN and UNLISTEN, for the routing of notifications. */
    private track(message: Message): void {
      const text = statementText(message);
      const statement = text === null ? null : listenStatement(text);
      if (statement === null) {
        return;
      }
      if (statement.listen) {
        this.channels.add(statement.channel);
      } else if (statement.channel === "*") {
        this.channels.clear();
      } else {
        this.channels.delete(statement.channel);
      }
      this.unlistened ||= !statement.listen;
    }

    /**
     * The session listens once for everyone: an UNLISTEN of this connection stopped it for the
     * others too, so listen again to what they still want.
     */
    private async relisten(): Promise<void> {
      if (!this.unlistened) {
        return;
      }
      this.unlistened = false;
      const wanted = new Set<string>();
      for (const connection of connections) {
        for (const channel of connection.channels) {
          wanted.add(channel);
        }
      }
      for (const channel of wanted) {
        await execute(simpleQuery(`LISTEN "${channel.replaceAll('"', '""')}"`), null);
      }
    }

    private handOn(): void {
      const release = this.release;
      this.release = undefined;
      release?.();
    }

    /** The client went away: end its cycle and roll back its transaction, then hand the session on. */
    private async abandon(): Promise<void> {
      if (this.release === undefined) {
        return;
      }
      try {
        if (readyStatus(await execute(SYNC, null)) !== 0x49) {
          await execute(simpleQuery("ROLLBACK"), null);
        }
      } finally {
        this.handOn();
      }
    }
  }

  const server = createServer((socket) => {
    connections.add(new Connection(socket));
  });
  await new Promise<void>((listening, failed) => {
    server.once("error", failed);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", failed);
      listening();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    connections: () => connections.size,
    async close() {
      const closed = new Promise<void>((done) => server.close(() => done()));
      for (const connection of connections) {
        connection.socket.destroy();
      }
      await closed;
      // Let the abandoned connections' clean-up run before the session goes.
      const release = await lock.acquire();
      release();
      await session.close();
    },
  };
}
