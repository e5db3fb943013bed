/**
 * The benchmark's upstream: answers every request at once with the same 600 bytes of JSON (the
 * size the design measurements used), keep-alive on. Run in its own process so it does not share an
 * event loop with the gateway under test. Prints its URL on stdout.
 */
import { createServer } from "node:http";

const body = JSON.stringify({
  "@odata.context": "http://tomato.tpos.vn/odata/$metadata#SaleOnline_Order",
  value: Array.from({ length: 5 }, (_, i) => ({
    Id: `c2060000-5d17-0015-0634-08deb0edcf${String(i).padStart(2, "0")}`,
    Code: `DH${1000 + i}`,
    PartnerName: "Nguyễn Thị Lan",
    TotalAmount: 350000,
  })),
}).padEnd(600, " ");
const bytes = Buffer.from(body);

const server = createServer((request, response) => {
  // Drain any request body, then answer.
  request.resume();
  request.on("end", () => {
    response.writeHead(200, {
      "content-type": "application/json; charset=utf-8",
      "content-length": bytes.length,
    });
    response.end(bytes);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  console.log(
    `UPSTREAM http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}`,
  );
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
