import { describe, expect, it } from "vitest";
import { type CpuProfile, placeOf, selfTimes } from "../src/cpu-profile.js";

const frame = (functionName: string, url: string, lineNumber = 0) => ({ functionName, url, lineNumber });

describe("placeOf", () => {
  it("names the npm package, Node's own code, the bundled gateway and native code", () => {
    expect(placeOf("file:///w/node_modules/fastify/lib/reply.js")).toBe("fastify");
    expect(placeOf("file:///w/node_modules/@fastify/websocket/index.js")).toBe("@fastify/websocket");
    expect(placeOf("node:_http_server")).toBe("node:");
    expect(placeOf("file:///w/server-node/dist/main.js")).toBe("gateway");
    expect(placeOf("")).toBe("(native)");
  });
});

describe("selfTimes", () => {
  it("charges each sample's time to its own function and ranks them, with shares", () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", "") },
        { id: 2, callFrame: frame("send", "file:///w/node_modules/fastify/lib/reply.js", 9) },
        { id: 3, callFrame: frame("", "file:///w/server-node/dist/main.js", 99) },
        { id: 4, callFrame: frame("send", "file:///w/node_modules/fastify/lib/reply.js", 9) },
      ],
      startTime: 1000,
      samples: [2, 3, 2, 4, 1],
      timeDeltas: [10, 20, 30, 40, 0],
    };
    const { functions, places } = selfTimes(profile);
    expect(functions[0]).toEqual({ name: "send fastify:10", micros: 80, percent: 80 });
    expect(functions[1]).toEqual({ name: "(anonymous) gateway:100", micros: 20, percent: 20 });
    expect(places.map((p) => [p.name, p.micros])).toEqual([
      ["fastify", 80],
      ["gateway", 20],
      ["(native)", 0],
    ]);
  });

  it("counts only the samples taken within the window", () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("start", "node:internal/main") },
        { id: 2, callFrame: frame("serve", "file:///w/server-node/dist/main.js") },
      ],
      startTime: 1000,
      // Sample times: 1100, 1200, 1300, 1400.
      samples: [1, 2, 2, 1],
      timeDeltas: [100, 100, 100, 100],
    };
    const { functions } = selfTimes(profile, { from: 1150, to: 1350 });
    expect(functions).toEqual([{ name: "serve gateway:1", micros: 200, percent: 100 }]);
  });
});
