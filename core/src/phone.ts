/**
 * Vietnamese phone numbers: normalised to the national form (`0912345678`) from the spellings
 * people type (`+84 912 345 678`, `84912345678`, `0912.345.678`, `912345678`).
 */

const MOBILE = /^0[35789]\d{8}$/;
const LANDLINE = /^02\d{9}$/;

/** Mobile prefixes by network, after the 2018 renumbering. */
const CARRIERS: Readonly<Record<string, string>> = {
  ...Object.fromEntries(
    ["086", "096", "097", "098", "032", "033", "034", "035", "036", "037", "038", "039"].map((p) => [
      p,
      "Viettel",
    ]),
  ),
  ...Object.fromEntries(
    ["088", "091", "094", "081", "082", "083", "084", "085"].map((p) => [p, "Vinaphone"]),
  ),
  ...Object.fromEntries(["089", "090", "093", "070", "076", "077", "078", "079"].map((p) => [p, "Mobifone"])),
  ...Object.fromEntries(["092", "052", "056", "058"].map((p) => [p, "Vietnamobile"])),
  ...Object.fromEntries(["099", "059"].map((p) => [p, "Gmobile"])),
  "087": "Itelecom",
  "055": "Reddi",
};

/** Digits only, with +84/84 turned into the leading 0. */
export function phoneDigits(input: string): string {
  // "+84 (0) 912 ..." carries the trunk 0 in brackets: it goes, like the other separators.
  let digits = input.replace(/^\s*\+84\s*\(0\)/, "+84").replace(/[\s().-]/g, "");
  if (digits.startsWith("0084")) {
    digits = `+${digits.slice(2)}`;
  }
  if (digits.startsWith("+84")) {
    digits = `0${digits.slice(3)}`;
  } else if (digits.startsWith("84") && (digits.length === 11 || digits.length === 12)) {
    digits = `0${digits.slice(2)}`;
  }
  return digits;
}

/** The normalised number, or null when it is not a Vietnamese mobile or landline number. */
export function normalizePhone(input: string): string | null {
  let digits = phoneDigits(input);
  if (/^[35789]\d{8}$/.test(digits)) {
    digits = `0${digits}`;
  }
  return MOBILE.test(digits) || LANDLINE.test(digits) ? digits : null;
}

/** The mobile network of a normalised number, or null for landlines and unknown prefixes. */
export function carrierOf(phone: string): string | null {
  return CARRIERS[phone.slice(0, 3)] ?? null;
}
