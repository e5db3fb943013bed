import { describe, expect, it } from "vitest";
import { vietnamTimeToDate } from "./sepay.js";

describe("vietnamTimeToDate", () => {
  it.each([
    ["2026-11-25 14:30:05", "2026-11-25T07:30:05.000Z"],
    ["2026-11-25 07:00:00", "2026-11-25T00:00:00.000Z"],
    ["2026-11-25 06:59:59", "2026-11-24T23:59:59.000Z"],
    ["2026-01-01 03:00:00", "2025-12-31T20:00:00.000Z"],
    ["2026-03-01 00:00:00", "2026-02-28T17:00:00.000Z"],
    ["2028-02-29 12:00:00", "2028-02-29T05:00:00.000Z"],
    ["2026-12-31 23:59:59", "2026-12-31T16:59:59.000Z"],
  ])("reads %s as Vietnam time (UTC+7): %s", (local, utc) => {
    expect(vietnamTimeToDate(local)?.toISOString()).toBe(utc);
  });

  // Two reasons to refuse, one check: a date or time that does not exist, and text in another format.
  const refused = [
    ...[
      "2026-02-30 10:00:00",
      "2026-02-29 10:00:00",
      "2026-04-31 10:00:00",
      "2026-13-01 10:00:00",
      "2026-00-10 10:00:00",
      "2026-11-00 10:00:00",
      "2026-11-25 24:00:00",
      "2026-11-25 23:60:00",
      "2026-11-25 23:59:60",
    ].map((text) => [`the date and time ${text}, which does not exist`, text]),
    ...[
      "2026-11-25T14:30:05",
      "2026-11-25 14:30",
      "2026-11-25 7:00:00",
      "2026-11-25 14:30:05+07:00",
      "25/11/2026 14:30:05",
      "",
      " 2026-11-25 14:30:05",
    ].map((text) => [`${JSON.stringify(text)}, which is not YYYY-MM-DD HH:MM:SS`, text]),
  ];
  it.each(refused)("refuses %s", (_why, text) => {
    expect(vietnamTimeToDate(text ?? "")).toBeNull();
  });
});
