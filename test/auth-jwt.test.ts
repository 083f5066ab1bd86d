import { env } from "cloudflare:workers";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { authenticate } from "../src/auth/credentials";
import { scopesFromClaim, verifyJwt, type JwtConfig } from "../src/auth/jwt";
import type { Env } from "../src/env";
import { api, codeSpec } from "./helpers";

const SECRET = env.JWT_SECRET!;
const secretBytes = (s: string) => new TextEncoder().encode(s);
const now = () => Math.floor(Date.now() / 1000);

/** A token with sensible defaults (sub, an hour of validity) that each case overrides. */
function token(claims: JWTPayload = {}, header: { alg: string; kid?: string } = { alg: "HS256" }) {
  return new SignJWT({ sub: "alice", scope: "agents:read", ...claims })
    .setProtectedHeader(header)
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? now() + 3600);
}
const hs256 = (claims: JWTPayload = {}, secret = SECRET) => token(claims).sign(secretBytes(secret));

let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let ed: { privateKey: CryptoKey; publicKey: CryptoKey };
let otherRsa: { privateKey: CryptoKey; publicKey: CryptoKey };
let rsaJwk: JWK;
let jwksConfig: JwtConfig;

beforeAll(async () => {
  rsa = await generateKeyPair("RS256", { extractable: true });
  ed = await generateKeyPair("EdDSA", { extractable: true });
  otherRsa = await generateKeyPair("RS256");
  rsaJwk = { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", use: "sig" };
  const edJwk = { ...(await exportJWK(ed.publicKey)), kid: "ed-1", use: "sig" };
  jwksConfig = { secret: SECRET, jwks: JSON.stringify({ keys: [rsaJwk, edJwk] }) };
});

describe("verifyJwt: accepted tokens", () => {
  it("accepts HS256 signed with JWT_SECRET and maps sub and scope", async () => {
    const result = await verifyJwt(await hs256({ scope: "agents:read agents:write" }), { secret: SECRET });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.principal.id).toBe("jwt:alice");
    expect([...result.principal.scopes].sort()).toEqual(["agents:read", "agents:write"]);
  });

  it("accepts RS256 from an inline JWKS", async () => {
    const jwt = await token({ sub: "svc-rsa" }, { alg: "RS256", kid: "rsa-1" }).sign(rsa.privateKey);
    expect(await verifyJwt(jwt, jwksConfig)).toMatchObject({ ok: true, principal: { id: "jwt:svc-rsa" } });
  });

  it("accepts EdDSA from an inline JWKS", async () => {
    const jwt = await token({ sub: "svc-ed" }, { alg: "EdDSA", kid: "ed-1" }).sign(ed.privateKey);
    expect(await verifyJwt(jwt, jwksConfig)).toMatchObject({ ok: true, principal: { id: "jwt:svc-ed" } });
  });

  it("picks the JWKS key by type when the token has no kid", async () => {
    const jwt = await token({ sub: "no-kid" }, { alg: "EdDSA" }).sign(ed.privateKey);
    expect((await verifyJwt(jwt, jwksConfig)).ok).toBe(true);
  });

  it("accepts RS256 from a JWKS URL, fetched through jose's remote key set", async () => {
    const fetched: string[] = [];
    const config: JwtConfig = {
      jwksUrl: "https://issuer.example/.well-known/jwks.json",
      jwksFetch: async (url) => {
        fetched.push(url);
        return Response.json({ keys: [rsaJwk] });
      },
    };
    const jwt = await token({ sub: "remote" }, { alg: "RS256", kid: "rsa-1" }).sign(rsa.privateKey);
    expect(await verifyJwt(jwt, config)).toMatchObject({ ok: true, principal: { id: "jwt:remote" } });
    expect(await verifyJwt(jwt, config)).toMatchObject({ ok: true });
    expect(fetched).toEqual(["https://issuer.example/.well-known/jwks.json"]); // cached after the first fetch
  });

  it("answers 503 (not 401) when the JWKS URL cannot be fetched", async () => {
    const jwt = await token({ sub: "remote" }, { alg: "RS256", kid: "rsa-1" }).sign(rsa.privateKey);
    const down: JwtConfig = { jwksUrl: "https://down.example/jwks.json", jwksFetch: async () => new Response("bad gateway", { status: 502 }) };
    await expect(verifyJwt(jwt, down)).rejects.toMatchObject({ code: "unavailable" });
    const unreachable: JwtConfig = {
      jwksUrl: "https://unreachable.example/jwks.json",
      jwksFetch: async () => {
        throw new TypeError("network connection lost");
      },
    };
    await expect(verifyJwt(jwt, unreachable)).rejects.toMatchObject({ code: "unavailable" });
  });

  it("checks iss and aud when configured", async () => {
    const config = { secret: SECRET, issuer: "https://issuer.example", audience: "t-developer-edge" };
    const good = await hs256({ iss: "https://issuer.example", aud: "t-developer-edge" });
    expect((await verifyJwt(good, config)).ok).toBe(true);
    const audInList = await hs256({ iss: "https://issuer.example", aud: ["other", "t-developer-edge"] });
    expect((await verifyJwt(audInList, config)).ok).toBe(true);
  });

  it("reads scope as a space-separated string or an array, dropping unknown scopes", () => {
    expect([...scopesFromClaim("agents:read  keys:admin root")]).toEqual(["agents:read", "keys:admin"]);
    expect([...scopesFromClaim(["squads:run", 7, "evolution:admin"])]).toEqual(["squads:run", "evolution:admin"]);
    expect(scopesFromClaim(undefined).size).toBe(0);
    expect(scopesFromClaim({ scope: "agents:read" }).size).toBe(0);
  });
});

describe("verifyJwt: refused tokens", () => {
  const refused = async (jwt: string, config: JwtConfig, reason: RegExp) => {
    const result = await verifyJwt(jwt, config);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  };

  it("refuses alg none", async () => {
    const unsigned = new UnsecuredJWT({ sub: "mallory", scope: "keys:admin" }).setExpirationTime("1h").encode();
    await refused(unsigned, jwksConfig, /algorithm none not accepted/);
  });

  it("refuses an HS256 header with the signature stripped", async () => {
    const [header, payload] = (await hs256({ scope: "keys:admin" })).split(".");
    await refused(`${header}.${payload}.`, jwksConfig, /signature invalid|rejected/);
  });

  it("refuses HS256 signed with the wrong secret", async () => {
    await refused(await hs256({}, "not-the-secret-but-just-as-long-as-the-real-one"), { secret: SECRET }, /signature invalid/);
  });

  it("refuses RS256 signed by a key outside the JWKS, even under a known kid", async () => {
    const jwt = await token({}, { alg: "RS256", kid: "rsa-1" }).sign(otherRsa.privateKey);
    await refused(jwt, jwksConfig, /signature invalid/);
  });

  it("refuses a kid the JWKS does not have", async () => {
    const jwt = await token({}, { alg: "RS256", kid: "rsa-9" }).sign(rsa.privateKey);
    await refused(jwt, jwksConfig, /no matching key/);
  });

  describe("HS/RS algorithm confusion", () => {
    it("refuses an HS256 token whose HMAC secret is the RSA public key (PEM)", async () => {
      const pem = await exportSPKI(rsa.publicKey);
      const forged = await token({ sub: "mallory", scope: "keys:admin" }).sign(secretBytes(pem));
      await refused(forged, jwksConfig, /signature invalid/);
    });

    it("refuses an HS256 token whose HMAC secret is the RSA public JWK", async () => {
      const forged = await token({ sub: "mallory" }).sign(secretBytes(JSON.stringify(rsaJwk)));
      await refused(forged, jwksConfig, /signature invalid/);
    });

    it("refuses HS256 outright when only a JWKS is configured", async () => {
      const forged = await token({ sub: "mallory" }).sign(secretBytes(await exportSPKI(rsa.publicKey)));
      await refused(forged, { jwks: jwksConfig.jwks }, /HS256 tokens are not accepted/);
    });

    it("refuses an RS256 header carrying an HMAC signature", async () => {
      const hmacSigned = await hs256({ sub: "mallory" });
      const [, payload, signature] = hmacSigned.split(".");
      const header = btoa(JSON.stringify({ alg: "RS256", kid: "rsa-1" }))
        .replaceAll("=", "")
        .replaceAll("+", "-")
        .replaceAll("/", "_");
      await refused(`${header}.${payload}.${signature}`, jwksConfig, /signature invalid|rejected/);
    });
  });

  it("refuses algorithms outside the pinned lists", async () => {
    const hs512 = await token({}, { alg: "HS512" }).sign(secretBytes(SECRET));
    await refused(hs512, jwksConfig, /algorithm HS512 not accepted/);
  });

  it("refuses an expired token", async () => {
    await refused(await hs256({ exp: now() - 3600 }), { secret: SECRET }, /expired/);
  });

  it("refuses a token that is not yet valid", async () => {
    await refused(await hs256({ nbf: now() + 3600 }), { secret: SECRET }, /not yet valid/);
  });

  it("refuses a token without exp or sub", async () => {
    const noExp = await new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "HS256" }).sign(secretBytes(SECRET));
    await refused(noExp, { secret: SECRET }, /claim exp missing/);
    const noSub = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(secretBytes(SECRET));
    await refused(noSub, { secret: SECRET }, /claim sub missing/);
  });

  it("refuses the wrong audience or issuer, and a missing one when configured", async () => {
    const config = { secret: SECRET, issuer: "https://issuer.example", audience: "t-developer-edge" };
    await refused(await hs256({ iss: "https://issuer.example", aud: "someone-else" }), config, /claim aud rejected/);
    await refused(await hs256({ iss: "https://evil.example", aud: "t-developer-edge" }), config, /claim iss rejected/);
    await refused(await hs256({ iss: "https://issuer.example" }), config, /claim aud missing/);
  });

  it("refuses garbage that only looks like a JWT", async () => {
    await refused("abc.def.ghi", { secret: SECRET }, /malformed/);
  });
});

describe("authenticate() reads the JWT settings from the environment", () => {
  it("RS256 and EdDSA tokens verify against JWT_JWKS, with JWT_ISSUER and JWT_AUDIENCE enforced", async () => {
    const configured = { ...env, JWT_JWKS: jwksConfig.jwks, JWT_ISSUER: "https://issuer.example", JWT_AUDIENCE: "t-developer-edge" } as Env;
    const claims = { iss: "https://issuer.example", aud: "t-developer-edge" };
    const rs = await token({ ...claims, sub: "env-rsa" }, { alg: "RS256", kid: "rsa-1" }).sign(rsa.privateKey);
    const eddsa = await token({ ...claims, sub: "env-ed" }, { alg: "EdDSA", kid: "ed-1" }).sign(ed.privateKey);
    expect(await authenticate(configured, rs)).toMatchObject({ ok: true, principal: { id: "jwt:env-rsa" } });
    expect(await authenticate(configured, eddsa)).toMatchObject({ ok: true, principal: { id: "jwt:env-ed" } });
    const wrongAudience = await token({ ...claims, aud: "other" }, { alg: "RS256", kid: "rsa-1" }).sign(rsa.privateKey);
    expect(await authenticate(configured, wrongAudience)).toMatchObject({ ok: false, reason: "claim aud rejected" });
    // Without JWT_JWKS the same RS256 token has no key to meet.
    expect(await authenticate(env, rs)).toMatchObject({ ok: false, reason: "RS256 tokens are not accepted here" });
  });
});

describe("JWTs over HTTP", () => {
  it("a valid HS256 token authenticates, with its scopes enforced and jwt:<sub> recorded", async () => {
    const reader = await hs256({ sub: "reader", scope: "agents:read" });
    expect((await api("GET", "/api/v1/agents", { token: reader })).status).toBe(200);
    expect((await api("POST", "/api/v1/agents", { token: reader, body: codeSpec("jwt-agent") })).status).toBe(403);

    const writer = await hs256({ sub: "writer", scope: ["agents:write"] });
    expect((await api("POST", "/api/v1/agents", { token: writer, body: codeSpec("jwt-agent") })).status).toBe(201);
    const version = await api("GET", "/api/v1/agents/jwt-agent/versions/1.0.0");
    expect(version.json.createdBy).toBe("jwt:writer");
  });

  it.each([
    ["alg none", () => new UnsecuredJWT({ sub: "mallory", scope: "agents:read" }).setExpirationTime("1h").encode(), /algorithm none/],
    ["expired", () => hs256({ exp: now() - 3600 }), /expired/],
    ["not yet valid", () => hs256({ nbf: now() + 3600 }), /not yet valid/],
    ["wrong secret", () => hs256({}, "a-different-secret-of-comfortable-length-xx"), /signature invalid/],
  ])("%s → 401 with WWW-Authenticate invalid_token", async (_name, make, reason) => {
    const res = await api("GET", "/api/v1/agents", { token: await make() });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="t-developer-edge", error="invalid_token"/);
    expect(res.headers.get("www-authenticate")).toMatch(reason);
    expect(res.json.detail).toMatch(reason);
  });
});
