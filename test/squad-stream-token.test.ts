import { describe, expect, it } from "vitest";
import { issueStreamToken, newStreamKey, STREAM_TOKEN_TTL_SECONDS, verifyStreamToken } from "../src/squad/stream-token";

describe("stream tokens", () => {
  const key = newStreamKey();

  it("verifies for the squad and principal it was issued to", async () => {
    const { token, expiresAt } = await issueStreamToken(key, "sqd_a", "key:reader");
    expect(await verifyStreamToken(key, "sqd_a", token)).toBe("key:reader");
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(STREAM_TOKEN_TTL_SECONDS * 1000);
  });

  it("refuses an expired token, another squad's token, another key's token and garbage", async () => {
    const expired = await issueStreamToken(key, "sqd_a", "admin", Date.now() - (STREAM_TOKEN_TTL_SECONDS + 5) * 1000);
    expect(await verifyStreamToken(key, "sqd_a", expired.token)).toBeNull();
    const other = await issueStreamToken(key, "sqd_b", "admin");
    expect(await verifyStreamToken(key, "sqd_a", other.token)).toBeNull();
    const foreign = await issueStreamToken(newStreamKey(), "sqd_a", "admin");
    expect(await verifyStreamToken(key, "sqd_a", foreign.token)).toBeNull();
    expect(await verifyStreamToken(key, "sqd_a", "not.a.jwt")).toBeNull();
  });
});
