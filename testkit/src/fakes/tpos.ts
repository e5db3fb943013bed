/**
 * Fake TPOS (tomato.tpos.vn): OWIN `/token`, Bearer-protected OData v4 over in-memory sets, a few
 * `/rest/v2.0` routes, and test-only `/echo/*` and `/big?bytes=` routes. Facts: upstreams.md §1.
 */
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { FAKE_CREDENTIALS } from "./credentials.js";
import type { Entity } from "./odata.js";
import { checkUnsupported, ODataError, parseSelect, project, runQuery } from "./odata.js";
import type { FakeHandle, FakeRequest, RecordedRequest } from "./server.js";
import {
  baseHandle,
  fakeJwt,
  intParam,
  isRecord,
  randomHex,
  sendJson,
  startFakeServer,
  streamGenerated,
  tryJson,
} from "./server.js";
import { defaultTposSeed } from "./tpos-seed.js";

const CTX = "http://tomato.tpos.vn/odata/$metadata";
const ODATA_JSON = { "content-type": "application/json; odata.metadata=minimal" };
const NOT_FOUND = {
  error: { code: "404", message: "The requested API endpoint does not exist.", details: "NotFound" },
};
const UNEXPECTED = {
  error: {
    code: "UnexpectedError",
    message: "Đã xảy ra lỗi hệ thống. Vui lòng thử lại sau hoặc liên hệ quản trị viên.",
    details: "NotSupportedException",
  },
};

/** Result of a custom OData operation (bound function or action). */
interface OperationResult {
  status?: number;
  body: unknown;
}

/** A custom `ODataService.{Name}` operation; `rows` is the live entity set it is bound to. */
type OperationHandler = (ctx: {
  method: string;
  set: string;
  body: unknown;
  rows: Entity[];
}) => OperationResult;

/** Options of `createFakeTpos`. */
export interface FakeTposOptions {
  /** Accepted logins; defaults to `FAKE_CREDENTIALS.tpos`. */
  users?: { username: string; password: string }[];
  /** Accepted `client_id`s (default `["tmtWebApp"]`). */
  clientIds?: string[];
  /** `expires_in` seconds (default 1295999, the documented ~15 days). */
  expiresIn?: number;
  /** Delay every /token answer, e.g. to test single-flight refreshes. */
  tokenDelayMs?: number;
  /** UNCERTAIN whether TPOS checks `scope`; when set, a different scope gets `invalid_scope`. */
  requiredScope?: string;
  /** UNCERTAIN: when true a refresh token works once (rotation); default false. */
  singleUseRefreshTokens?: boolean;
  /** 401 status/body for a bad Bearer (UNCERTAIN body; default the ASP.NET one). */
  unauthorizedStatus?: number;
  unauthorizedBody?: unknown;
  /** `tposappversion` response header (default `6.5.14.1`); null omits it. */
  appVersion?: string | null;
  /** Entity sets replacing the default seed. */
  seed?: Record<string, Entity[]>;
  /** SQL Server's default collation compares strings case-insensitively; default true. */
  caseInsensitiveStrings?: boolean;
  /**
   * Answer /token with 400 when browser headers were forwarded (cookie, cf-*, or a Host
   * that is not this server), as TPOS did for the original Worker. Default false; the exact header
   * set and the 400 body are UNCERTAIN.
   */
  rejectBrowserHeaders?: boolean;
  /** Clock for token expiry (default `Date.now`). */
  now?: () => number;
}

/** Handle of the TPOS fake. */
export interface FakeTpos extends FakeHandle {
  /** Number of /token requests, successful or not. */
  readonly tokenHits: number;
  /** Number of access tokens issued. */
  readonly tokensIssued: number;
  /** Makes every issued access token invalid (401 on next use); refresh tokens keep working. */
  expireAllTokens(): void;
  /** Makes every refresh token invalid (`invalid_grant`). */
  revokeRefreshTokens(): void;
  setTokenDelay(ms: number): void;
  setAppVersion(version: string | null): void;
  /** Replaces the rows of an entity set (creating the set). */
  seed(set: string, rows: Entity[]): void;
  /** The live rows of a set (mutations are visible to the fake). */
  rows(set: string): Entity[];
  /** Every `ODataService.*` call, in order, with its parsed JSON body. */
  readonly operationCalls: { method: string; set: string; name: string; body: unknown }[];
  /** Registers or overrides a bound operation by name (case-insensitive). */
  defineOperation(name: string, handler: OperationHandler): void;
  /** Overrides the body of a `GET /rest/...` path (exact pathname). */
  setRest(path: string, body: unknown, status?: number): void;
  /** Every POST to `/rest/...`. */
  readonly restPosts: RecordedRequest[];
  /** Every Excel export request (`POST /{Set}/Export...`), in order. */
  readonly exports: RecordedRequest[];
}

/** The XLSX media type TPOS's exports answer with. */
export const XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/**
 * The bytes of an export: a ZIP local-file signature (what an .xlsx starts with) and then every byte
 * value, in a pattern seeded by the path, so a test sees any re-encoding of a binary body. Not a
 * workbook a spreadsheet program could open: the gateway only streams it.
 */
export function exportBytes(path: string, size = 48 * 1024): Buffer {
  const bytes = Buffer.alloc(size);
  bytes.set([0x50, 0x4b, 0x03, 0x04]);
  let seed = 0;
  for (const char of path.toLowerCase()) {
    seed = (seed * 31 + char.charCodeAt(0)) >>> 0;
  }
  for (let i = 4; i < size; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    bytes[i] = (seed >>> 16) & 0xff;
  }
  return bytes;
}

/** The MVC export actions the shop's pages call through the gateway's `/api/*` (case-insensitive). */
const EXPORTS = new Set([
  "/fastsaleorder/exportfile",
  "/fastsaleorder/exportfiledetail",
  "/fastsaleorder/exportfilerefund",
  "/saleonline_order/exportfile",
  "/saleonline_order/exportfiledetail",
  "/product/exportproductv2",
  "/product/exportfilewithstandardpricev2",
]);

function guid(): string {
  return randomUUID();
}

/** Starts the TPOS fake. */
export async function createFakeTpos(options: FakeTposOptions = {}): Promise<FakeTpos> {
  const now = options.now ?? Date.now;
  const users = options.users ?? [
    { username: FAKE_CREDENTIALS.tpos.username, password: FAKE_CREDENTIALS.tpos.password },
    FAKE_CREDENTIALS.tposCompany2,
  ];
  const clientIds = options.clientIds ?? [FAKE_CREDENTIALS.tpos.clientId];
  let tokenDelay = options.tokenDelayMs ?? 0;
  let appVersion = options.appVersion === undefined ? "6.5.14.1" : options.appVersion;
  let sets = structuredClone(options.seed ?? defaultTposSeed());
  const access = new Map<string, { username: string; expiresAt: number }>();
  const refresh = new Map<string, string>();
  const operations = new Map<string, OperationHandler>();
  const restOverrides = new Map<string, { status: number; body: unknown }>();
  const operationCalls: FakeTpos["operationCalls"] = [];
  const restPosts: RecordedRequest[] = [];
  const exports: RecordedRequest[] = [];
  let tokenHits = 0;
  let tokensIssued = 0;

  const defaultOperations = (): void => {
    operations.clear();
    // Read-side views behave like the plain collection with a View_ context (as captured).
    const view: OperationHandler = () => ({ body: undefined });
    operations.set("getview", view);
    operations.set("getviewv2", view);
    // Creates orders; the request shape is not captured, so accept an array, {model(s):[…]} or one object.
    operations.set("insertlistordermodel", ({ set, body, rows }) => {
      const list = Array.isArray(body) ? body : isRecord(body) ? (body.models ?? body.model ?? [body]) : [];
      const created = (Array.isArray(list) ? list : [list]).map((m) => {
        const row: Entity = {
          ...(isRecord(m) ? m : {}),
          Id: guid(),
          DateCreated: new Date(now()).toISOString(),
        };
        rows.push(row);
        return row;
      });
      return { body: { "@odata.context": `${CTX}#${set}`, value: created } };
    });
  };
  defaultOperations();

  const tokenError = (res: ServerResponse, error: string, description: string): void =>
    sendJson(res, 400, { error, error_description: description });

  const issue = (res: ServerResponse, username: string): void => {
    const expiresIn = options.expiresIn ?? 1295999;
    const iat = Math.floor(now() / 1000);
    const accessToken = fakeJwt({ unique_name: username, jti: randomHex(8), iat, exp: iat + expiresIn });
    const refreshToken = randomHex(24);
    access.set(accessToken, { username, expiresAt: now() + expiresIn * 1000 });
    refresh.set(refreshToken, username);
    tokensIssued++;
    sendJson(res, 200, {
      access_token: accessToken,
      token_type: "bearer",
      expires_in: expiresIn,
      refresh_token: refreshToken,
    });
  };

  const handleToken = async (req: FakeRequest, res: ServerResponse): Promise<void> => {
    tokenHits++;
    if (tokenDelay > 0) {
      await srv.delay(tokenDelay);
    }
    if (req.method !== "POST") {
      sendJson(res, 405, { Message: `The requested resource does not support http method '${req.method}'.` });
      return;
    }
    // sec-fetch-* is not checked: TPOS's own web app sends it, and Node's fetch adds sec-fetch-mode.
    const forwarded = Object.keys(req.headers).some((h) => h === "cookie" || h.startsWith("cf-"));
    if (options.rejectBrowserHeaders === true && (forwarded || req.headers.host !== new URL(srv.url).host)) {
      sendJson(res, 400, { Message: "The request is invalid." });
      return;
    }
    const form = new URLSearchParams(req.body);
    // OWIN validates the client before looking at the grant.
    if (!clientIds.includes(form.get("client_id") ?? "")) {
      tokenError(res, "invalid_client", "Client credentials are invalid.");
      return;
    }
    const grant = form.get("grant_type");
    if (grant === "password") {
      if (options.requiredScope !== undefined && form.get("scope") !== options.requiredScope) {
        tokenError(res, "invalid_scope", "The requested scope is invalid.");
        return;
      }
      const user = users.find(
        (u) => u.username === form.get("username") && u.password === form.get("password"),
      );
      if (user === undefined) {
        tokenError(res, "invalid_grant", "The user name or password is incorrect.");
        return;
      }
      issue(res, user.username);
    } else if (grant === "refresh_token") {
      const rt = form.get("refresh_token") ?? "";
      const username = refresh.get(rt);
      if (username === undefined) {
        tokenError(res, "invalid_grant", "The refresh token is invalid or expired.");
        return;
      }
      if (options.singleUseRefreshTokens === true) {
        refresh.delete(rt);
      }
      issue(res, username);
    } else {
      sendJson(res, 400, { error: "unsupported_grant_type" });
    }
  };

  const authorized = (req: FakeRequest): boolean => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    const entry = m?.[1] === undefined ? undefined : access.get(m[1]);
    return entry !== undefined && entry.expiresAt > now();
  };

  const handleOData = (req: FakeRequest, res: ServerResponse): void => {
    const [head = "", op, extra] = req.path.slice("/odata/".length).split("/");
    const hm = /^([A-Za-z_]\w*)(?:\((.*)\))?$/.exec(head);
    const setName = hm?.[1];
    const rows = setName === undefined ? undefined : sets[setName];
    if (setName === undefined || rows === undefined || extra !== undefined) {
      sendJson(res, 404, NOT_FOUND, ODATA_JSON);
      return;
    }
    const key = hm?.[2]?.replace(/^'(.*)'$/, "$1");
    const keyed =
      key === undefined ? undefined : rows.find((r) => String(r.Id).toLowerCase() === key.toLowerCase());
    const collection = (list: Entity[], context: string): void => {
      const r = runQuery(list, req.query, options.caseInsensitiveStrings ?? true);
      const sel = r.select === undefined ? "" : `(${r.select.join(",")})`;
      const body: Record<string, unknown> = { "@odata.context": `${CTX}#${context}${sel}` };
      if (r.count !== undefined) {
        body["@odata.count"] = r.count; // Key order matters: clients and tests see count before value.
      }
      body.value = r.rows;
      sendJson(res, 200, body, ODATA_JSON);
    };

    if (op !== undefined && /^odataservice\./i.test(op)) {
      const name = op.slice("ODataService.".length);
      const handler = operations.get(name.toLowerCase());
      const parsed = tryJson(req.body);
      const body = parsed.ok ? parsed.value : req.body;
      operationCalls.push({ method: req.method, set: setName, name, body });
      if (handler === undefined) {
        sendJson(res, 404, NOT_FOUND, ODATA_JSON);
        return;
      }
      const out = handler({ method: req.method, set: setName, body, rows });
      if (out.body === undefined) {
        collection(rows, `View_${setName}`);
      } else {
        sendJson(res, out.status ?? 200, out.body, ODATA_JSON);
      }
      return;
    }
    if (key !== undefined && keyed === undefined) {
      sendJson(res, 404, NOT_FOUND, ODATA_JSON);
      return;
    }
    if (keyed !== undefined && op !== undefined) {
      // Navigation such as FastSaleOrder(1)/OrderLines: served when the row carries that array.
      const nav = keyed[op];
      if (!Array.isArray(nav)) {
        sendJson(res, 404, NOT_FOUND, ODATA_JSON);
        return;
      }
      collection(nav as Entity[], `${setName}(${key})/${op}`);
      return;
    }
    if (op !== undefined) {
      sendJson(res, 404, NOT_FOUND, ODATA_JSON);
      return;
    }
    if (keyed !== undefined) {
      if (req.method === "DELETE") {
        rows.splice(rows.indexOf(keyed), 1);
        res.writeHead(204).end();
      } else if (req.method === "PATCH" || req.method === "PUT") {
        const patch = tryJson(req.body);
        Object.assign(keyed, patch.ok && isRecord(patch.value) ? patch.value : {}, { Id: keyed.Id });
        res.writeHead(204).end();
      } else {
        checkUnsupported(req.query);
        const entity = project(keyed, parseSelect(req.query));
        sendJson(res, 200, { "@odata.context": `${CTX}#${setName}/$entity`, ...entity }, ODATA_JSON);
      }
      return;
    }
    if (req.method === "POST") {
      const parsed = tryJson(req.body);
      const input = parsed.ok && isRecord(parsed.value) ? parsed.value : {};
      const first = rows[0];
      const id =
        typeof first?.Id === "string" ? guid() : Math.max(0, ...rows.map((r) => Number(r.Id) || 0)) + 1;
      const row: Entity = { ...input, Id: id };
      rows.push(row);
      sendJson(res, 201, { "@odata.context": `${CTX}#${setName}/$entity`, ...row }, ODATA_JSON);
      return;
    }
    collection(rows, setName);
  };

  const handleRest = (req: FakeRequest, res: ServerResponse): void => {
    if (req.method === "POST") {
      const { raw: _raw, ...record } = req;
      restPosts.push(record);
      const parsed = tryJson(req.body);
      sendJson(res, 200, {
        success: true,
        path: req.path,
        received: parsed.ok ? parsed.value : req.body,
        count: restPosts.length,
      });
      return;
    }
    const override = restOverrides.get(req.path);
    if (override !== undefined) {
      sendJson(res, override.status, override.body);
      return;
    }
    const info = /^\/rest\/v2\.0\/chatomni\/info\/([^/]+)$/.exec(req.path);
    if (info?.[1] !== undefined) {
      // Body is plausible, not captured: conversation id `{crmTeamId}_{fbUserId}` plus the matching partner.
      const [team, fbUser] = info[1].split("_");
      const order = sets.SaleOnline_Order?.find((o) => o.Facebook_ASUserId === fbUser);
      const partner = sets.Partner?.find((p) => p.Id === order?.PartnerId) ?? null;
      sendJson(res, 200, {
        Id: info[1],
        CRMTeamId: Number(team),
        FacebookUserId: fbUser ?? null,
        Partner: partner,
        Order: order ?? null,
      });
      return;
    }
    const comments = /^\/rest\/v2\.0\/facebookpost\/([^/]+)\/commentsbyuser$/.exec(req.path);
    if (comments?.[1] !== undefined) {
      const userId = req.query.get("userId") ?? "";
      sendJson(res, 200, {
        ObjectId: comments[1],
        UserId: userId,
        Items: [
          {
            Id: `${comments[1]}_900001`,
            Message: "Chốt đơn size M",
            CreatedTime: "2026-05-25T08:03:35+07:00",
            From: { Id: userId, Name: "Khách" },
          },
        ],
      });
      return;
    }
    sendJson(res, 404, NOT_FOUND);
  };

  /**
   * TPOS's MVC routes outside OData and REST (ASP.NET routing is case-insensitive): the bill print
   * (`GET /fastsaleorder/print1?ids=`, JSON `{html}` as bill-service.js reads it) and the Excel exports
   * (POST with a JSON filter, an xlsx attachment back). Returns false for any other path.
   */
  const handleMvc = (req: FakeRequest, res: ServerResponse): boolean => {
    const path = req.path.toLowerCase();
    if (path === "/fastsaleorder/print1") {
      if (req.method !== "GET") {
        sendJson(res, 405, {
          Message: `The requested resource does not support http method '${req.method}'.`,
        });
        return true;
      }
      const ids = (req.query.get("ids") ?? "").split(",").filter((id) => id !== "");
      const orders = ids.map((id) => sets.FastSaleOrder?.find((o) => String(o.Id) === id));
      if (ids.length === 0 || orders.some((order) => order === undefined)) {
        sendJson(res, 404, NOT_FOUND);
        return true;
      }
      const bills = orders.map(
        (order) =>
          `<div class="bill"><h2>HÓA ĐƠN BÁN HÀNG</h2><p>Số: ${String(order?.Number)}</p>` +
          `<p>Tổng tiền: ${String(order?.AmountTotal)}</p><p>Người bán: N2 Shop</p></div>`,
      );
      sendJson(res, 200, { html: `<!DOCTYPE html><html><body>${bills.join("")}</body></html>` });
      return true;
    }
    if (EXPORTS.has(path)) {
      if (req.method !== "POST") {
        sendJson(res, 405, {
          Message: `The requested resource does not support http method '${req.method}'.`,
        });
        return true;
      }
      const { raw: _raw, ...record } = req;
      exports.push(record);
      const bytes = exportBytes(path);
      const name = `${req.path.split("/")[1] ?? "Export"}_${new Date(now()).toISOString().slice(0, 10)}.xlsx`;
      res.writeHead(200, {
        "content-type": XLSX_TYPE,
        "content-length": String(bytes.length),
        "content-disposition": `attachment; filename=${name}`,
      });
      res.end(bytes);
      return true;
    }
    return false;
  };

  const srv = await startFakeServer({
    echo: true,
    defaultHeaders: () => (appVersion === null ? {} : { tposappversion: appVersion }),
    handler: async (req, res) => {
      if (req.path === "/token") {
        await handleToken(req, res);
        return;
      }
      if (req.path === "/big") {
        // Test-only route (no auth) for response-size limits.
        streamGenerated(res, intParam(req.query, "bytes") ?? 1024, "application/octet-stream", {
          chunked: req.query.get("chunked") === "1",
        });
        return;
      }
      if (!authorized(req)) {
        sendJson(
          res,
          options.unauthorizedStatus ?? 401,
          options.unauthorizedBody ?? { Message: "Authorization has been denied for this request." },
          {
            "www-authenticate": "Bearer",
          },
        );
        return;
      }
      try {
        if (req.path.startsWith("/odata/")) {
          handleOData(req, res);
        } else if (req.path.startsWith("/rest/")) {
          handleRest(req, res);
        } else if (!handleMvc(req, res)) {
          sendJson(res, 404, NOT_FOUND);
        }
      } catch (err) {
        if (!(err instanceof ODataError)) {
          throw err;
        }
        // TPOS's own shape; the 400 variant for syntax errors is UNCERTAIN (never captured).
        const body =
          err.kind === "unsupported"
            ? UNEXPECTED
            : { error: { code: "400", message: err.message, details: "ODataException" } };
        sendJson(res, err.kind === "unsupported" ? 500 : 400, body, ODATA_JSON);
      }
    },
  });

  return {
    ...baseHandle(srv, () => {
      sets = structuredClone(options.seed ?? defaultTposSeed());
      access.clear();
      refresh.clear();
      defaultOperations();
      restOverrides.clear();
      operationCalls.length = 0;
      restPosts.length = 0;
      exports.length = 0;
      tokenHits = 0;
      tokensIssued = 0;
      tokenDelay = options.tokenDelayMs ?? 0;
    }),
    get tokenHits() {
      return tokenHits;
    },
    get tokensIssued() {
      return tokensIssued;
    },
    expireAllTokens() {
      for (const entry of access.values()) {
        entry.expiresAt = 0;
      }
    },
    revokeRefreshTokens() {
      refresh.clear();
    },
    setTokenDelay(ms) {
      tokenDelay = ms;
    },
    setAppVersion(version) {
      appVersion = version;
    },
    seed(set, rows) {
      sets[set] = rows;
    },
    rows(set) {
      sets[set] ??= [];
      return sets[set];
    },
    operationCalls,
    defineOperation(name, handler) {
      operations.set(name.toLowerCase(), handler);
    },
    setRest(path, body, status = 200) {
      restOverrides.set(path, { status, body });
    },
    restPosts,
    exports,
  };
}
