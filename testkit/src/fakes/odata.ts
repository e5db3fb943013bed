/**
 * A small OData v4 query engine over in-memory rows: the subset TPOS clients actually send
 * ($filter with eq/ne/gt/ge/lt/le/and/or/not and contains/startswith/endswith, $orderby, $top,
 * $skip, $count, $select). Anything else raises `ODataError("unsupported")`, which the TPOS fake
 * turns into the 500 NotSupportedException body TPOS really returns.
 */

/** A row of an entity set. */
export type Entity = Record<string, unknown>;

/** `syntax` → the fake answers 400; `unsupported` → 500 like TPOS on e.g. nested $expand. */
export class ODataError extends Error {
  /** Which of the two error families this is. */
  readonly kind: "syntax" | "unsupported";
  /** Creates an error of the given family. */
  constructor(kind: "syntax" | "unsupported", message: string) {
    super(message);
    this.kind = kind;
  }
}

type Expr =
  | { k: "lit"; v: unknown; date?: number }
  | { k: "field"; path: string[] }
  | { k: "call"; name: string; args: Expr[] }
  | { k: "bin"; op: string; l: Expr; r: Expr }
  | { k: "not"; e: Expr };

const TOKEN =
  /\s*(?:(?<str>'(?:[^']|'')*')|(?<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})|(?<date>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)|(?<num>-?\d+(?:\.\d+)?)|(?<id>[A-Za-z_][A-Za-z0-9_./]*)|(?<punct>[(),:]))/y;

type Tok = { t: "str" | "guid" | "date" | "num" | "id" | "punct"; v: string };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.length) {
    if (/^\s*$/.test(src.slice(TOKEN.lastIndex))) {
      break;
    }
    const m = TOKEN.exec(src);
    const g = m?.groups;
    if (m === null || g === undefined) {
      throw new ODataError("syntax", `Syntax error at position ${TOKEN.lastIndex} in '${src}'.`);
    }
    const kind = (["str", "guid", "date", "num", "id", "punct"] as const).find((k) => g[k] !== undefined);
    if (kind !== undefined) {
      out.push({ t: kind, v: g[kind] ?? "" });
    }
  }
  return out;
}

const COMPARE = new Set(["eq", "ne", "gt", "ge", "lt", "le"]);
const FUNCS = new Set(["contains", "startswith", "endswith", "tolower", "toupper"]);

/** Recursive-descent parser: or < and < not < comparison < primary. */
function parseFilter(src: string): Expr {
  const toks = tokenize(src);
  let i = 0;
  const peek = (): Tok | undefined => toks[i];
  const isWord = (w: string): boolean => peek()?.t === "id" && peek()?.v.toLowerCase() === w;
  const expect = (v: string): void => {
    if (peek()?.v !== v) {
      throw new ODataError("syntax", `Expected '${v}' in '${src}'.`);
    }
    i++;
  };
  const primary = (): Expr => {
    const tok = toks[i++];
    if (tok === undefined) {
      throw new ODataError("syntax", `Unexpected end of '${src}'.`);
    }
    switch (tok.t) {
      case "str":
        return { k: "lit", v: tok.v.slice(1, -1).replaceAll("''", "'") };
      case "guid":
        return { k: "lit", v: tok.v.toLowerCase() };
      case "date":
        return { k: "lit", v: tok.v, date: Date.parse(tok.v) };
      case "num":
        return { k: "lit", v: Number(tok.v) };
      case "punct": {
        if (tok.v !== "(") {
          throw new ODataError("syntax", `Unexpected '${tok.v}' in '${src}'.`);
        }
        const e = orExpr();
        expect(")");
        return e;
      }
      case "id": {
        const word = tok.v.toLowerCase();
        if (word === "true" || word === "false") {
          return { k: "lit", v: word === "true" };
        }
        if (word === "null") {
          return { k: "lit", v: null };
        }
        if (peek()?.v === "(") {
          // Lambdas (Tags/any(...)) and functions TPOS clients never use are not emulated.
          if (!FUNCS.has(word)) {
            throw new ODataError("unsupported", `Function '${tok.v}' is not supported.`);
          }
          i++;
          const args: Expr[] = [orExpr()];
          while (peek()?.v === ",") {
            i++;
            args.push(orExpr());
          }
          expect(")");
          return { k: "call", name: word, args };
        }
        return { k: "field", path: tok.v.split("/") };
      }
    }
  };
  const comparison = (): Expr => {
    const l = primary();
    const op = peek()?.v.toLowerCase();
    if (peek()?.t === "id" && op !== undefined && COMPARE.has(op)) {
      i++;
      return { k: "bin", op, l, r: primary() };
    }
    if (op === "has" || op === "in") {
      throw new ODataError("unsupported", `Operator '${op}' is not supported.`);
    }
    return l;
  };
  const notExpr = (): Expr => {
    if (isWord("not")) {
      i++;
      return { k: "not", e: notExpr() };
    }
    return comparison();
  };
  // `and` and `or` are both left-associative chains over the next tighter level; `and` binds tighter.
  const chain = (op: "and" | "or", operand: () => Expr) => (): Expr => {
    let l = operand();
    while (isWord(op)) {
      i++;
      l = { k: "bin", op, l, r: operand() };
    }
    return l;
  };
  const andExpr = chain("and", notExpr);
  const orExpr = chain("or", andExpr);
  const e = orExpr();
  if (i < toks.length) {
    throw new ODataError("syntax", `Unexpected '${toks[i]?.v}' in '${src}'.`);
  }
  return e;
}

function getPath(row: Entity, path: string[]): unknown {
  let cur: unknown = row;
  for (const p of path) {
    cur = typeof cur === "object" && cur !== null ? (cur as Record<string, unknown>)[p] : undefined;
  }
  return cur ?? null;
}

function norm(v: unknown, ci: boolean): unknown {
  return ci && typeof v === "string" ? v.toLowerCase() : v;
}

function compare(op: string, a: unknown, b: unknown, dateSide: boolean, ci: boolean): boolean {
  if (a === null || b === null) {
    // OData null semantics: only eq/ne are meaningful.
    return op === "eq" ? a === b : op === "ne" ? a !== b : false;
  }
  let x: unknown = norm(a, ci);
  let y: unknown = norm(b, ci);
  if (dateSide) {
    x = typeof a === "string" ? Date.parse(a) : a;
    y = typeof b === "string" ? Date.parse(b) : b;
  }
  const c =
    (x as number | string) < (y as number | string)
      ? -1
      : (x as number | string) > (y as number | string)
        ? 1
        : 0;
  switch (op) {
    case "eq":
      return x === y;
    case "ne":
      return x !== y;
    case "gt":
      return c > 0;
    case "ge":
      return c >= 0;
    case "lt":
      return c < 0;
    default:
      return c <= 0;
  }
}

function evaluate(e: Expr, row: Entity, ci: boolean): unknown {
  switch (e.k) {
    case "lit":
      return e.v;
    case "field":
      return getPath(row, e.path);
    case "not":
      return evaluate(e.e, row, ci) !== true;
    case "call": {
      const [a, b] = e.args.map((x) => evaluate(x, row, ci));
      const s = norm(a, ci);
      const t = norm(b, ci);
      if (e.name === "tolower" || e.name === "toupper") {
        return typeof a === "string" ? (e.name === "tolower" ? a.toLowerCase() : a.toUpperCase()) : null;
      }
      if (typeof s !== "string" || typeof t !== "string") {
        return false;
      }
      return e.name === "contains"
        ? s.includes(t)
        : e.name === "startswith"
          ? s.startsWith(t)
          : s.endsWith(t);
    }
    case "bin": {
      if (e.op === "and") {
        return evaluate(e.l, row, ci) === true && evaluate(e.r, row, ci) === true;
      }
      if (e.op === "or") {
        return evaluate(e.l, row, ci) === true || evaluate(e.r, row, ci) === true;
      }
      const isDate = (x: Expr): boolean => x.k === "lit" && x.date !== undefined;
      return compare(e.op, evaluate(e.l, row, ci), evaluate(e.r, row, ci), isDate(e.l) || isDate(e.r), ci);
    }
  }
}

function sortRows(rows: Entity[], orderby: string): Entity[] {
  const keys = orderby.split(",").map((part) => {
    const [field, dir, extra] = part.trim().split(/\s+/);
    if (
      field === undefined ||
      field === "" ||
      extra !== undefined ||
      (dir !== undefined && !/^(asc|desc)$/i.test(dir))
    ) {
      throw new ODataError("syntax", `Invalid $orderby '${orderby}'.`);
    }
    return { path: field.split("/"), sign: dir?.toLowerCase() === "desc" ? -1 : 1 };
  });
  return [...rows].sort((r1, r2) => {
    for (const { path, sign } of keys) {
      const a = getPath(r1, path) as number | string | null;
      const b = getPath(r2, path) as number | string | null;
      // Nulls sort first ascending, as SQL Server does.
      const c = a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1;
      if (c !== 0) {
        return c * sign;
      }
    }
    return 0;
  });
}

/** The result of `runQuery`: the page of rows plus what the response envelope needs. */
export interface ODataResult {
  rows: Entity[];
  /** Total after $filter, before $skip/$top; present only with `$count=true`. */
  count?: number;
  /** Fields from $select, in request order; absent when not selecting. */
  select?: string[];
}

/** Projects a row onto the selected fields. */
export function project(row: Entity, select: string[] | undefined): Entity {
  if (select === undefined) {
    return row;
  }
  return Object.fromEntries(select.filter((f) => f in row).map((f) => [f, row[f]]));
}

/** Parses the $select option (shared by collection and single-entity reads). */
export function parseSelect(q: URLSearchParams): string[] | undefined {
  const sel = q.get("$select");
  if (sel === null || sel.trim() === "*") {
    return undefined;
  }
  if (sel.includes("(") || sel.includes("/")) {
    throw new ODataError("unsupported", "Nested $select is not supported.");
  }
  return sel.split(",").map((s) => s.trim());
}

/** Rejects query options TPOS fails on or the fake does not emulate. */
export function checkUnsupported(q: URLSearchParams): void {
  const expand = q.get("$expand");
  if (expand?.includes("(")) {
    throw new ODataError("unsupported", "Nested $expand is not supported.");
  }
  for (const opt of ["$apply", "$search", "$compute"]) {
    if (q.has(opt)) {
      throw new ODataError("unsupported", `${opt} is not supported.`);
    }
  }
}

/** Applies $filter, $orderby, $count, $skip, $top and $select to `rows`. */
export function runQuery(rows: Entity[], q: URLSearchParams, caseInsensitive = true): ODataResult {
  checkUnsupported(q);
  const filter = q.get("$filter");
  let out = rows;
  if (filter !== null && filter.trim() !== "") {
    const expr = parseFilter(filter);
    out = out.filter((r) => evaluate(expr, r, caseInsensitive) === true);
  }
  const orderby = q.get("$orderby");
  if (orderby !== null && orderby.trim() !== "") {
    out = sortRows(out, orderby);
  }
  const countOpt = q.get("$count");
  if (countOpt !== null && countOpt !== "true" && countOpt !== "false") {
    throw new ODataError("syntax", `Invalid $count '${countOpt}'.`);
  }
  const total = out.length;
  const num = (name: string): number | undefined => {
    const v = q.get(name);
    if (v === null) {
      return undefined;
    }
    if (!/^\d+$/.test(v)) {
      throw new ODataError("syntax", `Invalid ${name} '${v}'.`);
    }
    return Number(v);
  };
  const skip = num("$skip") ?? 0;
  const top = num("$top");
  out = out.slice(skip, top === undefined ? undefined : skip + top);
  const select = parseSelect(q);
  const result: ODataResult = { rows: out.map((r) => project(r, select)) };
  if (countOpt === "true") {
    result.count = total;
  }
  if (select !== undefined) {
    result.select = select;
  }
  return result;
}
