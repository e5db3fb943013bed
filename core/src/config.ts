import ipaddr from "ipaddr.js";

/**
 * The gateway's configuration, read from the same names on both runtimes (process.env on Node,
 * vars and secrets in the Worker). Every upstream URL has a default and can be pointed elsewhere
 * (tests point them at local fakes); nothing else in the code names an upstream.
 */

/** A host the proxy routes may reach: an exact name (`pancake.vn`) or every subdomain (`*.fbcdn.net`). */
export interface HostRule {
  readonly host: string;
  readonly subdomains: boolean;
  readonly port: number | null;
}

/** An address the proxy routes may reach although it is private or loopback (named with its port). */
export interface AddressRule {
  readonly address: string;
  readonly port: number;
}

/** One of the shop's own TPOS accounts, for `POST /api/token` with `{"companyId": n}`. */
interface TposAccount {
  readonly username: string;
  readonly password: string;
  readonly clientId: string;
}

/** Everything the shared code needs to know. */
export interface Config {
  readonly tposBaseUrl: URL;
  readonly pancakeBaseUrl: URL;
  readonly pancakePublicBaseUrl: URL;
  readonly pancakeContentBaseUrl: URL;
  readonly pancakeReferer: string;
  /** Referer of the generic `/api/pancake/*` calls (the original sent its multi-page inbox). */
  readonly pancakeGenericReferer: string;
  readonly pancakeWsUrl: URL;
  readonly graphBaseUrl: URL;
  readonly graphVersion: string;
  readonly tposAppVersion: string;
  /**
   * The key of the hash that scopes Idempotency-Keys to the caller's credential (IDEMPOTENCY_SCOPE_SECRET,
   * the same on both runtimes); a fixed default keeps scoping working without it.
   */
  readonly idempotencyScopeSecret: string;
  /** The shop's TPOS accounts by company id (1: TPOS_USERNAME, 2: TPOS_USERNAME_2); secrets. */
  readonly tposAccounts: ReadonlyMap<number, TposAccount>;
  readonly sepayApiKey: string | null;
  readonly apiKeys: readonly string[];
  /** `null` means any origin (`*`). */
  readonly corsAllowedOrigins: readonly string[] | null;
  readonly proxyAllowedHosts: readonly HostRule[];
  readonly proxyAllowedAddresses: readonly AddressRule[];
  /** Time to wait for an upstream's response headers. */
  readonly upstreamTimeoutMs: number;
  readonly imageMaxBytes: number;
  readonly proxyMaxBytes: number;
  /**
   * The Node server's base URL (`NODE_SERVER_URL`): a runtime without its own image resizer (the
   * Worker) asks it for resized images; null: such a runtime serves the original. It is not one of
   * the hosts the proxy routes may reach (see `originRule`).
   */
  readonly nodeServerUrl: URL | null;
}

/** The environment as both runtimes give it. */
export type Env = Readonly<Record<string, string | undefined>>;

/** The defaults of DESIGN.md, for documentation (.env.example) and tests. */
export const CONFIG_DEFAULTS = {
  TPOS_BASE_URL: "https://tomato.tpos.vn",
  PANCAKE_BASE_URL: "https://pancake.vn",
  PANCAKE_PUBLIC_BASE_URL: "https://pages.fm",
  PANCAKE_CONTENT_BASE_URL: "https://content.pancake.vn",
  PANCAKE_REFERER: "https://pancake.vn/",
  PANCAKE_GENERIC_REFERER: "https://pancake.vn/multi_pages",
  TPOS_CLIENT_ID: "tmtWebApp",
  PANCAKE_WS_URL: "wss://pancake.vn/socket/websocket?vsn=2.0.0",
  FACEBOOK_GRAPH_BASE_URL: "https://graph.facebook.com",
  FACEBOOK_GRAPH_VERSION: "v26.0",
  TPOS_APP_VERSION: "6.5.14.1",
  CORS_ALLOWED_ORIGINS: "*",
  PROXY_ALLOWED_HOSTS:
    "tomato.tpos.vn,*.tpos.vn,pancake.vn,*.pancake.vn,pages.fm,*.pages.fm,graph.facebook.com,*.fbcdn.net,platform-lookaside.fbsbx.com,img.vietqr.io,34tinhthanh.com,tienich.vnhub.com,*.b-cdn.net",
  UPSTREAM_TIMEOUT_MS: "15000",
  IMAGE_MAX_BYTES: String(50 * 1024 * 1024),
  PROXY_MAX_BYTES: String(20 * 1024 * 1024),
} as const;

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

function value(env: Env, name: keyof typeof CONFIG_DEFAULTS): string {
  const raw = env[name]?.trim();
  return raw === undefined || raw === "" ? CONFIG_DEFAULTS[name] : raw;
}

function optional(env: Env, name: string): string | null {
  const raw = env[name]?.trim();
  return raw === undefined || raw === "" ? null : raw;
}

function url(env: Env, name: keyof typeof CONFIG_DEFAULTS, protocols: readonly string[]): URL {
  return parseUrl(name, value(env, name), protocols);
}

/** A URL setting without a default: null when unset. */
function optionalUrl(env: Env, name: string, protocols: readonly string[]): URL | null {
  const raw = optional(env, name);
  return raw === null ? null : parseUrl(name, raw, protocols);
}

function parseUrl(name: string, raw: string, protocols: readonly string[]): URL {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an absolute URL, got "${raw}"`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(" or ")}, got "${raw}"`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new ConfigError(`${name} must not carry credentials`);
  }
  return parsed;
}

function positiveInt(env: Env, name: keyof typeof CONFIG_DEFAULTS): number {
  const raw = value(env, name);
  const parsed = Number(raw);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) {
    throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  }
  return parsed;
}

function list(raw: string): string[] {
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * An IP literal in the spelling the WHATWG URL parser gives a hostname (IPv6 compressed, IPv4-mapped
 * as IPv4), so that an entry matches however it was written; null when it is not a valid address.
 */
function canonicalIp(text: string): string | null {
  if (IPV4.test(text)) {
    return ipaddr.IPv4.isValidFourPartDecimal(text) ? text : null;
  }
  if (!ipaddr.IPv6.isValid(text)) {
    return null;
  }
  const v6 = ipaddr.IPv6.parse(text);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toString();
}

/**
 * Reads one `PROXY_ALLOWED_HOSTS` entry: `host`, `*.domain`, either with `:port`, or an IP literal
 * with its port (`127.0.0.1:4100`, `[::1]:4100`), which also allows that exact private address.
 */
function hostEntry(entry: string): { host?: HostRule; address?: AddressRule } {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(entry);
  const plain = /^(\*\.)?([A-Za-z0-9.-]+)(?::(\d+))?$/.exec(entry);
  let host = (bracketed?.[1] ?? plain?.[2])?.toLowerCase().replace(/\.$/, "");
  const portText = bracketed?.[2] ?? plain?.[3];
  if (host === undefined || host === "") {
    throw new ConfigError(`PROXY_ALLOWED_HOSTS: "${entry}" is not a host, *.domain, or IP with port`);
  }
  const port = portText === undefined ? null : Number(portText);
  if (port !== null && (port < 1 || port > 65535)) {
    throw new ConfigError(`PROXY_ALLOWED_HOSTS: "${entry}" has an invalid port`);
  }
  const subdomains = plain?.[1] !== undefined;
  const isIp = bracketed !== null || IPV4.test(host);
  if (isIp) {
    const canonical = canonicalIp(host);
    if (canonical === null || subdomains || (bracketed !== null && !host.includes(":"))) {
      throw new ConfigError(`PROXY_ALLOWED_HOSTS: "${entry}" is not a valid IP address`);
    }
    host = canonical;
  }
  const hostname = host.includes(":") ? `[${host}]` : host;
  const rule: HostRule = { host: hostname, subdomains, port };
  return isIp && port !== null ? { host: rule, address: { address: host, port } } : { host: rule };
}

/**
 * The rule that allows exactly the origin of `target` (its host and port, and its address when it
 * is an IP literal). The configured upstreams are always allowed to the proxy routes this way; the
 * Node server (`NODE_SERVER_URL`) only to the image forward, never to `/api/proxy`.
 */
export function originRule(target: URL): { host: HostRule; address?: AddressRule } {
  const port = Number(target.port || (target.protocol === "https:" || target.protocol === "wss:" ? 443 : 80));
  const hostname = target.hostname.toLowerCase();
  const rule: HostRule = { host: hostname, subdomains: false, port };
  const bare = hostname.replace(/^\[|\]$/g, "");
  const isIp = IPV4.test(bare) || hostname.startsWith("[");
  return isIp ? { host: rule, address: { address: bare, port } } : { host: rule };
}

/**
 * The shop's own TPOS accounts, under the names the original Worker's secrets had, so a deployment's
 * settings carry over: company 1 is TPOS_USERNAME / TPOS_PASSWORD; company 2 is TPOS_USERNAME_2 with
 * TPOS_PASSWORD_2, or TPOS_PASSWORD when that is unset. A name without its password is an error.
 */
function tposAccounts(env: Env): Map<number, TposAccount> {
  const clientId = value(env, "TPOS_CLIENT_ID");
  const accounts = new Map<number, TposAccount>();
  const companies: readonly [number, string, readonly string[]][] = [
    [1, "TPOS_USERNAME", ["TPOS_PASSWORD"]],
    [2, "TPOS_USERNAME_2", ["TPOS_PASSWORD_2", "TPOS_PASSWORD"]],
  ];
  for (const [company, userName, passwordNames] of companies) {
    const username = optional(env, userName);
    const ownPassword = passwordNames[0] as string;
    if (username === null) {
      if (company !== 1 && optional(env, ownPassword) !== null) {
        throw new ConfigError(`${ownPassword} is set but ${userName} is not`);
      }
      continue;
    }
    const password = passwordNames.map((name) => optional(env, name)).find((found) => found !== null);
    if (password === undefined || password === null) {
      throw new ConfigError(
        `${userName} is set but ${passwordNames.join(" (or ")}${passwordNames.length > 1 ? ")" : ""} is not`,
      );
    }
    accounts.set(company, { username, password, clientId });
  }
  return accounts;
}

/** Reads and checks the configuration; throws a ConfigError naming the variable at fault. */
export function loadConfig(env: Env): Config {
  const tposBaseUrl = url(env, "TPOS_BASE_URL", ["https:", "http:"]);
  const pancakeBaseUrl = url(env, "PANCAKE_BASE_URL", ["https:", "http:"]);
  const pancakePublicBaseUrl = url(env, "PANCAKE_PUBLIC_BASE_URL", ["https:", "http:"]);
  const pancakeContentBaseUrl = url(env, "PANCAKE_CONTENT_BASE_URL", ["https:", "http:"]);
  const graphBaseUrl = url(env, "FACEBOOK_GRAPH_BASE_URL", ["https:", "http:"]);
  const pancakeWsUrl = url(env, "PANCAKE_WS_URL", ["wss:", "ws:"]);
  const nodeServerUrl = optionalUrl(env, "NODE_SERVER_URL", ["https:", "http:"]);
  const graphVersion = value(env, "FACEBOOK_GRAPH_VERSION");
  if (!/^v\d+\.\d+$/.test(graphVersion)) {
    throw new ConfigError(`FACEBOOK_GRAPH_VERSION must look like v26.0, got "${graphVersion}"`);
  }
  const origins = list(value(env, "CORS_ALLOWED_ORIGINS"));
  const hosts: HostRule[] = [];
  const addresses: AddressRule[] = [];
  // "none" allows only the configured upstreams (an empty value means the defaults).
  const allowedHosts = value(env, "PROXY_ALLOWED_HOSTS");
  for (const entry of allowedHosts.trim().toLowerCase() === "none" ? [] : list(allowedHosts)) {
    const parsed = hostEntry(entry);
    if (parsed.host) {
      hosts.push(parsed.host);
    }
    if (parsed.address) {
      addresses.push(parsed.address);
    }
  }
  for (const upstream of [
    tposBaseUrl,
    pancakeBaseUrl,
    pancakePublicBaseUrl,
    pancakeContentBaseUrl,
    graphBaseUrl,
  ]) {
    const parsed = originRule(upstream);
    hosts.push(parsed.host);
    if (parsed.address) {
      addresses.push(parsed.address);
    }
  }
  return {
    tposBaseUrl,
    pancakeBaseUrl,
    pancakePublicBaseUrl,
    pancakeContentBaseUrl,
    pancakeReferer: value(env, "PANCAKE_REFERER"),
    pancakeGenericReferer: value(env, "PANCAKE_GENERIC_REFERER"),
    pancakeWsUrl,
    graphBaseUrl,
    graphVersion,
    tposAppVersion: value(env, "TPOS_APP_VERSION"),
    tposAccounts: tposAccounts(env),
    idempotencyScopeSecret: optional(env, "IDEMPOTENCY_SCOPE_SECRET") ?? "n2store-idempotency-scope-v1",
    sepayApiKey: optional(env, "SEPAY_API_KEY"),
    apiKeys: list(optional(env, "N2STORE_API_KEYS") ?? ""),
    corsAllowedOrigins: origins.includes("*") ? null : origins,
    proxyAllowedHosts: hosts,
    proxyAllowedAddresses: addresses,
    upstreamTimeoutMs: positiveInt(env, "UPSTREAM_TIMEOUT_MS"),
    imageMaxBytes: positiveInt(env, "IMAGE_MAX_BYTES"),
    proxyMaxBytes: positiveInt(env, "PROXY_MAX_BYTES"),
    nodeServerUrl,
  };
}
