import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

// vitest's worker skips the asset router, so the dashboard's files are fetched from the ASSETS binding directly.
const asset = (path: string) => env.ASSETS.fetch(new Request(`http://localhost${path}`));

describe("dashboard assets", () => {
  it("serves the page at / with a strict Content-Security-Policy", async () => {
    const res = await asset("/");
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<script type="module" src="/app.js"></script>');
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
  });

  it("loads its libraries only from this origin", async () => {
    const page = await (await asset("/")).text();
    const app = await (await asset("/app.js")).text();
    for (const text of [page, app]) expect(text).not.toMatch(/https?:\/\/(?!localhost)/);
    expect(app).toContain('from "/vendor/preact-htm.js"');
  });
});
