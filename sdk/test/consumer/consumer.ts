// A program that uses @n2store/sdk as a consumer of the package would. scripts/check-pack.ts installs
// the packed tarball into a project of its own, compiles this file there with tsc against the
// published declarations, and runs it against a stand-in gateway on 127.0.0.1. So it may use nothing
// but the package's public API (it is not part of the SDK's own tsconfig, which has no dist/).
import { type components, createClient, isN2StoreNetworkError, type N2StoreClient } from "@n2store/sdk";
import { createFailoverFetch } from "@n2store/sdk/fetch";

type TokenResponse = components["schemas"]["TokenResponse"];

/** What the calls got back, for the check to compare with what the stand-in gateway saw. */
export interface ConsumerResult {
  userToken: string;
  shopToken: string;
  ordersStatus: number;
  orders: unknown;
  restStatus: number;
}

/** The README's flows: a TPOS token by form grant and by company, then TPOS calls that carry it. */
export async function run(baseUrl: string): Promise<ConsumerResult> {
  const api = createClient({ servers: [{ url: baseUrl, runtime: "edge" }], apiKey: "consumer-key" });
  const smartFetch = createFailoverFetch({ servers: [baseUrl] });
  try {
    const user = await api.POST("/api/token", {
      body: { grant_type: "password", username: "shop-staff", password: "secret", client_id: "tmtWebApp" },
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    if (user.error) {
      throw new Error(`form grant: ${user.error.code} ${user.error.message}`);
    }
    const token: TokenResponse = user.data;

    const shop = await api.POST("/api/token", { body: { companyId: 1 } });
    if (shop.error) {
      throw new Error(`company token: ${shop.error.code} ${shop.error.message}`);
    }

    const orders = await api.GET("/api/odata/{path}", {
      params: {
        path: { path: "SaleOnline_Order/ODataService.GetView" },
        query: { passthrough: { $top: "20" } },
        header: { Authorization: `Bearer ${token.access_token}`, "x-tpos-lang": "vi" },
      },
    });

    const rest = await smartFetch(`${baseUrl}/api/rest/v2.0/Partner?$top=1`, {
      headers: { Authorization: `Bearer ${token.access_token}` },
    });
    await rest.arrayBuffer();

    return {
      userToken: token.access_token,
      shopToken: shop.data.access_token,
      ordersStatus: orders.response.status,
      orders: orders.data,
      restStatus: rest.status,
    };
  } catch (error) {
    if (isN2StoreNetworkError(error)) {
      throw new Error(`no server answered (${error.reason}, ${error.attempts} attempts)`);
    }
    throw error;
  } finally {
    api.close();
    smartFetch.close();
  }
}

/**
 * Never called: calls that must not compile. An `@ts-expect-error` that finds no error fails the
 * compile, so loose published types (`any`) cannot pass.
 */
export function mustNotCompile(api: N2StoreClient): void {
  // @ts-expect-error a header value is a string
  void api.GET("/api/rest/{path}", { params: { path: { path: "x" }, header: { Authorization: 1 } } });
  // @ts-expect-error the catch-all path parameter is required
  void api.GET("/api/odata/{path}", { params: { header: { Authorization: "Bearer t" } } });
  // @ts-expect-error not an operation of the spec
  void api.GET("/api/nope");
  // @ts-expect-error the token call needs a body
  void api.POST("/api/token", {});
}
