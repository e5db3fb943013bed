import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EngineEvent } from "../../src/options.js";
import { failure, healthy } from "../../src/policy/breaker.js";
import { EDGE, serverState } from "../helpers.js";

describe("breaker", () => {
  let events: [EngineEvent, unknown][];
  const emit = (key: string | number, event: unknown) => {
    events.push([key as EngineEvent, event]);
  };
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    events = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("marks a server down at the downAfter-th failure in a row, and says so once", () => {
    const s = serverState(EDGE);
    failure(s, 3, emit);
    failure(s, 3, emit);
    expect(s).toMatchObject({ down: false, failures: 2 });
    expect(events).toEqual([]);
    failure(s, 3, emit);
    failure(s, 3, emit);
    expect(s).toMatchObject({ down: true, failures: 4 });
    expect(events).toEqual([[EngineEvent.Down, { url: s.url }]]);
  });

  it("brings a down server back half-open: one more failure marks it down again", () => {
    const s = serverState(EDGE);
    for (let i = 0; i < 3; i++) {
      failure(s, 3, emit);
    }
    vi.advanceTimersByTime(5_000);
    healthy(s, 3, emit);
    expect(s).toMatchObject({ down: false, failures: 2, lastSeen: 1_005_000 });
    expect(events.at(-1)).toEqual([EngineEvent.Recover, { url: s.url }]);
    failure(s, 3, emit);
    expect(s.down).toBe(true);
    expect(events.map(([key]) => key)).toEqual([EngineEvent.Down, EngineEvent.Recover, EngineEvent.Down]);
  });

  it("only notes the time of a good answer from a server that is up", () => {
    const s = serverState(EDGE);
    failure(s, 3, emit);
    healthy(s, 3, emit);
    expect(s).toMatchObject({ down: false, failures: 1, lastSeen: 1_000_000 });
    expect(events).toEqual([]);
  });
});
