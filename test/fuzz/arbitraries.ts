import fc from "fast-check";

/** Request values generated from the OpenAPI document: schema-shaped ones, and the hostile kinds issue 14 names. */
type Schema = Record<string, any>;
export interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}
export interface Operation {
  parameters?: { in: "path" | "query" | "header"; name: string; required?: boolean; schema?: Schema }[];
  requestBody?: { content: Record<string, { schema?: Schema }> };
}

/** One generated request, as a client would send it. */
export interface FuzzRequest {
  method: string;
  path: string;
  contentType?: string;
  body?: string;
}

const MAX_DEPTH = 5;

/** Values shaped by `schema` (depth-bounded; $ref resolved against the document). */
export function fromSchema(schema: Schema | undefined, doc: OpenApiDoc, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > MAX_DEPTH) return fc.constant(null);
  if (schema.$ref) return fromSchema(doc.components.schemas[String(schema.$ref).split("/").pop()!], doc, depth + 1);
  if ("const" in schema) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...(schema.enum as unknown[]));
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...(alternatives as Schema[]).map((s) => fromSchema(s, doc, depth + 1)));
  if (schema.allOf) return fromSchema(mergeAll(schema.allOf as Schema[], doc), doc, depth + 1);
  if (Array.isArray(schema.type)) return fc.oneof(...(schema.type as string[]).map((type) => fromSchema({ ...schema, type }, doc, depth)));
  switch (schema.type) {
    case "string":
      return stringOf(schema);
    case "integer":
      return fc.integer({ min: Math.ceil(bound(schema.minimum, schema.exclusiveMinimum, -1e6, 1)), max: Math.floor(bound(schema.maximum, schema.exclusiveMaximum, 1e6, -1)) });
    case "number":
      return fc.double({
        min: bound(schema.minimum, schema.exclusiveMinimum, -1e6, 1e-9),
        max: bound(schema.maximum, schema.exclusiveMaximum, 1e6, -1e-9),
        noNaN: true,
        noDefaultInfinity: true,
      });
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array":
      return fc.array(fromSchema(schema.items, doc, depth + 1), { minLength: schema.minItems ?? 0, maxLength: Math.max(schema.minItems ?? 0, Math.min(schema.maxItems ?? 4, 4)) });
    case "object":
    case undefined:
      if (!schema.properties)
        return schema.type === "object" ? fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) : fc.jsonValue({ maxDepth: 2 });
      return fc.record(Object.fromEntries(Object.entries(schema.properties as Record<string, Schema>).map(([k, s]) => [k, fromSchema(s, doc, depth + 1)])), {
        requiredKeys: (schema.required as string[] | undefined) ?? [],
      });
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function bound(inclusive: unknown, exclusive: unknown, fallback: number, nudge: number): number {
  if (typeof exclusive === "number") return exclusive + nudge;
  return typeof inclusive === "number" ? inclusive : fallback;
}

function mergeAll(parts: Schema[], doc: OpenApiDoc): Schema {
  const resolved = parts.map((p) => (p.$ref ? doc.components.schemas[String(p.$ref).split("/").pop()!]! : p));
  return resolved.reduce<Schema>((all, p) => ({ ...all, ...p, properties: { ...all.properties, ...p.properties }, required: [...(all.required ?? []), ...(p.required ?? [])] }), {
    type: "object",
    properties: {},
    required: [],
  });
}

function stringOf(schema: Schema): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0;
  const maxLength = Math.max(minLength, Math.min(schema.maxLength ?? 24, 64));
  if (schema.format === "date-time") return fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString());
  if (schema.pattern) {
    try {
      return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= minLength && s.length <= Math.max(maxLength, 200));
    } catch {
      // a pattern JavaScript cannot compile: plain strings
    }
  }
  return fc.string({ minLength, maxLength });
}

/**
 * A path segment as a client puts it on the wire. encodeURIComponent throws on a lone surrogate, which no UTF-8
 * text holds; a hostile client sends its three bytes anyway (%ED%A0%80 for U+D800), so that is what goes.
 */
export function encodePathSegment(text: string): string {
  let out = "";
  let run = "";
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const pair = unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) <= 0xdfff;
    if (pair) {
      run += text.slice(i, i + 2);
      i++;
    } else if (unit >= 0xd800 && unit <= 0xdfff) {
      const bytes = [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)];
      out += encodeURIComponent(run) + bytes.map((b) => `%${b.toString(16).toUpperCase()}`).join("");
      run = "";
    } else run += text[i];
  }
  return out + encodeURIComponent(run);
}

/** Strings a hostile client sends where a name or id goes. */
export const hostileString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme-composite", maxLength: 40 }),
  fc.constantFrom(
    "",
    " ",
    "..",
    "../..",
    "%00",
    "\u0000",
    "null",
    "undefined",
    "__proto__",
    "constructor",
    "0",
    "-1",
    "1e999",
    "NaN",
    "💥",
    "\ud800",
    "a".repeat(5000),
    "<script>",
    "' OR 1=1 --",
  ),
  fc.nat({ max: 2000 }).map((n) => "x".repeat(n)),
);

/** Numbers JSON can carry that code often does not expect. */
const hugeNumberLiteral = fc.constantFrom("1e308", "-1e308", "1e999", "-1e999", "9007199254740993", "-0", "1e-400", "0.1e1", "123456789012345678901234567890");

const nested = (depth: number, leaf: string) => `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`;
const nestedObject = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

/** A JSON body: schema-shaped, one field swapped for something hostile, or hostile as a whole. */
export function bodyArbitrary(schema: Schema | undefined, doc: OpenApiDoc): fc.Arbitrary<string> {
  const valid = fromSchema(schema, doc);
  const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    hostileString,
    fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0, 5e-324, Number.MAX_SAFE_INTEGER, -2147483649),
  );
  const swapped = fc.tuple(valid, fc.string({ maxLength: 12 }), hostileValue).map(([v, key, bad]) => {
    if (!v || typeof v !== "object" || Array.isArray(v)) return bad;
    const keys = Object.keys(v);
    const target = keys.length ? keys[key.length % keys.length]! : key;
    return { ...v, [target]: bad };
  });
  return fc.oneof(
    { arbitrary: valid.map((v) => JSON.stringify(v)), weight: 4 },
    { arbitrary: swapped.map((v) => JSON.stringify(v) ?? "null"), weight: 3 },
    { arbitrary: hostileValue.map((v) => JSON.stringify(v) ?? "null"), weight: 1 },
    { arbitrary: fc.integer({ min: 50, max: 20_000 }).map((d) => nested(d, "0")), weight: 1 },
    { arbitrary: fc.integer({ min: 50, max: 20_000 }).map(nestedObject), weight: 1 },
    // deep nesting inside an otherwise valid body (e.g. params, input): where the recursive walkers live
    {
      arbitrary: fc.tuple(valid, fc.integer({ min: 65, max: 6_000 })).map(([v, d]) => JSON.stringify(v).replace(/^\{/, `{"params":${nestedObject(d)},"input":${nested(d, "1")},`)),
      weight: 1,
    },
    { arbitrary: hugeNumberLiteral.map((n) => `{"n":${n},"limit":${n},"priority":${n},"weight":${n}}`), weight: 1 },
    { arbitrary: fc.string({ unit: "binary", maxLength: 200 }), weight: 1 },
    { arbitrary: fc.integer({ min: 100_000, max: 1_500_000 }).map((n) => JSON.stringify({ name: "x".repeat(n) })), weight: 1 },
  );
}

/** A path or query value: schema-shaped, a value known to exist, or hostile. */
export function paramArbitrary(schema: Schema | undefined, doc: OpenApiDoc, known: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    ...(known.length ? [{ arbitrary: fc.constantFrom(...known), weight: 3 }] : []),
    { arbitrary: fromSchema(schema, doc).map((v) => (typeof v === "string" ? v : (JSON.stringify(v) ?? ""))), weight: 2 },
    { arbitrary: hostileString, weight: 2 },
    { arbitrary: hugeNumberLiteral, weight: 1 },
  );
}
