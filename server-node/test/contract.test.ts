import { nodeTarget, runContractSuite } from "@n2store/testkit/contract";
import { buildApp } from "../src/app.js";

// The contract suite against the Node server, in this process (in-memory PGlite, or a fresh
// PostgreSQL database when DATABASE_URL is set), on the testkit fakes. TARGETS=edge skips it.
runContractSuite(
  [
    nodeTarget(async (env) => {
      const app = await buildApp({ env, dataDir: null, logger: false });
      await app.listen({ port: 0, host: "127.0.0.1" });
      const address = app.server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
    }),
  ],
  { log: console.log },
);
