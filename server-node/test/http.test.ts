/**
 * The Node server's HTTP layer against clients that misbehave below the operations: slow headers and
 * bodies (slowloris), malformed HTTP/1.1 and oversized headers, spoken over raw sockets because no
 * fetch client can send them.
 */
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS } from "../src/http.js";
import { type NodeServer, startNodeServer } from "./harness.js";

const REQUEST_TIMEOUT_MS = 1000;

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Milliseconds from the first byte sent to the server closing the connection. */
  readonly elapsedMs: number;
}

/** Opens a socket to the server, lets `talk` write to it, and collects everything until it closes. */
function raw(server: NodeServer, talk: (socket: Socket) => void, limitMs = 8000): Promise<RawAnswer> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), "127.0.0.1", () => talk(socket));
    const chunks: Buffer[] = [];
    const limit = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${limitMs} ms`));
    }, limitMs);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(limit);
      const text = Buffer.concat(chunks).toString("utf8");
      const [head = "", body = ""] = text.split("\r\n\r\n", 2);
      const [statusLine = "", ...lines] = head.split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body, elapsedMs: Date.now() - started });
    });
  });
}

/** Writes `text` a few bytes at a time, `everyMs` apart, while the socket is open. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || at >= text.length) {
      clearInterval(timer);
      return;
    }
    socket.write(text.slice(at, at + 2));
    at += 2;
  }, everyMs);
  socket.on("close", () => clearInterval(timer));
}

function expectErrorShape(answer: RawAnswer, status: number, code: string): void {
  expect(answer.status).toBe(status);
  expect(answer.headers["content-type"]).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body);
  expect(body).toMatchObject({ success: false, statusCode: status, code });
  expect(body.requestId).toBe(answer.headers["x-request-id"]);
  expect(typeof body.message).toBe("string");
}

describe("the Node server's HTTP layer", () => {
  let server: NodeServer;

  beforeAll(async () => {
    server = await startNodeServer({ env: { REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("bounds every request: whole request, headers sooner, keep-alive idle", () => {
    expect(server.app.server.requestTimeout).toBe(REQUEST_TIMEOUT_MS);
    expect(server.app.server.headersTimeout).toBe(Math.min(HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS));
    expect(server.app.server.keepAliveTimeout).toBe(KEEP_ALIVE_TIMEOUT_MS);
  });

  it("answers a body that trickles in (slowloris) with 408 REQUEST_TIMEOUT and closes the connection", async () => {
    const answer = await raw(server, (socket) => {
      socket.write(
        "POST /api/facebook-send HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
      );
      trickle(socket, `{"pageId":"270136663390370","message":"${"x".repeat(150)}"}`, 100);
    });
    expectErrorShape(answer, 408, "REQUEST_TIMEOUT");
    // Node checks its timers every second at most here; the limit is 1 s.
    expect(answer.elapsedMs).toBeLessThan(REQUEST_TIMEOUT_MS + 2500);
  });

  it("answers headers that trickle in with 408 REQUEST_TIMEOUT", async () => {
    const answer = await raw(server, (socket) => {
      trickle(socket, `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${"y".repeat(200)}\r\n\r\n`, 50);
    });
    expectErrorShape(answer, 408, "REQUEST_TIMEOUT");
    expect(answer.elapsedMs).toBeLessThan(REQUEST_TIMEOUT_MS + 2500);
  });

  it.each([
    ["a header line without a colon", "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nNot a header\r\n\r\n"],
    [
      "a folded header line (obs-fold)",
      "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n  folded\r\n\r\n",
    ],
    [
      "both Content-Length and Transfer-Encoding",
      "POST /api/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ["a request line that is not HTTP", "HELLO\r\n\r\n"],
  ])("answers %s with 400 MALFORMED_REQUEST in the error shape", async (_what, request) => {
    const answer = await raw(server, (socket) => socket.write(request));
    expectErrorShape(answer, 400, "MALFORMED_REQUEST");
  });

  it("answers headers over Node's limit with 431 HEADERS_TOO_LARGE", async () => {
    const answer = await raw(server, (socket) =>
      socket.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"z".repeat(20_000)}\r\n\r\n`),
    );
    expectErrorShape(answer, 431, "HEADERS_TOO_LARGE");
  });

  it("still answers a well-formed request promptly after all that", async () => {
    const response = await fetch(`${server.url}/health`);
    expect(response.status).toBe(200);
  });
});
