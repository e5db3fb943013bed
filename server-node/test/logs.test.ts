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
    // The log is not empty: every request was logged, with its redacted URL.
    expect(lines.filter((line) => line.includes('"incoming request"')).length).toBe(requests.length);
    expect(log).toContain("[redacted]");
    expect(log).toContain("/api/pancake-direct/pages?%6Awt=[redacted]&page_id=270136663390370");
    for (let n = 1; n <= 10; n++) {
      expect(log, `secret ${n} reached the log`).not.toContain(secret(n));
    }
    expect(log).not.toContain(API_KEY);
  });
});
