import { Writable } from "node:stream";
import Fastify, { type FastifyBaseLogger } from "fastify";
import { describe, expect, it, vi } from "vitest";
import { lazyChildLogger } from "../src/lazy-logger.js";

function logger(level: string) {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  // Fastify's own pino logger, as the server has it.
  return { parent: Fastify({ logger: { level, stream } }).log, lines };
}

const make = (parent: FastifyBaseLogger, options = {}) =>
  lazyChildLogger.call(undefined as never, parent, { requestId: "r-1" }, options, undefined as never);

describe("lazyChildLogger", () => {
  it("makes no child for lines below the level, and writes none", async () => {
    const { parent, lines } = logger("warn");
    const child = vi.spyOn(parent, "child");
    const log = make(parent);
    log.info({ a: 1 }, "not written");
    log.debug("not written");
    expect(child).not.toHaveBeenCalled();
    await new Promise((settle) => setImmediate(settle));
    expect(lines).toEqual([]);
  });

  it("writes a line at the level with the request's bindings, through one child", async () => {
    const { parent, lines } = logger("info");
    const child = vi.spyOn(parent, "child");
    const log = make(parent);
    log.info({ a: 1 }, "first");
    log.warn("second");
    expect(child).toHaveBeenCalledTimes(1);
    await new Promise((settle) => setImmediate(settle));
    expect(lines).toMatchObject([
      { level: 30, requestId: "r-1", a: 1, msg: "first" },
      { level: 40, requestId: "r-1", msg: "second" },
    ]);
  });

  it("passes children and levels on like pino's child", async () => {
    const { parent, lines } = logger("warn");
    const log = make(parent);
    expect(log.level).toBe("warn");
    log.level = "info";
    log.child({ part: "x" }).info("from a grandchild");
    await new Promise((settle) => setImmediate(settle));
    expect(lines).toMatchObject([{ level: 30, requestId: "r-1", part: "x", msg: "from a grandchild" }]);
  });

  it("makes pino's child at once when the route sets its own level", () => {
    const { parent } = logger("warn");
    const child = vi.spyOn(parent, "child");
    make(parent, { level: "debug" });
    expect(child).toHaveBeenCalledTimes(1);
  });
});
