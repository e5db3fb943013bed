import { Readable } from "node:stream";
import { UpstreamFailure } from "@n2store/core";

/** Where a forwarded body goes (the raw response, see adapter/reply.ts). */
export interface BodySink {
  /** Writes a chunk; false asks the body to wait for `onDrain`. */
  write(chunk: Buffer): boolean;
  onDrain(resume: () => void): void;
  end(): void;
  fail(error: Error): void;
}

/** How much an unread body holds before it pauses the upstream connection. */
const PENDING_LIMIT = 64 * 1024;

/** What the upstream connection offers its body: pause by returning false, resume, abort. */
export interface BodySource {
  resume(): void;
  abort(reason: Error): void;
}

/**
 * An upstream response body fed by undici's dispatch callbacks. To whoever reads it, it is a
 * Readable like any other (a handler's `text()`, sharp, the idempotency tee). But until somebody
 * reads, the chunks wait in a plain list, and `forward()` hands them, and every later one, straight
 * to a sink: the pass-through path then spends nothing on the Readable machinery (each chunk's
 * `nextTick`s, `emitReadable`, `endReadable`, the flow loop), which the profile put at a tenth of
 * a pass-through request's CPU. Backpressure holds either way: the upstream connection is paused
 * while the reader or the sink is full, or while 64 KiB wait unread. Past `maxBytes` the upstream is
 * aborted and the body fails with UpstreamFailure("too-large") (undici already fails a body longer
 * than its Content-Length).
 */
export class UpstreamBody extends Readable {
  #mode: "pending" | "readable" | "forwarded" = "pending";
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #received = 0;
  #ended = false;
  #error: Error | null = null;
  #paused = false;
  #sink: BodySink | null = null;

  constructor(
    private readonly source: BodySource,
    private readonly maxBytes: number,
  ) {
    super();
  }

  /** A chunk from the upstream; false pauses the connection until the body resumes it. */
  receive(chunk: Buffer): boolean {
    this.#received += chunk.length;
    if (this.#received > this.maxBytes) {
      this.source.abort(new UpstreamFailure("too-large", `body larger than ${this.maxBytes} bytes`));
      return false;
    }
    let more: boolean;
    if (this.#mode === "forwarded") {
      const sink = this.#sink as BodySink;
      more = sink.write(chunk);
      if (!more) {
        sink.onDrain(() => this.#resumeSource());
      }
    } else if (this.#mode === "readable") {
      more = this.push(chunk);
    } else {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      more = this.#pendingBytes < PENDING_LIMIT;
    }
    this.#paused = !more;
    return more;
  }

  /** The upstream's body ended. */
  complete(): void {
    this.#ended = true;
    if (this.#mode === "forwarded") {
      this.#sink?.end();
    } else if (this.#mode === "readable") {
      this.push(null);
    }
  }

  /** The upstream's body failed (a reset, a timeout, past the size limit). */
  fail(error: Error): void {
    if (this.#ended || this.#error !== null) {
      return;
    }
    this.#error = error;
    if (this.#mode === "forwarded") {
      this.#sink?.fail(error);
    } else if (this.#mode === "readable") {
      this.destroy(error);
    }
  }

  /**
   * Sends the body to `sink` from here on, chunks already received first, if nobody has read from it
   * as a stream; false (and nothing done) otherwise, and the caller reads it as a stream.
   */
  forward(sink: BodySink): boolean {
    if (this.#mode !== "pending" || this.destroyed) {
      return false;
    }
    this.#mode = "forwarded";
    this.#sink = sink;
    let more = true;
    for (const chunk of this.#pending) {
      more = sink.write(chunk);
    }
    this.#pending = [];
    if (this.#error !== null) {
      sink.fail(this.#error);
    } else if (this.#ended) {
      sink.end();
    } else if (this.#paused) {
      if (more) {
        this.#resumeSource();
      } else {
        sink.onDrain(() => this.#resumeSource());
      }
    }
    return true;
  }

  /** A forwarded body's sink went away (the caller left): stop the upstream unless it is done. */
  release(): void {
    if (!this.#ended && this.#error === null) {
      this.#error = new UpstreamFailure("reset", "the caller went away");
      this.source.abort(this.#error);
    }
  }

  /** Reads what is left and drops it: an upstream answer nobody needs. */
  async dump(): Promise<void> {
    if (this.#ended || this.#error !== null) {
      return;
    }
    // Small ends are read so that the connection can be reused; anything longer is cut.
    if (this.#received > PENDING_LIMIT) {
      this.destroy();
      return;
    }
    await new Promise<void>((resolve) => {
      this.once("close", resolve);
      this.once("error", () => resolve());
      this.resume();
    });
  }

  override _read(): void {
    if (this.#mode === "pending") {
      this.#mode = "readable";
      for (const chunk of this.#pending) {
        this.push(chunk);
      }
      this.#pending = [];
      if (this.#error !== null) {
        this.destroy(this.#error);
        return;
      }
      if (this.#ended) {
        this.push(null);
        return;
      }
    }
    if (this.#paused) {
      this.#resumeSource();
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#ended && this.#error === null) {
      this.#error = error ?? new UpstreamFailure("reset", "the body was dropped before its end");
      this.source.abort(this.#error);
    }
    callback(error);
  }

  #resumeSource(): void {
    if (this.#paused) {
      this.#paused = false;
      this.source.resume();
    }
  }
}
