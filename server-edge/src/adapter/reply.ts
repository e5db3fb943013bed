import type { AnyResult } from "@n2store/generated";

/** A handler result (JSON, bytes, a stream or nothing) as a Response, with the CORS headers added. */
export function toResponse(result: AnyResult, extraHeaders: Record<string, string>): Response {
  const headers = new Headers(extraHeaders);
  for (const [name, value] of Object.entries(result.headers ?? {})) {
    headers.set(name, value);
  }
  if ("body" in result) {
    headers.set("content-type", "application/json; charset=utf-8");
    return new Response(JSON.stringify(result.body), { status: result.status, headers });
  }
  if ("raw" in result) {
    if ("contentType" in result) {
      headers.set("content-type", result.contentType);
    }
    const raw = result.raw as unknown as BodyInit | null;
    // 1xx, 204, 205 and 304 responses must not carry a body.
    const empty =
      result.status === 204 || result.status === 205 || result.status === 304 || result.status < 200;
    return new Response(empty ? null : raw, { status: result.status, headers });
  }
  return new Response(null, { status: result.status, headers });
}
