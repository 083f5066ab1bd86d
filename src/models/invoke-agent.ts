import { EventStreamCodec, getChunkedStream } from "@smithy/core/event-streams";
import { AppError } from "../errors";
import type { Env } from "../env";
import { bedrockProblemType, signedBedrockCall } from "./client";

export interface InvokeAgentRequest {
  agentId: string;
  aliasId: string;
  sessionId: string;
  inputText: string;
  deadline?: number;
}

export interface InvokeAgentResult {
  text: string;
  sessionId: string;
  chunks: number;
  latencyMs: number;
}

/** The largest event-stream message we accept: Bedrock's chunks are far smaller, and a Worker has 128 MB. */
export const MAX_EVENT_MESSAGE_BYTES = 16 * 1024 * 1024;
/** An event-stream message's prelude (total length, headers length, prelude CRC) plus its trailing CRC. */
const MIN_EVENT_MESSAGE_BYTES = 16;

const malformed = (agentKey: string, detail: string) =>
  new AppError("bedrock_error", `Bedrock agent ${agentKey} sent a malformed event stream: ${detail}.`, { type: "/problems/bedrock-malformed-response" });

/**
 * Passes the byte stream through unchanged while checking each message's declared total length (the first 4
 * bytes of its prelude) against sane bounds before @smithy's reassembler allocates a buffer of that size, and
 * refuses a stream that ends inside a message, prelude included (@smithy drops fewer than 4 stray bytes).
 */
export async function* boundedFrames(body: AsyncIterable<Uint8Array>, agentKey: string, maxBytes = MAX_EVENT_MESSAGE_BYTES): AsyncGenerator<Uint8Array> {
  const prelude = new Uint8Array(4);
  let preludeHave = 0;
  let remaining = 0; // bytes of the current message still to come, after its 4-byte length
  for await (const chunk of body) {
    let at = 0;
    while (at < chunk.length) {
      if (remaining > 0) {
        const take = Math.min(remaining, chunk.length - at);
        remaining -= take;
        at += take;
        continue;
      }
      const take = Math.min(4 - preludeHave, chunk.length - at);
      prelude.set(chunk.subarray(at, at + take), preludeHave);
      preludeHave += take;
      at += take;
      if (preludeHave < 4) break;
      const declared = new DataView(prelude.buffer).getUint32(0, false);
      if (declared < MIN_EVENT_MESSAGE_BYTES || declared > maxBytes) throw malformed(agentKey, `a message declares ${declared} bytes; the bounds are ${MIN_EVENT_MESSAGE_BYTES} to ${maxBytes}`);
      preludeHave = 0;
      remaining = declared - 4;
    }
    yield chunk;
  }
  if (remaining > 0 || preludeHave > 0) throw malformed(agentKey, `the stream ended ${remaining > 0 ? `${remaining} bytes short of a message's end` : `with ${preludeHave} trailing bytes after the last message`}`);
}

const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const headerString = (headers: Record<string, { type: string; value: unknown }>, name: string) => {
  const h = headers[name];
  return h && h.type === "string" ? String(h.value) : undefined;
};

/**
 * Reads an InvokeAgent event stream: `chunk` events carry {"bytes": base64}, joined into the answer;
 * an `exception` message becomes a bedrock_error naming its AWS code. Framing and decoding are @smithy's.
 */
export async function collectAgentStream(body: ReadableStream<Uint8Array>, agentKey: string): Promise<{ text: string; chunks: number }> {
  const codec = new EventStreamCodec((bytes) => utf8Decoder.decode(bytes), (text) => utf8Encoder.encode(text));
  const parts: Uint8Array[] = [];
  let chunks = 0;
  const handle = (message: { headers: Record<string, { type: string; value: unknown }>; body: Uint8Array }) => {
    const messageType = headerString(message.headers, ":message-type");
    if (messageType === "exception" || messageType === "error") {
      const code = headerString(message.headers, ":exception-type") ?? headerString(message.headers, ":error-code") ?? "UnknownError";
      const awsCode = code.charAt(0).toUpperCase() + code.slice(1);
      let detail = utf8Decoder.decode(message.body);
      try {
        detail = (JSON.parse(detail) as { message?: string }).message ?? detail;
      } catch {
        // keep the raw text
      }
      throw new AppError("bedrock_error", `Bedrock agent ${agentKey} streamed ${awsCode}: ${detail.slice(0, 500)}`, { type: bedrockProblemType(awsCode), awsErrorCode: awsCode });
    }
    if (headerString(message.headers, ":event-type") !== "chunk") return;
    const payload = JSON.parse(utf8Decoder.decode(message.body)) as { bytes?: string };
    if (payload.bytes) parts.push(base64Bytes(payload.bytes));
    chunks++;
  };
  // getChunkedStream reassembles whole messages from the byte stream (bounded first); the codec decodes each one.
  for await (const message of getChunkedStream(boundedFrames(body as unknown as AsyncIterable<Uint8Array>, agentKey))) handle(codec.decode(message) as never);
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    joined.set(p, offset);
    offset += p.byteLength;
  }
  return { text: utf8Decoder.decode(joined), chunks };
}

/** InvokeAgent (POST /agents/{agentId}/agentAliases/{aliasId}/sessions/{sessionId}/text) on bedrock-agent-runtime via signed fetch. */
export async function invokeAgent(env: Env, req: InvokeAgentRequest): Promise<InvokeAgentResult> {
  const key = `agent:${req.agentId}/${req.aliasId}`;
  const started = Date.now();
  const { response } = await signedBedrockCall(env, {
    endpoint: "agent-runtime",
    path: `/agents/${encodeURIComponent(req.agentId)}/agentAliases/${encodeURIComponent(req.aliasId)}/sessions/${encodeURIComponent(req.sessionId)}/text`,
    body: { inputText: req.inputText },
    breakerKey: key,
    accept: "application/vnd.amazon.eventstream",
    deadline: req.deadline,
  });
  if (!response.body) throw new AppError("bedrock_error", `Bedrock agent ${key} answered without a body.`, { type: "/problems/bedrock-malformed-response" });
  const { text, chunks } = await collectAgentStream(response.body, key);
  return { text, sessionId: response.headers.get("x-amz-bedrock-agent-session-id") ?? req.sessionId, chunks, latencyMs: Date.now() - started };
}
