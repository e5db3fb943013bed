/**
 * What the Node server writes to its info log for requests that carry credentials in every spelling
 * a caller can give them: plain, percent-encoded names, inside the encoded `url=` of the proxy
 * routes (once and twice encoded), and in headers. None of them may reach a log line.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_KEY, type NodeServer, startNodeServer } from "./harness.js";

const secret = (n: number) => `s3cr3t${n}x${"q".repeat(12)}`;

describe("the Node server's logs", () => {
  let server: NodeServer;
  const lines: string[] = [];

  beforeAll(async () => {
    server = await startNodeServer({
      env: { LOG_LEVEL: "info" },
      app: { logger: true, logStream: { write: (line: string) => lines.push(line) } },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("never holds a credential given in the query or the headers, however it is encoded", async () => {
    const cdn = server.fakes.cdn.url;
    const requests: [string, RequestInit?][] = [
      [`/api/pancake-direct/pages?%6Awt=${secret(1)}&page_id=270136663390370`],
      [`/api/proxy?url=${encodeURIComponent(`${cdn}/x.json?access_token=${secret(2)}`)}`],
      [`/api/image-proxy?url=${encodeURIComponent(encodeURIComponent(`${cdn}/a.png?jwt=${secret(3)}`))}`],
      [`/api/pancake/pages?access_token=${secret(4)}`],
      [`/api/pancake-official/pages/1/conversations?%2570age_access_token=${secret(5)}`],
      [`/api/fb-avatar?id=1&token=${secret(6)}`],
      [
        "/api/token",
        {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: `grant_type=password&username=u&password=${secret(7)}`,
        },
      ],
      [
        "/api/customers",
        {
          headers: {
            "x-api-key": secret(8),
            authorization: `Bearer ${secret(9)}`,
            cookie: `s=${secret(10)}`,
          },
        },
      ],
      ["/api/customers", { headers: { "x-api-key": API_KEY } }],
    ];
    for (const [path, init] of requests) {
      const response = await fetch(`${server.url}${path}`, init);
      await response.arrayBuffer();
    }
    const log = lines.join("");
    // The log is not empty: every request left its one access line, with its redacted URL.
    const access = lines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === "request");
    expect(access.length).toBe(requests.length);
    expect(log).toContain("[redacted]");
    expect(log).toContain("/api/pancake-direct/pages?%6Awt=[redacted]&page_id=270136663390370");
    for (let n = 1; n <= 10; n++) {
      expect(log, `secret ${n} reached the log`).not.toContain(secret(n));
    }
    expect(log).not.toContain(API_KEY);
  });

  it("writes one access line per request at info: request id, operation, status, duration, redacted URL", async () => {
    const before = lines.length;
    const response = await fetch(`${server.url}/api/pancake/pages?access_token=${secret(11)}`, {
      headers: { "x-request-id": "logs-test-1" },
    });
    await response.arrayBuffer();
    const entries = lines.slice(before).map((line) => JSON.parse(line));
    const mine = entries.filter((entry) => entry.requestId === "logs-test-1");
    // Fastify's own pair ("incoming request", "request completed") is replaced by the one line.
    expect(mine.map((entry) => entry.msg)).toEqual(["request"]);
    expect(mine[0]).toMatchObject({
      level: 30,
      operationId: "pancakeGenericGet",
      method: "GET",
      url: "/api/pancake/pages?access_token=[redacted]",
      status: response.status,
      clientAddress: "127.0.0.1",
    });
    expect(mine[0].durationMs).toBeGreaterThan(0);
    expect(JSON.stringify(entries)).not.toContain(secret(11));
  });

  it("names a request no operation answers, and says nothing of a Pancake socket it does not hold", async () => {
    const before = lines.length;
    await (
      await fetch(`${server.url}/no-such-path`, { headers: { "x-request-id": "logs-test-2" } })
    ).arrayBuffer();
    const line = lines
      .slice(before)
      .map((text) => JSON.parse(text))
      .find((entry) => entry.requestId === "logs-test-2" && entry.msg === "request");
    expect(line).toMatchObject({ status: 404, url: "/no-such-path" });
    expect(line.operationId).toBeUndefined();
    // No realtime session was started: this instance holds the lock, not a Pancake socket.
    expect(lines.join("")).not.toContain("Pancake socket");
  });
});
