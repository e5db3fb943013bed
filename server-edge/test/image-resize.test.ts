/**
 * The Worker cannot run sharp: with NODE_SERVER_URL it asks a real Node server (a process, as
 * `npm start` runs it) for the resized image, and when that server is gone it serves the original.
 * The request is the delivery report's lightbox: `/api/image-proxy?url=…&w=900&q=70`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { imageSize, PHOTO_JPEG, PHOTO_SIZE, photoPng, startAllFakes } from "@n2store/testkit/fakes";
import { gatewayEnv, startEdgeServer, startNodeProcess, useStarted } from "@n2store/testkit/servers";
import { afterAll, describe, expect, it } from "vitest";

describe("image-proxy on the Worker with NODE_SERVER_URL", () => {
  const fakes = useStarted(startAllFakes);
  let dataDir: string | undefined;
  // Registered before the servers, so it runs after they have stopped.
  afterAll(async () => {
    if (dataDir !== undefined) {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
  const node = useStarted(async () => {
    photoPng(PHOTO_SIZE.width, PHOTO_SIZE.height); // made once here, not while a request waits
    dataDir = await mkdtemp(join(tmpdir(), "n2store-resize-"));
    return startNodeProcess("resize-node", { ...gatewayEnv(fakes()), DATA_DIR: dataDir });
  });
  // A resize takes a while on a loaded machine: the forward gets longer than the suite's 3 s.
  const edge = useStarted(() =>
    startEdgeServer({
      vars: gatewayEnv(fakes(), { NODE_SERVER_URL: node().url, UPSTREAM_TIMEOUT_MS: "20000" }),
    }),
  );

  const lightbox = (url: string) =>
    fetch(`${edge().url}/api/image-proxy?url=${encodeURIComponent(url)}&w=900&q=70`);

  it("answers &w=900&q=70 with the Node server's smaller image, at most 900 wide, in the same format", async () => {
    for (const [ext, original] of [
      ["jpg", PHOTO_JPEG],
      ["png", photoPng(PHOTO_SIZE.width, PHOTO_SIZE.height)],
    ] as const) {
      const path = `/photo.${ext}`;
      const before = fakes().cdn.requests.filter((request) => request.path === path).length;
      const response = await lightbox(fakes().cdn.photoUrl(ext));
      expect(response.status, ext).toBe(200);
      expect(response.headers.get("x-image-resize"), ext).toBe("forwarded");
      expect(response.headers.get("content-type"), ext).toBe(ext === "jpg" ? "image/jpeg" : "image/png");
      expect(response.headers.get("cache-control")).toBe("public, max-age=86400");
      const bytes = new Uint8Array(await response.arrayBuffer());
      expect(imageSize(bytes), ext).toEqual({
        format: ext === "jpg" ? "jpeg" : "png",
        width: 900,
        height: 600,
      });
      expect(bytes.length, ext).toBeLessThan(original.length);
      // Fetched once, by the Node server: the Worker did not download the original as well.
      expect(fakes().cdn.requests.filter((request) => request.path === path).length - before, ext).toBe(1);
    }
    // The Node server logs each request it serves (what the refusal below relies on).
    expect(node().logs.join("")).toContain("/api/image-proxy");
  });

  it("passes what the Node server does not resize (a video) as the Node server's original", async () => {
    const response = await lightbox(fakes().cdn.videoUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("video/mp4");
    expect(response.headers.get("x-image-resize")).toBe("original");
    expect((await response.arrayBuffer()).byteLength).toBe(1024 * 1024);
  });

  it("still refuses a target it may not reach, without asking the Node server", async () => {
    const lines = node().logs.length;
    const response = await lightbox("http://169.254.169.254/latest/meta-data/");
    expect(response.status).toBe(403);
    expect((await response.json()) as { code: string }).toMatchObject({ code: "TARGET_NOT_ALLOWED" });
    expect(node().logs.slice(lines).join("")).not.toContain("image-proxy");
  });

  it("serves the original, never an error, once the Node server is gone", async () => {
    await node().stop();
    const response = await lightbox(fakes().cdn.photoUrl("jpg"));
    expect(response.status).toBe(200);
    expect(response.headers.get("x-image-resize")).toBe("original");
    expect(Buffer.from(await response.arrayBuffer()).equals(PHOTO_JPEG)).toBe(true);
  });
});
