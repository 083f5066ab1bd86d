import { afterEach, describe, expect, it, vi } from "vitest";
import { checkHostPattern, checkPublicUrl } from "../src/net/address";
import { postWebhook } from "../src/messaging/webhooks";
import { api, codeSpec } from "./helpers";

/** Every spelling of an internal target, with the rule it must be refused by. */
const INTERNAL: [string, string][] = [
  ["http://127.0.0.1/", "loopback"],
  ["http://127.1/", "loopback"],
  ["http://127.000.000.001/", "loopback"],
  ["http://2130706433/", "loopback"],
  ["http://0x7f000001/", "loopback"],
  ["http://0x7f.0x0.0x0.0x1/", "loopback"],
  ["http://0177.0.0.1/", "loopback"],
  ["http://017700000001/", "loopback"],
  ["http://%31%32%37.0.0.1/", "loopback"],
  ["http://１２７.０.０.１/", "loopback"],
  ["http://127.0.0.1./", "loopback"],
  ["http://127.255.255.254:8080/x", "loopback"],
  ["http://[::1]/", "loopback"],
  ["http://[0:0:0:0:0:0:0:1]/", "loopback"],
  ["http://[::ffff:127.0.0.1]/", "loopback"],
  ["http://[::ffff:7f00:1]/", "loopback"],
  ["http://[::ffff:0:7f00:1]/", "loopback"],
  ["http://[::127.0.0.1]/", "loopback"],
  ["http://[64:ff9b::127.0.0.1]/", "loopback"],
  ["http://[64:ff9b::a00:1]/", "private"],
  ["http://[2002:7f00:1::]/", "loopback"],
  ["http://10.0.0.1/", "private"],
  ["http://167772161/", "private"],
  ["http://172.16.0.1/", "private"],
  ["http://172.31.255.255/", "private"],
  ["http://192.168.1.1/", "private"],
  ["http://0xc0a80101/", "private"],
  ["http://100.64.0.1/", "private"],
  ["http://100.127.255.254/", "private"],
  ["http://[fc00::1]/", "private"],
  ["http://[fd12:3456::1]/", "private"],
  ["http://[::ffff:10.1.2.3]/", "private"],
  ["http://169.254.1.1/", "link-local"],
  ["http://[fe80::1]/", "link-local"],
  ["http://[::ffff:169.254.1.1]/", "link-local"],
  ["http://0.0.0.0/", "unspecified"],
  ["http://0/", "unspecified"],
  ["http://[::]/", "unspecified"],
  ["http://169.254.169.254/latest/meta-data/", "metadata"],
  ["http://2852039166/", "metadata"],
  ["http://0xa9fea9fe/", "metadata"],
  ["http://[::ffff:169.254.169.254]/", "metadata"],
  ["http://[fd00:ec2::254]/", "metadata"],
  ["http://metadata.google.internal/computeMetadata/v1/", "metadata"],
  ["http://METADATA.google.internal./", "metadata"],
  ["http://localhost/", "localhost"],
  ["http://LOCALHOST:8787/", "localhost"],
  ["http://localhost./", "localhost"],
  ["http://api.localhost/", "localhost"],
  ["http://intranet/", "internal-name"],
  ["http://db.corp.internal/", "internal-name"],
  ["http://printer.local/", "internal-name"],
  ["http://224.0.0.1/", "multicast"],
  ["http://255.255.255.255/", "multicast"],
  ["http://[ff02::1]/", "multicast"],
  ["http://240.0.0.1/", "reserved"],
  ["http://[2001:db8::1]/", "reserved"],
];

const PUBLIC = [
  "https://hooks.test/x",
  "https://example.com/hook",
  "http://93.184.215.14/",
  "https://[2606:4700::6810:84e5]/",
  "http://[64:ff9b::5db8:d70e]/",
  "https://127.0.0.1.example.com/",
];

describe("address rules", () => {
  it.each(INTERNAL)("refuses %s as %s", (url, rule) => {
    expect(checkPublicUrl(url)).toMatchObject({ ok: false, rule });
  });

  it.each(PUBLIC)("allows %s", (url) => {
    expect(checkPublicUrl(url)).toEqual({ ok: true });
  });

  it("refuses other schemes", () => {
    expect(checkPublicUrl("ftp://example.com/")).toMatchObject({ ok: false, rule: "scheme" });
    expect(checkPublicUrl("not a url")).toMatchObject({ ok: false, rule: "invalid" });
  });

  it("judges network host patterns as the address a fetch would reach", () => {
    for (const [pattern, rule] of [
      ["127.0.0.1", "loopback"],
      ["127.1:8080", "loopback"],
      ["2130706433", "loopback"],
      ["0x7f000001", "loopback"],
      ["169.254.169.254", "metadata"],
      ["10.0.0.1:443", "private"],
      ["localhost:8787", "localhost"],
      ["*.localhost", "localhost"],
      ["*.internal", "internal-name"],
      ["metadata.google.internal", "metadata"],
      ["*.0.0.1", "invalid"],
    ] as const) {
      expect(checkHostPattern(pattern), pattern).toMatchObject({ ok: false, rule });
    }
    for (const pattern of ["api.example.com", "*.example.com", "api.example.com:8443"]) expect(checkHostPattern(pattern), pattern).toEqual({ ok: true });
  });
});

describe("webhook subscriptions refuse internal targets", () => {
  it.each(INTERNAL)("POST %s answers 422 naming %s, and stores nothing", async (url, rule) => {
    const res = await api("POST", "/api/v1/topics/ssrf/subscriptions", { body: { type: "webhook", url } });
    // A few spellings (full-width digits) already fail the schema's URL check; the rest reach the address rules.
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    if (res.json.type === "/problems/internal-address") expect(res.json).toMatchObject({ rule, status: 422 });
    else expect(res.json.type).toBe("/problems/validation-failed");
    const list = await api("GET", "/api/v1/topics/ssrf/subscriptions");
    expect(list.json.items).toEqual([]);
  });

  it("names the rule for the usual spellings", async () => {
    for (const [url, rule] of [
      ["http://2130706433/", "loopback"],
      ["http://[::ffff:127.0.0.1]/", "loopback"],
      ["http://169.254.169.254/", "metadata"],
      ["http://localhost:8787/", "localhost"],
    ]) {
      const res = await api("POST", "/api/v1/topics/ssrf/subscriptions", { body: { type: "webhook", url } });
      expect(res.json, url).toMatchObject({ type: "/problems/internal-address", rule, errors: [{ path: "url" }] });
    }
  });
});

describe("webhook delivery", () => {
  afterEach(() => vi.restoreAllMocks());

  it("re-checks the URL and never sends to an internal target", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    for (const [url] of INTERNAL) {
      const outcome = await postWebhook({ url, secret: "s", body: "{}", headers: {} });
      expect(outcome, url).toMatchObject({ ok: false, permanent: true });
    }
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it("does not follow redirects: a 3xx fails the delivery for good", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response(null, { status: 302, headers: { location: "http://169.254.169.254/" } }));
    const outcome = await postWebhook({ url: "https://hooks.test/redirects", secret: "s", body: "{}", headers: {} });
    expect(outcome).toMatchObject({ ok: false, permanent: true, error: expect.stringMatching(/redirect \(302\)/) });
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    expect((fetchSpy.mock.calls[0]![1] as RequestInit).redirect).toBe("manual");
  });
});

describe("agent registration refuses internal network grants", () => {
  it.each([
    ["127.0.0.1:8080", "loopback"],
    ["2130706433", "loopback"],
    ["169.254.169.254", "metadata"],
    ["localhost", "localhost"],
    ["10.1.2.3", "private"],
  ])("POST /agents with permissions.network %s answers 422 %s", async (host, rule) => {
    const res = await api("POST", "/api/v1/agents", { body: codeSpec("ssrf-agent", "1.0.0", { permissions: { network: ["api.example.com", host] } }) });
    expect(res.status).toBe(422);
    expect(res.json).toMatchObject({ type: "/problems/internal-address", rule, errors: [{ path: "permissions.network.1" }] });
    expect((await api("GET", "/api/v1/agents/ssrf-agent")).status).toBe(404);
  });

  it("refuses a new version that grants an internal host", async () => {
    expect((await api("POST", "/api/v1/agents", { body: codeSpec("ssrf-ok", "1.0.0", { permissions: { network: ["api.example.com"] } }) })).status).toBe(201);
    const res = await api("PUT", "/api/v1/agents/ssrf-ok", { body: codeSpec("ssrf-ok", "1.0.1", { permissions: { network: ["0x7f000001:80"] } }) });
    expect(res).toMatchObject({ status: 422, json: { rule: "loopback" } });
    expect((await api("GET", "/api/v1/agents/ssrf-ok/versions")).json.items).toHaveLength(1);
  });
});
