import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { readSealed, sealedSchema } from "../src/messaging/envelope";
import { eventSchema, readEvent } from "../src/messaging/events";
import { queueBodySchema, readQueueBody } from "../src/messaging/producer";

// The consumer reads every message's queue body, sealed content and topic event by hand when they have the usual
// shape, and through the zod schema otherwise. Whatever a reader answers must be what its schema answers.

const schemaAnswer = (schema: { safeParse(v: unknown): { success: boolean; data?: unknown } }, value: unknown) => {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
};

const eventType = fc.oneof(fc.constantFrom("agent.published", "a", "x.y*", "Bad.Type", "a..b", "", "a".repeat(100), "a".repeat(101)), fc.string());

/** Values near each shape (right keys, wrong values, extra or missing keys) and anything at all. */
const nearQueueBody = fc.record(
  {
    v: fc.oneof(fc.constant(1), fc.anything()),
    envelope: fc.anything(),
    deferrals: fc.oneof(fc.integer({ min: -2, max: 1002 }), fc.double(), fc.anything()),
    extra: fc.anything(),
  },
  { requiredKeys: [] },
);
const nearSealed = fc.record({ actor: fc.oneof(fc.string(), fc.anything()), payload: fc.anything(), extra: fc.anything() }, { requiredKeys: [] });
const nearEvent = fc.record({ type: fc.oneof(eventType, fc.anything()), data: fc.anything(), extra: fc.anything() }, { requiredKeys: [] });

describe("per-message readers agree with their schemas", () => {
  afterEach(() => vi.restoreAllMocks());

  const readers: [string, fc.Arbitrary<unknown>, (value: unknown) => unknown, Parameters<typeof schemaAnswer>[0]][] = [
    ["queue body", nearQueueBody, readQueueBody, queueBodySchema],
    ["sealed content", nearSealed, readSealed, sealedSchema],
    ["topic event", nearEvent, readEvent, eventSchema],
  ];
  it.each(readers)("%s", (_, near, read, schema) => {
    fc.assert(
      fc.property(fc.oneof(near, fc.anything()), (value) => {
        expect(read(value)).toEqual(schemaAnswer(schema, value));
      }),
      { numRuns: 2000 },
    );
  });

  it("reads what the producer writes without walking a schema", () => {
    const schemas = [queueBodySchema, sealedSchema, eventSchema].map((schema) => vi.spyOn(schema, "safeParse"));
    const envelope = { v: 1, id: "msg_x" };
    expect(readQueueBody({ v: 1, envelope, deferrals: 0 })).toEqual({ v: 1, envelope, deferrals: 0 });
    expect(readQueueBody({ v: 1, envelope })).toEqual({ v: 1, envelope, deferrals: 0 });
    expect(readSealed({ actor: "admin", payload: [1] })).toEqual({ actor: "admin", payload: [1] });
    expect(readEvent({ type: "agent.published", data: { id: 1 } })).toEqual({ type: "agent.published", data: { id: 1 } });
    for (const spy of schemas) expect(spy).not.toHaveBeenCalled();
  });

  it("refuses what the schemas refuse, by the schemas", () => {
    expect(readQueueBody({ v: 1, envelope: {}, deferrals: 1001 })).toBeNull();
    expect(readQueueBody({ v: 1, envelope: {}, stray: true })).toBeNull();
    expect(readQueueBody({ v: 2, envelope: {} })).toBeNull();
    expect(readSealed({ actor: 7, payload: 1 })).toBeNull();
    expect(readEvent({ type: "Not.Lower", data: 1 })).toBeNull();
    expect(readEvent({ type: "a".repeat(101), data: 1 })).toBeNull();
    expect(readEvent({ type: "a", data: 1, more: 2 })).toEqual({ type: "a", data: 1 });
  });
});
