import ipaddr from "ipaddr.js";
import type { AddressRule } from "../config.js";

/** The verdict on one address: public unicast (allowed), or the named range that refuses it. */
export type AddressVerdict = { readonly ok: true } | { readonly ok: false; readonly range: string };

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Whether `text` is an IPv4 or IPv6 literal (without brackets). */
export function isIpLiteral(text: string): boolean {
  return IPV4.test(text)
    ? ipaddr.IPv4.isValidFourPartDecimal(text)
    : text.includes(":") && ipaddr.IPv6.isValid(text);
}

/**
 * Classifies an IP address for the SSRF guard. Only ipaddr.js's `unicast` range passes, so loopback,
 * private (10/8, 172.16/12, 192.168/16), CGNAT (100.64/10), link-local and metadata (169.254/16),
 * unspecified, multicast, reserved and documentation ranges, fc00::/7 and fe80::/10 are refused.
 * IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is judged as the IPv4 address it maps; the deprecated
 * IPv4-compatible form (`::7f00:1`), which ipaddr.js calls unicast, is refused too.
 */
export function classifyAddress(address: string): AddressVerdict {
  const bare = address.replace(/^\[|\]$/g, "");
  if (!isIpLiteral(bare)) {
    return { ok: false, range: "invalid" };
  }
  let parsed: ipaddr.IPv4 | ipaddr.IPv6 = IPV4.test(bare) ? ipaddr.IPv4.parse(bare) : ipaddr.IPv6.parse(bare);
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  const range = parsed.range();
  if (
    range === "unicast" &&
    parsed.kind() === "ipv6" &&
    (parsed as ipaddr.IPv6).parts.slice(0, 6).every((part) => part === 0)
  ) {
    return { ok: false, range: "ipv4Compatible" };
  }
  return range === "unicast" ? { ok: true } : { ok: false, range };
}

/** True when `address:port` is named by an explicit allow entry (the only way past the range check). */
export function isAllowedAddress(address: string, port: number, rules: readonly AddressRule[]): boolean {
  const bare = address.replace(/^\[|\]$/g, "").toLowerCase();
  let normalised = bare;
  if (isIpLiteral(bare) && bare.includes(":")) {
    const v6 = ipaddr.IPv6.parse(bare);
    normalised = v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toNormalizedString();
  }
  return rules.some((rule) => {
    if (rule.port !== port) {
      return false;
    }
    const ruleAddress = rule.address.includes(":")
      ? ipaddr.IPv6.parse(rule.address).toNormalizedString()
      : rule.address;
    return ruleAddress === normalised;
  });
}

/** The connection-time check: an explicitly allowed address, or public unicast. */
export function checkAddress(address: string, port: number, rules: readonly AddressRule[]): AddressVerdict {
  return isAllowedAddress(address, port, rules) ? { ok: true } : classifyAddress(address);
}
