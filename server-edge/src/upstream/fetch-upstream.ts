import { type Upstream, UpstreamFailure, type UpstreamRequest, type UpstreamResponse } from "@n2store/core";
import type { RawBody } from "@n2store/generated";
import { byteLimit, concat, readAll } from "../streams.js";

/** The failure of an upstream body over what the route may take. */
function overLimit(maxBytes: number): () => UpstreamFailure {
  return () => new UpstreamFailure("too-large", `body larger than ${maxBytes} bytes`);
}

function headersOf(response: Response): Record<string, string> {
  const out: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    // fetch() in a Worker hands over the body already decompressed: its encoding and length no
    // longer describe the bytes we pass on (the runtime compresses for the browser again).
    if (name !== "set-cookie" && name !== "content-encoding" && name !== "content-length") {
      out[name] = value;
    }
  });
  return out;
}

/**
 * The Worker's upstream client: fetch() with `redirect: "manual"`, so the shared code follows
 * redirects itself and re-checks every hop; a timer bounds the wait for the response headers; the
 * body is streamed through a byte counter. A Worker cannot resolve DNS, so `guarded` changes
 * nothing here: the URL checks in core (IP literals, the host allow-list) are the edge's boundary.
 */
export class FetchUpstream implements Upstream {
  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, request.timeoutMs);
    const onAbort = () => controller.abort();
    request.signal?.addEventListener("abort", onAbort, { once: true });
    let response: Response;
    try {
      response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: (request.body ?? null) as BodyInit | null,
        redirect: "manual",
        signal: controller.signal,
      });
    } catch (error) {
      throw new UpstreamFailure(
        timedOut ? "timeout" : "reset",
        error instanceof Error ? error.message : String(error),
        {
          cause: error,
        },
      );
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onAbort);
    }
    const max = request.maxBodyBytes;
    const declared = Number(response.headers.get("content-length") ?? Number.NaN);
    if (declared > max) {
      await response.body?.cancel();
      throw new UpstreamFailure("too-large", `declared body of ${declared} bytes is over ${max}`);
    }
    const body = response.body === null ? null : response.body.pipeThrough(byteLimit(max, overLimit(max)));
    const read = async (maxBytes: number) =>
      body === null
        ? new Uint8Array()
        : readAll(body, Math.min(maxBytes, max), overLimit(Math.min(maxBytes, max)));
    return {
      status: response.status,
      headers: headersOf(response),
      body: body as unknown as RawBody | null,
      text: async (maxBytes = max) => new TextDecoder().decode(await read(maxBytes)),
      bytes: (maxBytes = max) => read(maxBytes),
      dump: async () => {
        await body?.cancel().catch(() => {});
      },
    };
  }

  tee(body: RawBody, maxBytes: number): { body: RawBody; captured: Promise<Uint8Array | null> } {
    const reader = (body as unknown as ReadableStream<Uint8Array>).getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    let settle!: (bytes: Uint8Array | null) => void;
    const captured = new Promise<Uint8Array | null>((resolve) => {
      settle = resolve;
    });
    const passOn = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            settle(size > maxBytes ? null : concat(chunks, size));
            return;
          }
          size += value.byteLength;
          if (size <= maxBytes) {
            chunks.push(value);
          } else {
            chunks.length = 0;
          }
          controller.enqueue(value);
        } catch (error) {
          controller.error(error);
          settle(null);
        }
      },
      async cancel(reason) {
        settle(null);
        await reader.cancel(reason);
      },
    });
    return { body: passOn as unknown as RawBody, captured };
  }

  async readRaw(body: RawBody, maxBytes: number): Promise<Uint8Array> {
    const value = body as unknown as ReadableStream<Uint8Array> | Uint8Array | string;
    if (typeof value === "string") {
      return new TextEncoder().encode(value);
    }
    if (value instanceof Uint8Array) {
      return value;
    }
    return readAll(value, maxBytes, overLimit(maxBytes));
  }
}
