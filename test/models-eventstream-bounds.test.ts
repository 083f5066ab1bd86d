import { EventStreamCodec } from "@smithy/core/event-streams";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { Env } from "../src/env";
import { AppError } from "../src/errors";
import { boundedEventFrames, MAX_EVENT_MESSAGE_BYTES } from "../src/models/event-frames";
import { invokeAgent } from "../src/models/invoke-agent";

const utf8 = new TextEncoder();
const codec = new EventStreamCodec(
  (bytes) => new TextDecoder().decode(bytes),
  (text) => utf8.encode(text),
);

/** A real InvokeAgent `chunk` message, encoded by @smithy's codec. */
const chunkMessage = (text: string) =>
  codec.encode({
    headers: { ":message-type": { type: "string", value: "event" }, ":event-type": { type: "string", value: "chunk" } },
    body: utf8.encode(JSON.stringify({ bytes: btoa(String.fromCharCode(...utf8.encode(text))) })),
  });

/** A byte stream delivering `pieces` as separate reads, as a network would. */
const streamOf = (...pieces: Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of pieces) controller.enqueue(p);
      controller.close();
    },
  });

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

/** The 12-byte prelude of a message declaring `total` bytes: total length, headers length, prelude CRC (never reached). */
const prelude = (total: number) => {
  const bytes = new Uint8Array(12);
  new DataView(bytes.buffer).setUint32(0, total, false);
  return bytes;
};

/** Everything that passes the bound, or the problem it raised. */
async function through(body: ReadableStream<Uint8Array>): Promise<Uint8Array | AppError> {
  const out: Uint8Array[] = [];
  try {
    for await (const chunk of body.pipeThrough(boundedEventFrames("agent:A/B"))) out.push(chunk);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw new Error(`expected a bedrock_error problem, got ${String(err)}`);
  }
  return concat(...out);
}

async function refusal(body: ReadableStream<Uint8Array>): Promise<AppError> {
  const result = await through(body);
  if (result instanceof AppError) return result;
  throw new Error("expected the stream to be refused");
}

describe("event stream framing bounds", () => {
  it("refuses a 12-byte hostile prelude declaring 4 GiB", async () => {
    const err = await refusal(streamOf(prelude(0xffff_fff0)));
    expect(err.code).toBe("bedrock_error");
    expect(err.extra.type).toBe("/problems/bedrock-malformed-response");
    expect(err.detail).toContain(`${0xffff_fff0} bytes`);
  });

  it("refuses a message just over the bound even after good messages", async () => {
    const err = await refusal(streamOf(chunkMessage("fine"), prelude(MAX_EVENT_MESSAGE_BYTES + 1)));
    expect(err.detail).toContain(`the bounds are 16 to ${MAX_EVENT_MESSAGE_BYTES}`);
  });

  it("refuses a declared length too small to hold a prelude and its CRCs", async () => {
    expect((await refusal(streamOf(prelude(8)))).extra.type).toBe("/problems/bedrock-malformed-response");
  });

  it("refuses trailing bytes after the last message instead of dropping them", async () => {
    const err = await refusal(streamOf(chunkMessage("all of it"), new Uint8Array([0, 0, 1])));
    expect(err.detail).toContain("3 trailing bytes after the last message");
  });

  it("refuses a stream that ends inside a message", async () => {
    const whole = chunkMessage("cut short");
    const err = await refusal(streamOf(whole.subarray(0, whole.length - 5)));
    expect(err.detail).toContain("5 bytes short");
  });

  it("passes valid messages split at every byte through unchanged", async () => {
    const bytes = concat(chunkMessage("héllo "), chunkMessage("wörld"));
    expect(await through(streamOf(...Array.from(bytes, (b) => new Uint8Array([b]))))).toEqual(bytes);
  });
});

describe("InvokeAgent through the AWS SDK applies the bounds before the SDK's decoder", () => {
  const fixture = inject("bedrockUrl");
  const script = (agentId: string, raw: Uint8Array) =>
    fetch(`${fixture}/__control/agent`, { method: "POST", body: JSON.stringify({ agentId, rawBase64: btoa(String.fromCharCode(...raw)) }) });
  async function invokeRefusal(agentId: string): Promise<AppError> {
    try {
      await invokeAgent(env as unknown as Env, { agentId, aliasId: "A", sessionId: "s1", inputText: "x" });
    } catch (err) {
      if (err instanceof AppError) return err;
      throw new Error(`expected a bedrock_error problem, got ${String(err)}`);
    }
    throw new Error("expected InvokeAgent to be refused");
  }

  it("refuses a 12-byte prelude declaring 4 GiB with our bound, not the decoder's allocation", async () => {
    await script("AGENT-HOSTILE", prelude(0xffff_fff0));
    const err = await invokeRefusal("AGENT-HOSTILE");
    expect(err.extra.type).toBe("/problems/bedrock-malformed-response");
    expect(err.detail).toContain(`a message declares ${0xffff_fff0} bytes; the bounds are 16 to ${MAX_EVENT_MESSAGE_BYTES}`);
    // A malformed answer is final: not retried.
    expect(await (await fetch(`${fixture}/__control/requests?id=AGENT-HOSTILE`)).json()).toHaveLength(1);
  });

  it("refuses a frame just over 16 MB after a good chunk", async () => {
    await script("AGENT-OVER", concat(chunkMessage("fine"), prelude(MAX_EVENT_MESSAGE_BYTES + 1)));
    expect((await invokeRefusal("AGENT-OVER")).detail).toContain(`declares ${MAX_EVENT_MESSAGE_BYTES + 1} bytes`);
  });

  it("refuses trailing bytes the SDK's decoder would drop", async () => {
    await script("AGENT-TRAIL", concat(chunkMessage("all of it"), new Uint8Array([0, 0, 1])));
    expect((await invokeRefusal("AGENT-TRAIL")).detail).toContain("3 trailing bytes after the last message");
  });
});
