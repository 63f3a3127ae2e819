// The cost of resolving a route's parameters: 6 params and 2 nested
// dependencies, against a route that declares nothing.
//   deno task bench
import { App, Cookie, Depends, Header, int, Path, Query } from "../mod.ts";
import { TestClient } from "../testing.ts";

const settings = Depends(() => ({ pageSize: 20 }));
const pagination = Depends(
  { page: Query(int, { default: 1 }), settings },
  ({ page, settings }) => ({ offset: (page - 1) * settings.pageSize }),
);

const app = new App();
app.get("/plain/{id}", () => "ok");
app.get("/items/{id}", {
  params: {
    id: Path(int),
    q: Query({ optional: true }),
    tags: Query({ optional: true }),
    userAgent: Header(),
    session: Cookie({ optional: true }),
    limit: Query(int, { default: 10 }),
    pagination,
  },
}, () => "ok");
const client = new TestClient(app);
const init = { headers: { "user-agent": "bench", cookie: "session=s1" } };

Deno.bench(
  "HTTP request, no params",
  { group: "params", baseline: true },
  async () => {
    await (await client.get("/plain/7?q=x&page=2", init)).text();
  },
);

Deno.bench("HTTP request, 6 params + 2 nested dependencies", {
  group: "params",
}, async () => {
  await (await client.get("/items/7?q=x&page=2", init)).text();
});
