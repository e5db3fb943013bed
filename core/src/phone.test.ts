import { describe, expect, it } from "vitest";
import { carrierOf, normalizePhone, phoneDigits } from "./phone.js";

describe("normalizePhone", () => {
  // Mobile numbers and landlines go through the same normalisation; the kind only names the case.
  const normalised = {
    "mobile number": [
      ["+84 912 345 678", "0912345678"],
      ["+84912345678", "0912345678"],
      ["84912345678", "0912345678"],
      ["0912.345.678", "0912345678"],
      ["0912-345-678", "0912345678"],
      ["(091) 234 5678", "0912345678"],
      ["912345678", "0912345678"],
      ["0987654321", "0987654321"],
      ["0359876543", "0359876543"],
      ["0701234567", "0701234567"],
      ["841234567", "0841234567"],
      ["84841234567", "0841234567"],
    ],
    landline: [
      ["028 3822 1234", "02838221234"],
      ["(028) 3822-1234", "02838221234"],
      ["+84 28 3822 1234", "02838221234"],
      ["842838221234", "02838221234"],
      ["024.3825.1234", "02438251234"],
    ],
  };
  it.each(
    Object.entries(normalised).flatMap(([kind, pairs]) =>
      pairs.map(([input, expected]) => [kind, input, expected]),
    ),
  )("normalises the %s %j to %s", (_kind, input, expected) => {
    expect(normalizePhone(input ?? "")).toBe(expected);
  });

  it.each([
    "",
    "abc",
    "0123456789",
    "0412345678",
    "0612345678",
    "091234567",
    "09123456789",
    "+1 415 555 0100",
    "0912 345 67a",
    "0238221234",
    "12345678",
    "+84 912 345 678 9",
  ])("refuses %j", (input) => {
    expect(normalizePhone(input)).toBeNull();
  });
});

describe("phoneDigits", () => {
  it("strips spaces, dots, dashes and brackets and turns +84 into 0", () => {
    expect(phoneDigits(" +84 (912) 345-678. ")).toBe("0912345678");
  });

  it("turns a leading 84 into 0 only for 11 or 12 digits", () => {
    expect(phoneDigits("84912345678")).toBe("0912345678");
    expect(phoneDigits("849123")).toBe("849123");
  });

  it("keeps a prefix of a number as digits (for prefix search)", () => {
    expect(phoneDigits("0912 345")).toBe("0912345");
  });
});

describe("carrierOf", () => {
  it.each([
    ["0961234567", "Viettel"],
    ["0321234567", "Viettel"],
    ["0861234567", "Viettel"],
    ["0912345678", "Vinaphone"],
    ["0881234567", "Vinaphone"],
    ["0901234567", "Mobifone"],
    ["0701234567", "Mobifone"],
    ["0921234567", "Vietnamobile"],
    ["0561234567", "Vietnamobile"],
    ["0991234567", "Gmobile"],
    ["0871234567", "Itelecom"],
    ["0551234567", "Reddi"],
  ])("names the network of %s as %s", (phone, carrier) => {
    expect(carrierOf(phone)).toBe(carrier);
  });

  it.each(["02838221234", "0501234567", ""])("gives null for %j (landline or unknown prefix)", (phone) => {
    expect(carrierOf(phone)).toBeNull();
  });
});
