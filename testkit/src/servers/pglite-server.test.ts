import { connect } from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenStatement, type PgliteServer, startPgliteServer } from "./pglite-server.js";

describe("listenStatement", () => {
  it("reads LISTEN and UNLISTEN with the channel folded as PostgreSQL folds identifiers", () => {
    expect(listenStatement('LISTEN "n2store_Events"')).toEqual({ listen: true, channel: "n2store_Events" });
    expect(listenStatement("listen Events;")).toEqual({ listen: true, channel: "events" });
    expect(listenStatement('UNLISTEN "a""b"')).toEqual({ listen: false, channel: 'a"b' });
    expect(listenStatement("UNLISTEN *")).toEqual({ listen: false, channel: "*" });
    expect(listenStatement("select 'LISTEN x'")).toBeNull();
  });
});

describe("startPgliteServer: one PGlite session shared by several PostgreSQL clients", () => {
  let server: PgliteServer;
  const clients: pg.Client[] = [];

  async function client(): Promise<pg.Client> {
    const next = new pg.Client({ connectionString: server.url });
    next.on("error", () => {});
    await next.connect();
    clients.push(next);
    return next;
  }

  beforeAll(async () => {
    server = await startPgliteServer();
    const setup = await client();
    await setup.query("create table notes (id serial primary key, owner text not null)");
  }, 30_000);

  afterAll(async () => {
    await Promise.all(clients.map((each) => each.end().catch(() => {})));
    await server?.close();
  });

  it("asks for a password nowhere and answers the URL Hyperdrive's local mode needs (one with a password)", () => {
    expect(server.url).toMatch(/^postgres:\/\/postgres:postgres@127\.0\.0\.1:\d+\/postgres$/);
  });

  it("answers each client its own parameterised queries while eight of them run at once", async () => {
    const all = await Promise.all(Array.from({ length: 8 }, () => client()));
    const wrong: string[] = [];
    await Promise.all(
      all.map(async (each, n) => {
        for (let i = 0; i < 40; i++) {
          const result = await each.query("select $1::text as v, $2::int + 1 as next", [`c${n}-${i}`, i]);
          if (result.rows[0]?.v !== `c${n}-${i}` || result.rows[0]?.next !== i + 1) {
            wrong.push(`${n}/${i}: ${JSON.stringify(result.rows)}`);
          }
        }
      }),
    );
    expect(wrong).toEqual([]);
  });

  it("keeps another client out of an open transaction: it waits, then sees only what was committed", async () => {
    const [alice, bob] = [await client(), await client()];
    await alice.query("begin");
    await alice.query("insert into notes (owner) values ($1)", ["alice-rolled-back"]);
    let bobAnswered = false;
    const bobCount = bob.query("select count(*)::int as n from notes").then((result) => {
      bobAnswered = true;
      return result.rows[0].n as number;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // In one PGlite session, Bob's query would otherwise run inside Alice's transaction.
    expect(bobAnswered).toBe(false);
    await alice.query("rollback");
    expect(await bobCount).toBe(0);

    await alice.query("begin");
    await alice.query("insert into notes (owner) values ($1)", ["alice"]);
    const afterCommit = bob.query("select owner from notes");
    await alice.query("commit");
    expect((await afterCommit).rows).toEqual([{ owner: "alice" }]);
  });

  it("rolls back the transaction of a client that goes away, and lets the others go on", async () => {
    const [leaving, staying] = [await client(), await client()];
    await leaving.query("begin");
    await leaving.query("insert into notes (owner) values ($1)", ["gone"]);
    const waiting = staying.query("select count(*)::int as n from notes where owner = $1", ["gone"]);
    (leaving as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    expect((await waiting).rows[0].n).toBe(0);
    expect((await staying.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
  });

  it("delivers a NOTIFY made on one connection to the connections that LISTEN, and only to them", async () => {
    const [first, second, notifier] = [await client(), await client(), await client()];
    const seen: string[] = [];
    first.on("notification", (message) => seen.push(`first:${message.payload}`));
    second.on("notification", (message) => seen.push(`second:${message.payload}`));
    notifier.on("notification", (message) => seen.push(`notifier:${message.payload}`));
    await first.query('LISTEN "n2store_test"');
    await second.query('LISTEN "n2store_test"');
    await notifier.query("select pg_notify($1, $2)", ["n2store_test", "one"]);
    await until(() => seen.length >= 2);
    expect(seen.sort()).toEqual(["first:one", "second:one"]);

    // One session listens for all: an UNLISTEN of one client must not deafen the other.
    await second.query('UNLISTEN "n2store_test"');
    await notifier.query("select pg_notify($1, $2)", ["n2store_test", "two"]);
    await until(() => seen.includes("first:two"));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen.filter((entry) => entry.endsWith(":two"))).toEqual(["first:two"]);
  });

  it("answers an SSLRequest with N, so clients and wrangler's Hyperdrive proxy go on in plain text", async () => {
    const before = server.connections();
    const socket = connect(server.port, "127.0.0.1");
    const request = Buffer.alloc(8);
    request.writeInt32BE(8, 0);
    request.writeInt32BE(80877103, 4);
    socket.write(request);
    const answer = await new Promise<string>((resolve) =>
      socket.once("data", (data) => resolve(data.toString())),
    );
    socket.destroy();
    expect(answer).toBe("N");
    await until(() => server.connections() === before);
  });

  it("hangs up on a client that does not speak the protocol, and goes on serving the others", async () => {
    const socket = connect(server.port, "127.0.0.1");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => {});
    // A length of zero: a reader that trusted it would never move past it.
    socket.write(Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));
    await closed;
    const other = await client();
    expect((await other.query("select 2 as two")).rows).toEqual([{ two: 2 }]);
  });

  it("counts open connections and forgets closed ones", async () => {
    const before = server.connections();
    const extra = await client();
    expect(server.connections()).toBe(before + 1);
    await extra.end();
    await until(() => server.connections() === before);
  });
});

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      throw new Error("timed out");
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
