import type { Config, HostRule } from "../config.js";
import { ApiError } from "../errors.js";
import { checkAddress, isAllowedAddress, isIpLiteral } from "./address.js";

/** A URL the proxy routes may fetch, and whether its connection still needs the address check. */
export interface AllowedTarget {
  readonly url: URL;
  /** An explicitly allowed IP and port: connect without the range check (tests, private upstreams). */
  readonly trustedAddress: boolean;
}

function defaultPort(url: URL): number {
  return Number(url.port || (url.protocol === "https:" ? 443 : 80));
}

function matches(rule: HostRule, host: string, port: number): boolean {
  // An entry without a port allows the web's ports only; any other port must be named
  // (`cdn.example:8443`), so an allowed host's admin or database port is not reachable by default.
  if (rule.port === null ? port !== 80 && port !== 443 : rule.port !== port) {
    return false;
  }
  return rule.subdomains ? host.endsWith(`.${rule.host}`) : host === rule.host;
}

/** Refused: the message is deliberately the same for every reason, so the proxy is no port-scan oracle. */
function notAllowed(reason: string): ApiError {
  return new ApiError("TARGET_NOT_ALLOWED", "The target host is not allowed.", {
    cause: new Error(reason),
    nothingSent: true,
  });
}

/**
 * The URL-level SSRF check, run on the caller's URL and again on every redirect `Location`:
 * http(s) only, no credentials in the URL, no `localhost`, IP literals only when public and allowed
 * (or explicitly allowed with their port), and the host in `PROXY_ALLOWED_HOSTS` or one of the
 * configured upstreams. The WHATWG parser has already turned `2130706433`, `0x7f.1`, `127.1` and
 * `[::ffff:127.0.0.1]` into one canonical spelling, so checking `hostname` sees through them.
 * On Node the connection layer checks the resolved addresses as well (DNS rebinding).
 */
export function checkTargetUrl(raw: string | URL, config: Config, base?: URL): AllowedTarget {
  let url: URL;
  try {
    url = typeof raw === "string" ? new URL(raw, base) : new URL(raw.href);
  } catch {
    throw new ApiError("INVALID_TARGET_URL", "The target is not a valid absolute URL.", {
      nothingSent: true,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ApiError("INVALID_TARGET_URL", "Only http and https URLs can be fetched.", {
      nothingSent: true,
    });
  }
  if (url.username !== "" || url.password !== "") {
    throw new ApiError("INVALID_TARGET_URL", "The target URL must not carry credentials.", {
      nothingSent: true,
    });
  }
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  const bare = host.replace(/^\[|\]$/g, "");
  const port = defaultPort(url);
  if (bare === "localhost" || bare.endsWith(".localhost") || bare === "") {
    throw notAllowed(`${host} is a local name`);
  }
  if (isIpLiteral(bare)) {
    const verdict = checkAddress(bare, port, config.proxyAllowedAddresses);
    if (!verdict.ok) {
      throw notAllowed(`${bare} is in range "${verdict.range}"`);
    }
  }
  if (!config.proxyAllowedHosts.some((rule) => matches(rule, host, port))) {
    throw notAllowed(`${host}:${port} is not in PROXY_ALLOWED_HOSTS`);
  }
  const trustedAddress = isIpLiteral(bare) && isAllowedAddress(bare, port, config.proxyAllowedAddresses);
  return { url, trustedAddress };
}
