import type { Server } from "node:http";
import { createServer } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { createSepaySender, sepayTransaction } from "./sepay-sender.js";

type Reply = "ok" | "fail" | "reset" | "hang";
let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A tiny receiver that answers per a script and dedupes on `id`, like the gateway should. */
async function receiver(script: Reply[], fallback: Reply = "ok") {
  const received: { auth: string | undefined; body: Record<string, unknown>; at: number }[] = [];
  const seen = new Set<unknown>();
  let inserted = 0;
  server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => {
      raw += c.toString();
    });
    req.on("end", () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      received.push({ auth: req.headers.authorization, body, at: Date.now() });
      const reply = script.shift() ?? fallback;
      if (reply === "reset") {
        req.socket.destroy();
      } else if (reply === "fail") {
        res.writeHead(500).end('{"success":false}');
      } else if (reply === "ok") {
        if (!seen.has(body.id)) {
          seen.add(body.id);
          inserted++;
        }
        res.writeHead(200, { "content-type": "application/json" }).end('{"success":true}');
      }
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/api/sepay/webhook`, received, inserted: () => inserted };
}

const FAST = 10 / 60_000; // one SePay minute = 10 ms

describe("SePay sender", () => {
  it("builds realistic transactions with unique ids", () => {
    const a = sepayTransaction();
    const b = sepayTransaction({ transferAmount: 1000, content: "abc" });
    expect(b.id).not.toBe(a.id);
    expect(a.transactionDate).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    expect(a).toMatchObject({ transferType: "in", transferAmount: 350000, subAccount: null });
    expect(Object.keys(a).sort()).toEqual(
      [
        "id",
        "gateway",
        "transactionDate",
        "accountNumber",
        "code",
        "content",
        "transferType",
        "transferAmount",
        "accumulated",
        "subAccount",
        "referenceCode",
        "description",
      ].sort(),
    );
    expect(b.content).toBe("abc");
  });

  it("delivers with Apikey auth on the first 2xx", async () => {
    const r = await receiver([]);
    const sender = createSepaySender({ url: r.url, auth: { mode: "apikey", key: "k123" }, timeScale: FAST });
    const result = await sender.deliver(sender.transaction());
    expect(result.delivered).toBe(true);
    expect(result.attempts).toHaveLength(1);
    expect(result.attempts[0]?.status).toBe(200);
    expect(r.received[0]?.auth).toBe("Apikey k123");
  });

  it("retries on 5xx, resets and timeouts following the Fibonacci schedule", async () => {
    const r = await receiver(["fail", "reset", "hang", "ok"]);
    const sender = createSepaySender({ url: r.url, auth: { mode: "none" }, timeScale: FAST, timeoutMs: 200 });
    const result = await sender.deliver(sender.transaction());
    expect(result.delivered).toBe(true);
    expect(result.attempts.map((a) => a.status ?? a.error)).toEqual([500, "ECONNRESET", "timeout", 200]);
    expect(r.received[0]?.auth).toBeUndefined();
    const gaps = result.attempts.slice(1).map((a, i) => a.at - (result.attempts[i]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(9); // 1 minute scaled
    expect(gaps[2]).toBeGreaterThanOrEqual(200 + 19); // timeout + 2 minutes scaled
  });

  it("gives up after 8 attempts", async () => {
    const r = await receiver([], "fail");
    const sender = createSepaySender({ url: r.url, auth: { mode: "none" }, timeScale: 1 / 60_000 });
    const result = await sender.deliver(sender.transaction());
    expect(result.delivered).toBe(false);
    expect(result.attempts).toHaveLength(8);
    expect(r.received).toHaveLength(8);
  });

  it("replays and concurrent duplicates reuse the same id", async () => {
    const r = await receiver([]);
    const sender = createSepaySender({ url: r.url, auth: { mode: "apikey", key: "k" }, timeScale: FAST });
    const tx = sender.transaction();
    await sender.deliver(tx);
    await sender.replay(tx);
    const dupes = await sender.concurrentDuplicates(tx, 5);
    expect(dupes.every((d) => d.delivered)).toBe(true);
    expect(r.received).toHaveLength(7);
    expect(new Set(r.received.map((x) => x.body.id))).toEqual(new Set([tx.id]));
    expect(r.inserted()).toBe(1);
    expect(sender.deliveries).toHaveLength(7);
  });

  it("stop() ends pending retries, and non-loopback URLs are refused", async () => {
    const r = await receiver([], "fail");
    const sender = createSepaySender({ url: r.url, auth: { mode: "none" }, timeScale: 1 });
    const pending = sender.deliver(sender.transaction());
    await expect.poll(() => r.received.length).toBe(1);
    sender.stop();
    const result = await pending;
    expect(result).toMatchObject({ delivered: false });
    expect(result.attempts).toHaveLength(1);
    expect(() => createSepaySender({ url: "https://example.com/hook", auth: { mode: "none" } })).toThrow(
      /loopback/,
    );
  });
});
