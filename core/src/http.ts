/** Small HTTP facts both runtimes and the tests read the same way. */

/**
 * The media type of a Content-Type header, lower-cased and without parameters
 * (`Application/JSON; charset=utf-8` is `application/json`); null when there is none.
 */
export function mediaType(header: string | null | undefined): string | null {
  const type = header?.split(";", 1)[0]?.trim().toLowerCase();
  return type === undefined || type === "" ? null : type;
}

/** A caller's X-Request-Id the servers keep (1-64 of `A-Za-z0-9._-`); anything else gets a new id. */
export function acceptedRequestId(header: string | null | undefined): string | undefined {
  return header !== null && header !== undefined && /^[A-Za-z0-9._-]{1,64}$/.test(header)
    ? header
    : undefined;
}

/** The User-Agent the gateway sends upstream: browser-like, as some upstreams refuse bare clients. */
export const GATEWAY_USER_AGENT = "Mozilla/5.0 (compatible; N2StoreGateway/1.0)";

/** A header value the gateway passes on: one line of printable ASCII (tabs allowed). */
export const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
