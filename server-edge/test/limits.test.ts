/**
 * Over-limit bodies on the Worker, sent one after another on the same keep-alive connection: each
 * must get its 413 in the error shape. A refused body that was cut off half-read used to break the
 * connection in workerd, so the next request got a plain-text 503 (or a reset) instead of its answer.
 */
import { startAllFakes } from "@n2store/testkit/fakes";
import { gatewayEnv, startEdgeServer, useStarted } from "@n2store/testkit/servers";
import { describe, expect, it } from "vitest";

const MiB = 1024 * 1024;

describe("the Worker's body limits, repeated", () => {
  const fakes = useStarted(startAllFakes);
  const edge = useStarted(() => startEdgeServer({ vars: gatewayEnv(fakes()) }), { timeout: 120_000 });

  it.each([
    ["a pass-through POST of 21 MiB with its length", "/api/rest/v2.0/x", 21 * MiB, false],
    ["a pass-through POST of 21 MiB sent chunked", "/api/rest/v2.0/x", 21 * MiB, true],
    ["a JSON POST of 2 MiB sent chunked", "/api/facebook-send", 2 * MiB, true],
  ])(
    "answers %s with 413 every time, and the connection keeps working",
    async (_what, path, size, chunked) => {
      const bytes = new Uint8Array(size).fill(0x61);
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 4; attempt++) {
        const body = chunked
          ? new ReadableStream<Uint8Array>({
              start(controller) {
                for (let at = 0; at < size; at += MiB) {
                  controller.enqueue(bytes.subarray(at, at + MiB));
                }
                controller.close();
              },
            })
          : bytes;
        const response = await fetch(`${edge().url}${path}`, {
          method: "POST",
          headers: {
            "content-type": path === "/api/facebook-send" ? "application/json" : "application/octet-stream",
          },
          body,
          ...(chunked ? { duplex: "half" } : {}),
        } as RequestInit);
        statuses.push(response.status);
        expect(await response.json()).toMatchObject({ success: false, code: "PAYLOAD_TOO_LARGE" });
      }
      expect(statuses).toEqual([413, 413, 413, 413]);
      expect((await fetch(`${edge().url}/health`)).status).toBe(200);
      expect(fakes().tpos.restPosts, "nothing reached TPOS").toHaveLength(0);
    },
    60_000,
  );
});
