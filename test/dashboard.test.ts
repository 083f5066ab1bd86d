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
    // Every module the app imports is served here and imports only from this origin too.
    const modules = [...app.matchAll(/from "(\/[^"]+)"/g)].map((m) => m[1]!).filter((p) => !p.startsWith("/vendor/"));
    expect(modules).toEqual(expect.arrayContaining(["/lib.js", "/pages/evolution.js", "/pages/workflows.js", "/pages/approvals.js", "/pages/aws.js", "/pages/trace.js"]));
    for (const path of modules) {
      const res = await asset(path);
      expect(res.status, path).toBe(200);
      const text = await res.text();
      expect(text, path).not.toMatch(/https?:\/\/(?!localhost)/);
      for (const [, dep] of text.matchAll(/from "([^"]+)"/g)) expect(dep, `${path} imports ${dep}`).toMatch(/^\/(vendor\/|lib\.js$)/);
    }
  });
});
