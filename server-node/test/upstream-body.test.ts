/** UpstreamBody: a Readable to whoever reads it, a direct feed to a sink when forwarded. */
import { UpstreamFailure } from "@n2store/core";
import { describe, expect, it } from "vitest";
import { type BodySink, UpstreamBody } from "../src/upstream/upstream-body.js";

/** A source that records what the body asks of the upstream connection. */
function source() {
  const calls = { resumed: 0, aborted: [] as Error[] };
  return {
    calls,
    source: { resume: () => calls.resumed++, abort: (reason: Error) => calls.aborted.push(reason) },
  };
}

/** A sink that takes `room` chunks before it asks to wait, and records everything. */
function sink(room = Number.POSITIVE_INFINITY) {
  const state = {
    chunks: [] as string[],
    ended: false,
    failed: null as Error | null,
    drains: [] as (() => void)[],
  };
  const target: BodySink = {
    write: (chunk) => {
      state.chunks.push(chunk.toString());
      return state.chunks.length < room;
    },
    onDrain: (resume) => state.drains.push(resume),
    end: () => {
      state.ended = true;
    },
    fail: (error) => {
      state.failed = error;
    },
  };
  return { state, target };
}

const chunk = (text: string) => Buffer.from(text);

describe("UpstreamBody", () => {
  it("forwards the chunks received before and after forward(), then the end, in order", () => {
    const { source: upstream } = source();
    const body = new UpstreamBody(upstream, 1000);
    body.receive(chunk("a"));
    body.receive(chunk("b"));
    const { state, target } = sink();
    expect(body.forward(target)).toBe(true);
    body.receive(chunk("c"));
    body.complete();
    expect(state).toMatchObject({ chunks: ["a", "b", "c"], ended: true, failed: null });
  });

  it("pauses the upstream while the sink is full and resumes it on drain", () => {
    const { calls, source: upstream } = source();
    const body = new UpstreamBody(upstream, 1000);
    const { state, target } = sink(1);
    body.forward(target);
    expect(body.receive(chunk("a"))).toBe(false);
    expect(calls.resumed).toBe(0);
    state.drains.shift()?.();
    expect(calls.resumed).toBe(1);
  });

  it("pauses the upstream once 64 KiB wait unread, and forward() resumes it", () => {
    const { calls, source: upstream } = source();
    const body = new UpstreamBody(upstream, 10 * 1024 * 1024);
    const big = Buffer.alloc(16 * 1024);
    const answers = [1, 2, 3, 4].map(() => body.receive(big));
    expect(answers).toEqual([true, true, true, false]);
    const { state, target } = sink();
    body.forward(target);
    expect(state.chunks).toHaveLength(4);
    expect(calls.resumed).toBe(1);
  });

  it("aborts the upstream past maxBytes with UpstreamFailure too-large", () => {
    const { calls, source: upstream } = source();
    const body = new UpstreamBody(upstream, 3);
    expect(body.receive(chunk("abcd"))).toBe(false);
    expect(calls.aborted[0]).toBeInstanceOf(UpstreamFailure);
    expect((calls.aborted[0] as UpstreamFailure).kind).toBe("too-large");
  });

  it("hands a failure that came before forward() to the sink", () => {
    const { source: upstream } = source();
    const body = new UpstreamBody(upstream, 1000);
    body.receive(chunk("a"));
    body.fail(new UpstreamFailure("reset", "socket hang up"));
    const { state, target } = sink();
    body.forward(target);
    expect(state.chunks).toEqual(["a"]);
    expect(state.failed).toBeInstanceOf(UpstreamFailure);
    expect(state.ended).toBe(false);
  });

  it("is a Readable to a reader: chunks before and after the first read, then the end", async () => {
    const { source: upstream } = source();
    const body = new UpstreamBody(upstream, 1000);
    body.receive(chunk("a"));
    const read = (async () => {
      const parts: string[] = [];
      for await (const part of body) {
        parts.push(String(part));
      }
      return parts.join("");
    })();
    await new Promise((resolve) => setImmediate(resolve));
    body.receive(chunk("b"));
    body.complete();
    expect(await read).toBe("ab");
    // Once read as a stream it is not forwarded.
    expect(body.forward(sink().target)).toBe(false);
  });

  it("fails a reader with the upstream's failure", async () => {
    const { source: upstream } = source();
    const body = new UpstreamBody(upstream, 1000);
    body.receive(chunk("a"));
    body.fail(new UpstreamFailure("timeout", "body timeout"));
    await expect(
      (async () => {
        for await (const _ of body) {
          // drain
        }
      })(),
    ).rejects.toMatchObject({ kind: "timeout" });
  });

  it("aborts the upstream when a forwarded body's caller goes away, not after its end", () => {
    const first = source();
    const cut = new UpstreamBody(first.source, 1000);
    cut.forward(sink().target);
    cut.release();
    expect(first.calls.aborted).toHaveLength(1);

    const second = source();
    const whole = new UpstreamBody(second.source, 1000);
    whole.forward(sink().target);
    whole.complete();
    whole.release();
    expect(second.calls.aborted).toHaveLength(0);
  });

  it("aborts the upstream when a reader destroys the body before its end", () => {
    const { calls, source: upstream } = source();
    const body = new UpstreamBody(upstream, 1000);
    body.destroy();
    expect(calls.aborted).toHaveLength(1);
  });
});
