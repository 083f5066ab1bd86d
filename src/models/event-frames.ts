import { AppError } from "../errors";

/** The largest event-stream message we accept: Bedrock's chunks are far smaller, and a Worker has 128 MB. */
export const MAX_EVENT_MESSAGE_BYTES = 16 * 1024 * 1024;
/** An event-stream message's prelude (total length, headers length, prelude CRC) plus its trailing CRC. */
const MIN_EVENT_MESSAGE_BYTES = 16;

const malformed = (source: string, detail: string) =>
  new AppError("bedrock_error", `Bedrock agent ${source} sent a malformed event stream: ${detail}.`, { type: "/problems/bedrock-malformed-response" });

/**
 * Passes an application/vnd.amazon.eventstream body through unchanged while checking each message's
 * declared total length (the first 4 bytes of its prelude) before the decoder behind it allocates a
 * buffer of that size: a 12-byte hostile prelude must not cost 4 GiB. Also refuses a body that ends
 * inside a message, prelude included (the decoder drops fewer than 4 stray bytes silently).
 */
export function boundedEventFrames(source: string, maxBytes = MAX_EVENT_MESSAGE_BYTES): TransformStream<Uint8Array, Uint8Array> {
  const prelude = new Uint8Array(4);
  let preludeHave = 0;
  let remaining = 0; // bytes of the current message still to come, after its 4-byte length
  return new TransformStream({
    transform(chunk, controller) {
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
        if (declared < MIN_EVENT_MESSAGE_BYTES || declared > maxBytes)
          throw malformed(source, `a message declares ${declared} bytes; the bounds are ${MIN_EVENT_MESSAGE_BYTES} to ${maxBytes}`);
        preludeHave = 0;
        remaining = declared - 4;
      }
      controller.enqueue(chunk);
    },
    flush() {
      if (remaining > 0) throw malformed(source, `the stream ended ${remaining} bytes short of a message's end`);
      if (preludeHave > 0) throw malformed(source, `the stream ended with ${preludeHave} trailing bytes after the last message`);
    },
  });
}
