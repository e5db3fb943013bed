/**
 * Query parameters whose values are credentials: never written to a log line. Pancake's `jwt` and
 * `access_token`, pages.fm's `page_access_token`, Graph's tokens, TPOS's grants, our API key.
 */
const SECRET_NAMES = new Set([
  "jwt",
  "access_token",
  "page_access_token",
  "pagetoken",
  "token",
  "refresh_token",
  "password",
  "key",
  "api_key",
  "apikey",
  "x-api-key",
  "client_secret",
  "secret",
  "signature",
  "sig",
]);

/** Decodes percent-escapes (and `+`) until nothing changes, at most four rounds; malformed text stays. */
function decodeFully(text: string): string {
  let current = text;
  for (let round = 0; round < 4; round++) {
    let next: string;
    try {
      next = decodeURIComponent(current.replaceAll("+", " "));
    } catch {
      return current;
    }
    if (next === current) {
      return current;
    }
    current = next;
  }
  return current;
}

/** Whether a decoded value carries a credential of its own: a URL with one in its query or userinfo. */
function carriesSecret(decoded: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(decoded.trim())) {
    return true;
  }
  for (const match of decoded.matchAll(/(?:^|[?&#;,\s])([^=?&#;,\s]+)\s*=/g)) {
    if (SECRET_NAMES.has((match[1] ?? "").toLowerCase())) {
      return true;
    }
  }
  return false;
}

/**
 * A request URL fit for the logs: the path as it came, and every query value whose parameter name is
 * a credential, or which itself carries one (the encoded `url=` of `/api/proxy` with an
 * `?access_token=` inside), replaced by `[redacted]`. Names and values are compared after decoding
 * every layer of percent-encoding, so `%6Awt=` and a double-encoded `%253F` do not slip through.
 */
export function redactUrl(url: string): string {
  const queryAt = url.indexOf("?");
  if (queryAt < 0) {
    return url;
  }
  const pairs = url
    .slice(queryAt + 1)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      if (equals < 0) {
        return pair;
      }
      const name = pair.slice(0, equals);
      const value = pair.slice(equals + 1);
      const secret =
        SECRET_NAMES.has(decodeFully(name).trim().toLowerCase()) || carriesSecret(decodeFully(value));
      return secret ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, queryAt)}?${pairs.join("&")}`;
}
