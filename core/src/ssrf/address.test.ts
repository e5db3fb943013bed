import { describe, expect, it } from "vitest";
import type { AddressRule } from "../config.js";
import { checkAddress, classifyAddress, isAllowedAddress, isIpLiteral } from "./address.js";

describe("classifyAddress", () => {
  // Every refused range, by how the address is written: the title says which kind each row is.
  it.each([
    ...[
      ["127.0.0.1", "loopback"],
      ["127.255.255.254", "loopback"],
      ["10.0.0.1", "private"],
      ["10.255.255.255", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.1", "private"],
      ["100.64.0.1", "carrierGradeNat"],
      ["100.127.255.255", "carrierGradeNat"],
      ["169.254.169.254", "linkLocal"],
      ["169.254.0.1", "linkLocal"],
      ["0.0.0.0", "unspecified"],
      ["0.1.2.3", "unspecified"],
      ["255.255.255.255", "broadcast"],
      ["224.0.0.1", "multicast"],
      ["239.255.255.250", "multicast"],
      ["240.0.0.1", "reserved"],
      ["192.0.2.1", "reserved"],
      ["198.51.100.7", "reserved"],
      ["203.0.113.9", "reserved"],
      ["198.18.0.1", "reserved"],
    ].map(([address, range]) => [`refuses the IPv4 address ${address} (range ${range})`, address, range]),
    ...[
      ["fc00::1", "uniqueLocal"],
      ["fd12:3456::1", "uniqueLocal"],
      ["fe80::1", "linkLocal"],
      ["fe80::1%eth0", "linkLocal"],
      ["ff02::1", "multicast"],
      ["64:ff9b::7f00:1", "rfc6052"],
      ["64:ff9b::808:808", "rfc6052"],
      ["2001:db8::1", "reserved"],
      ["2002:7f00:1::", "6to4"],
      ["2001::1", "teredo"],
      ["fec0::1", "deprecatedSiteLocal"],
    ].map(([address, range]) => [`refuses the IPv6 address ${address} (range ${range})`, address, range]),
    ...[
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["[::ffff:7f00:1]", "loopback"],
      ["::FFFF:A9FE:A9FE", "linkLocal"],
      ["::ffff:10.0.0.1", "private"],
    ].map(([address, range]) => [
      `judges the IPv4-mapped address ${address} as the IPv4 address it maps (${range})`,
      address,
      range,
    ]),
  ])("%s", (_title, address = "", range) => {
    expect(classifyAddress(address)).toEqual({ ok: false, range });
  });

  it.each(["::1", "::", "[::1]", "0:0:0:0:0:0:0:1"])("refuses %s", (address) => {
    expect(classifyAddress(address).ok).toBe(false);
  });

  it.each(["::7f00:1", "::a9fe:a9fe", "::808:808"])(
    "refuses the IPv4-compatible address %s, which ipaddr.js calls unicast",
    (address) => {
      expect(classifyAddress(address)).toEqual({ ok: false, range: "ipv4Compatible" });
    },
  );

  it.each(["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "2001:4860:4860::8888"])(
    "accepts the public unicast address %s",
    (address) => {
      expect(classifyAddress(address)).toEqual({ ok: true });
    },
  );

  it("accepts an IPv4-mapped public address", () => {
    expect(classifyAddress("::ffff:8.8.8.8")).toEqual({ ok: true });
  });

  it.each(["example.com", "1.2.3", "256.1.1.1", "010.0.0.1", "", "::g", "127.0.0.1:80"])(
    "refuses %j as an invalid address",
    (address) => {
      expect(classifyAddress(address)).toEqual({ ok: false, range: "invalid" });
    },
  );

  // BUG (address.ts, classifyAddress): the `::/96` (IPv4-compatible) test runs before `range()`,
  // so `::1` and `::` are reported as "ipv4Compatible" instead of "loopback"/"unspecified". They are
  // still refused; only the range named in the refusal's cause (and the logs) is wrong.
  it("names the loopback range for ::1 and the unspecified range for ::", () => {
    expect(classifyAddress("::1")).toEqual({ ok: false, range: "loopback" });
    expect(classifyAddress("::")).toEqual({ ok: false, range: "unspecified" });
  });
});

describe("isIpLiteral", () => {
  it.each(["127.0.0.1", "8.8.8.8", "::1", "2606:4700::1111", "::ffff:127.0.0.1"])(
    "recognises %s as an IP literal",
    (text) => {
      expect(isIpLiteral(text)).toBe(true);
    },
  );

  it.each(["localhost", "pancake.vn", "1.2.3", "999.0.0.1", "[::1]", "127.0.0.1.nip.io", ""])(
    "does not take %j for an IP literal",
    (text) => {
      expect(isIpLiteral(text)).toBe(false);
    },
  );
});

describe("isAllowedAddress", () => {
  const rules: readonly AddressRule[] = [
    { address: "127.0.0.1", port: 4100 },
    { address: "::1", port: 4200 },
  ];

  it("allows an address named by a rule on the rule's port", () => {
    expect(isAllowedAddress("127.0.0.1", 4100, rules)).toBe(true);
    expect(isAllowedAddress("::1", 4200, rules)).toBe(true);
  });

  it("refuses a listed address on another port", () => {
    expect(isAllowedAddress("127.0.0.1", 4101, rules)).toBe(false);
    expect(isAllowedAddress("127.0.0.1", 4200, rules)).toBe(false);
    expect(isAllowedAddress("::1", 4100, rules)).toBe(false);
  });

  it("refuses an unlisted address on a listed port", () => {
    expect(isAllowedAddress("127.0.0.2", 4100, rules)).toBe(false);
    expect(isAllowedAddress("::2", 4200, rules)).toBe(false);
  });

  it("compares IPv6 addresses in normalised form, with or without brackets", () => {
    expect(isAllowedAddress("0:0:0:0:0:0:0:1", 4200, rules)).toBe(true);
    expect(isAllowedAddress("[::1]", 4200, rules)).toBe(true);
    expect(isAllowedAddress("0::0:1", 4200, rules)).toBe(true);
  });

  it("matches an IPv4-mapped IPv6 address against an IPv4 rule", () => {
    expect(isAllowedAddress("::ffff:127.0.0.1", 4100, rules)).toBe(true);
    expect(isAllowedAddress("::ffff:7f00:1", 4100, rules)).toBe(true);
  });

  it("matches upper-case IPv6 spellings against a lower-case rule", () => {
    expect(isAllowedAddress("fd00::A", 80, [{ address: "fd00::a", port: 80 }])).toBe(true);
  });

  it("allows nothing when there are no rules", () => {
    expect(isAllowedAddress("127.0.0.1", 4100, [])).toBe(false);
  });
});

describe("checkAddress", () => {
  const rules: readonly AddressRule[] = [{ address: "127.0.0.1", port: 4100 }];

  it("lets an explicitly allowed private address through on its port", () => {
    expect(checkAddress("127.0.0.1", 4100, rules)).toEqual({ ok: true });
  });

  it("refuses the same address on another port with its range", () => {
    expect(checkAddress("127.0.0.1", 22, rules)).toEqual({ ok: false, range: "loopback" });
  });

  it("refuses the IPv4-mapped spelling of an allowed address on another port", () => {
    expect(checkAddress("::ffff:127.0.0.1", 22, rules)).toEqual({ ok: false, range: "loopback" });
  });

  it("lets public unicast through without a rule", () => {
    expect(checkAddress("8.8.8.8", 443, [])).toEqual({ ok: true });
  });

  it("refuses the metadata address without a rule", () => {
    expect(checkAddress("169.254.169.254", 80, rules)).toEqual({ ok: false, range: "linkLocal" });
  });
});
