import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Entity } from "./odata.js";
import { ODataError, runQuery } from "./odata.js";

const rows: Entity[] = [
  { Id: 1, Name: "Áo O'Neil", Price: 10, Active: true, When: "2026-01-01T00:00:00Z", Partner: { Name: "A" } },
  { Id: 2, Name: "quần", Price: 20, Active: false, When: "2026-02-01T00:00:00Z", Partner: { Name: "B" } },
  { Id: 3, Name: "Váy", Price: null, Active: true, When: "2026-03-01T00:00:00Z", Partner: null },
];

function ids(q: string): unknown[] {
  return runQuery(rows, new URLSearchParams(q)).rows.map((r) => r.Id);
}

describe("runQuery", () => {
  it("evaluates operators, precedence, functions and nulls", () => {
    expect(ids("$filter=Price ne 10")).toEqual([2, 3]);
    expect(ids("$filter=Price eq null")).toEqual([3]);
    expect(ids("$filter=Active eq true and (Price lt 15 or Price eq null)")).toEqual([1, 3]);
    expect(ids("$filter=not Active")).toEqual([2]);
    expect(ids("$filter=Name eq 'Áo O''Neil'")).toEqual([1]);
    expect(ids("$filter=startswith(Name,'QU')")).toEqual([2]);
    expect(ids("$filter=When lt 2026-02-15T00:00:00Z")).toEqual([1, 2]);
    expect(ids("$filter=Partner/Name eq 'B'")).toEqual([2]);
    expect(ids("$orderby=Price desc,Id")).toEqual([2, 1, 3]);
  });

  it("reports unsupported features and syntax errors separately", () => {
    const kind = (q: string): string | undefined => {
      try {
        runQuery(rows, new URLSearchParams(q));
        return undefined;
      } catch (e) {
        return e instanceof ODataError ? e.kind : "other";
      }
    };
    expect(kind("$expand=A($expand=B)")).toBe("unsupported");
    expect(kind("$filter=Tags/any(t: t eq 1)")).toBe("unsupported");
    expect(kind("$filter=Id eq")).toBe("syntax");
    expect(kind("$top=-1")).toBe("syntax");
    expect(kind("$expand=Partner")).toBeUndefined();
  });

  it("$skip/$top/$count match Array.slice for any input", () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { maxLength: 30 }), fc.nat(40), fc.nat(40), (values, skip, top) => {
        const data = values.map((v, i) => ({ Id: i, V: v }));
        const r = runQuery(data, new URLSearchParams(`$skip=${skip}&$top=${top}&$count=true`));
        expect(r.rows).toEqual(data.slice(skip, skip + top));
        expect(r.count).toBe(data.length);
      }),
    );
  });

  it("numeric comparisons agree with JavaScript's", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 20 }),
        fc.integer({ min: -1000, max: 1000 }),
        (values, n) => {
          const data = values.map((v, i) => ({ Id: i, V: v }));
          const got = runQuery(data, new URLSearchParams(`$filter=V ge ${n}`)).rows;
          expect(got).toEqual(data.filter((d) => d.V >= n));
        },
      ),
    );
  });
});
