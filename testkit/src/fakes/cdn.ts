/**
 * Fake image CDN for the image/avatar proxies: small valid images, a streamed body of any size
 * (never buffered), and redirect helpers so a test can make an allowed host redirect anywhere
 * (SSRF re-check) or forever (redirect-loop limits).
 */
import { TINY_JPEG, TINY_PNG } from "./images.js";
import type { FakeHandle } from "./server.js";
import {
  baseHandle,
  intParam,
  redirect,
  sendBody,
  sendJson,
  startFakeServer,
  streamGenerated,
} from "./server.js";

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Handle of the CDN fake. */
export interface FakeCdn extends FakeHandle {
  /** URL of a small image, e.g. `imageUrl("a", "png")`. */
  imageUrl(name: string, ext?: "png" | "jpg"): string;
  /** URL of `/big` for `bytes` bytes (`chunked` omits Content-Length). */
  bigUrl(bytes: number, chunked?: boolean): string;
  /** URL that redirects to `to` with `status`. */
  redirectUrl(to: string, status?: number): string;
  /** URL that redirects to itself forever. */
  readonly loopUrl: string;
}

/**
 * Starts the CDN fake. Routes: `GET /img/{name}.png|.jpg|.jpeg`, `GET /big?bytes=N[&chunked=1]`
 * (image/jpeg), `GET /redirect?to=<url>[&status=302]`, `GET /loop`, plus `/echo/*`.
 */
export async function createFakeCdn(): Promise<FakeCdn> {
  const srv = await startFakeServer({
    echo: true,
    handler: (req, res) => {
      const img = /^\/img\/[^/]+\.(png|jpe?g)$/.exec(req.path);
      if (img !== null) {
        const png = img[1] === "png";
        sendBody(res, 200, png ? TINY_PNG : TINY_JPEG, png ? "image/png" : "image/jpeg", {
          "cache-control": "public, max-age=86400",
        });
        return;
      }
      if (req.path === "/big") {
        const bytes = intParam(req.query, "bytes");
        if (bytes === undefined) {
          sendJson(res, 400, { error: "bytes=N is required" });
          return;
        }
        streamGenerated(res, bytes, "image/jpeg", { chunked: req.query.get("chunked") === "1" });
        return;
      }
      if (req.path === "/redirect") {
        const to = req.query.get("to");
        const status = intParam(req.query, "status") ?? 302;
        if (to === null || !REDIRECT_STATUSES.has(status)) {
          sendJson(res, 400, { error: "to=<url> and a 30x status are required" });
          return;
        }
        redirect(res, to, status);
        return;
      }
      if (req.path === "/loop") {
        redirect(res, `${srv.url}/loop`);
        return;
      }
      sendBody(res, 404, "Not Found", "text/plain");
    },
  });
  return {
    ...baseHandle(srv),
    imageUrl: (name, ext = "png") => `${srv.url}/img/${encodeURIComponent(name)}.${ext}`,
    bigUrl: (bytes, chunked = false) => `${srv.url}/big?bytes=${bytes}${chunked ? "&chunked=1" : ""}`,
    redirectUrl: (to, status = 302) => `${srv.url}/redirect?to=${encodeURIComponent(to)}&status=${status}`,
    loopUrl: `${srv.url}/loop`,
  };
}
