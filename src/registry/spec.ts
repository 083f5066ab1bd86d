import { z } from "@hono/zod-openapi";
import semver from "semver";
import { AppError } from "../errors";
import { checkHostPattern } from "../net/address";
import { canonicalJson, sha256Hex, utf8Length } from "./canonical";

/** 6.5 KB: the largest canonical spec the registry accepts. */
export const MAX_SPEC_BYTES = 6656;

export const agentName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, "must be a lowercase slug: a letter, then letters, digits or hyphens (at most 63)");

export const semverString = z
  .string()
  .max(64)
  .refine((v) => semver.valid(v) === v, "must be a semantic version such as 1.2.3");

const dependency = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}@.+$/, "must be name@semver-range, such as tokenizer@^1.2.0")
  .refine((d) => semver.validRange(d.slice(d.indexOf("@") + 1)) !== null, "has an invalid semver range");

const host = z.string().regex(/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/, "must be a host name such as api.example.com");

export const permissionsSchema = z
  .object({
    network: z.array(host).max(32).default([]).openapi({
      description: "Hosts the agent may fetch; empty means no network. Internal hosts (loopback, private, link-local, metadata, localhost) are refused at registration.",
    }),
    models: z.array(z.string().min(1).max(200)).max(16).default([]).openapi({ description: "Bedrock model ids the agent may call." }),
    maxTokensPerRun: z.number().int().positive().max(1_000_000).default(4096),
  })
  .strict();

const base = {
  name: agentName,
  version: semverString,
  description: z.string().max(2000).default(""),
  capabilities: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9:._-]{0,63}$/, "must be a lowercase capability token"))
    .max(32)
    .default([]),
  dependencies: z.array(dependency).max(32).default([]),
  permissions: permissionsSchema.default({ network: [], models: [], maxTokensPerRun: 4096 }),
  params: z.record(z.string(), z.unknown()).default({}).openapi({ description: "JSON object of tunable parameters: the genes evolution changes." }),
  inputSchema: z.record(z.string(), z.unknown()).optional().openapi({ description: "Optional JSON Schema the run input must satisfy." }),
  timeoutMs: z.number().int().min(10).max(30_000).optional().openapi({ description: "Wall-clock limit per run (default 5000)." }),
};

export const agentSpecSchema = z
  .discriminatedUnion("kind", [
    z.object({ ...base, kind: z.literal("code"), code: z.string().min(1).openapi({ description: "ES module whose default export has async run(input, ctx)." }) }).strict(),
    z.object({ ...base, kind: z.literal("llm"), prompt: z.string().min(1), model: z.string().min(1).max(200) }).strict(),
    z
      .object({
        ...base,
        kind: z.literal("bedrock-agent"),
        bedrockAgent: z.object({ agentId: z.string().min(1).max(100), aliasId: z.string().min(1).max(100) }).strict(),
      })
      .strict(),
  ])
  .openapi("AgentSpec");

export type AgentSpec = z.infer<typeof agentSpecSchema>;
export type AgentKind = AgentSpec["kind"];

/**
 * Registration refuses network grants to internal hosts (loopback, private, link-local, metadata, localhost) in any
 * spelling. Checked where specs are registered rather than in the schema, so stored specs and local test fixtures still parse.
 */
export function refuseInternalHosts(spec: AgentSpec): void {
  for (const [i, pattern] of spec.permissions.network.entries()) {
    const verdict = checkHostPattern(pattern);
    if (verdict.ok) continue;
    throw new AppError("validation_failed", `permissions.network.${i}: ${pattern} refused (${verdict.rule}): ${verdict.detail}`, {
      type: "/problems/internal-address",
      rule: verdict.rule,
      errors: [{ path: `permissions.network.${i}`, message: `${verdict.rule}: ${verdict.detail}` }],
    });
  }
}

export interface SizedSpec {
  spec: AgentSpec;
  canonical: string;
  sizeBytes: number;
  contentHash: string;
}

/** Canonicalises a validated spec, measures it and refuses it when over the size limit. */
export async function sizeSpec(spec: AgentSpec): Promise<SizedSpec> {
  const canonical = canonicalJson(spec);
  const sizeBytes = utf8Length(canonical);
  if (sizeBytes > MAX_SPEC_BYTES) {
    throw new AppError("spec_too_large", `The canonical spec is ${sizeBytes} bytes; the limit is ${MAX_SPEC_BYTES} bytes (6.5 KB).`, { sizeBytes, limitBytes: MAX_SPEC_BYTES });
  }
  return { spec, canonical, sizeBytes, contentHash: await sha256Hex(canonical) };
}

/**
 * Orders semver strings in SQL exactly as semver.compare does, so `ORDER BY sort_key` and keyset pagination
 * need no JS sort: fixed-width numeric fields; a release after its prereleases; prerelease identifiers one by
 * one, numeric ones by value (length then digits, since semver forbids leading zeros) before alphanumeric
 * ones (ASCII), separated by "!", which sorts below every identifier character, so a shorter list sorts first.
 */
export function versionSortKey(version: string): string {
  const v = semver.parse(version);
  if (!v) throw new AppError("validation_failed", `Invalid version ${version}`);
  // semver refuses fields above Number.MAX_SAFE_INTEGER (16 digits).
  const pad = (n: number) => String(n).padStart(16, "0");
  const identifier = (id: string | number) => (/^\d+$/.test(String(id)) ? `0${String(String(id).length).padStart(2, "0")}${id}` : `1${id}`);
  const release = v.prerelease.length ? `0${v.prerelease.map(identifier).join("!")}` : "1";
  return `${pad(v.major)}.${pad(v.minor)}.${pad(v.patch)}.${release}`;
}
