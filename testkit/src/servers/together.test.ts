import { describe, expect, it } from "vitest";
import { startTogether } from "./together.js";

describe("startTogether", () => {
  it("returns every started server in order", async () => {
    const stopped: string[] = [];
    const started = await startTogether(
      [Promise.resolve("edge"), (name) => stopped.push(name)],
      [Promise.resolve(42), (port) => stopped.push(String(port))],
    );
    expect(started).toEqual(["edge", 42]);
    expect(stopped).toEqual([]);
  });

  it("stops the servers that started when another fails, then throws its error", async () => {
    const stopped: string[] = [];
    const failure = new Error("wrangler dev exited (1)");
    await expect(
      startTogether(
        [Promise.reject(failure), () => stopped.push("edge")],
        [Promise.resolve("node"), (name) => stopped.push(name)],
        [Promise.resolve("page"), (name) => stopped.push(name)],
      ),
    ).rejects.toBe(failure);
    expect(stopped.sort()).toEqual(["node", "page"]);
  });
});
