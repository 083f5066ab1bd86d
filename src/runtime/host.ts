import { RpcTarget, WorkerEntrypoint } from "cloudflare:workers";
import { z } from "zod";
import type { Env } from "../env";
import { AppError } from "../errors";
import { converse, type RunUsage } from "../models/converse";
import type { AgentSpec } from "../registry/spec";

const modelRequest = z
  .object({
    modelId: z.string().min(1).max(200).optional(),
    prompt: z.string().min(1).max(100_000).optional(),
    messages: z
      .array(z.object({ role: z.enum(["user", "assistant"]), content: z.string().max(100_000) }).strict())
      .min(1)
      .max(50)
      .optional(),
    system: z.string().max(20_000).optional(),
    maxTokens: z.number().int().positive().optional(),
    temperature: z.number().min(0).max(1).optional(),
  })
  .strict()
  .refine((r) => (r.prompt === undefined) !== (r.messages === undefined), "give exactly one of prompt or messages");

/** What ctx.model's host call answers; the sandbox throws `ctx.model: <code>: <detail>` for a failure. */
export type ModelReply = { ok: true; text: string; usage: RunUsage; stopReason: string } | { ok: false; code: string; detail: string };

export interface ModelCallRecord {
  modelId: string;
  usage: RunUsage;
  stopReason: string;
  latencyMs: number;
}

/**
 * The host side of one code-agent run that may call a model, handed to the sandbox as an RPC argument: its
 * method is what ctx.model calls. Limits live here, not in the sandbox: whatever the agent does to its own
 * ctx, only models its permissions name are called and its token budget holds.
 */
export class RunHost extends RpcTarget {
  readonly calls: ModelCallRecord[] = [];
  readonly violations: string[] = [];
  /** Bedrock failures behind ctx.model calls, so a run that dies of one reports it (e.g. circuit_open). */
  readonly modelFailures: AppError[] = [];
  private used = 0;
  private closed = false;

  constructor(
    private readonly env: Env,
    private readonly permissions: AgentSpec["permissions"],
    private readonly deadline: number,
  ) {
    super();
  }

  /** After the run the sandbox may still hold this stub; nothing it calls afterwards has any effect. */
  close(): void {
    this.closed = true;
  }

  /**
   * ctx.model's host half. It never throws: errors do not cross RPC cleanly (only a message survives, and a
   * rejected RPC promise leaves "Uncaught (in promise)" noise), so a refusal or a Bedrock failure comes back as
   * `{ ok: false, code, detail }` and the sandbox wrapper turns it into the rejection the agent sees.
   */
  async model(request: unknown): Promise<ModelReply> {
    if (this.closed) return { ok: false, code: "run_over", detail: "This run is over." };
    const parsed = modelRequest.safeParse(request);
    if (!parsed.success) return { ok: false, code: "validation_failed", detail: parsed.error.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`).join("; ") };
    const req = parsed.data;
    const modelId = req.modelId ?? this.permissions.models[0];
    if (!modelId || !this.permissions.models.includes(modelId)) {
      this.violations.push(`model ${modelId ?? "(none)"} is not in permissions.models`);
      return {
        ok: false,
        code: "model_not_permitted",
        detail: `model ${modelId ?? "(none)"} is not permitted; this agent may call ${this.permissions.models.join(", ") || "no model"}.`,
      };
    }
    const remaining = this.permissions.maxTokensPerRun - this.used;
    if (remaining <= 0) {
      this.violations.push("token budget exhausted");
      return { ok: false, code: "token_budget_spent", detail: `the run's token budget of ${this.permissions.maxTokensPerRun} is spent.` };
    }
    try {
      const result = await converse(this.env, {
        modelId,
        messages: req.messages ?? [{ role: "user", content: req.prompt! }],
        system: req.system,
        maxTokens: Math.min(req.maxTokens ?? remaining, remaining),
        temperature: req.temperature,
        deadline: this.deadline,
      });
      this.used += result.usage.totalTokens;
      this.calls.push({ modelId, usage: result.usage, stopReason: result.stopReason, latencyMs: result.latencyMs });
      return { ok: true, text: result.text, usage: result.usage, stopReason: result.stopReason };
    } catch (err) {
      if (!(err instanceof AppError)) return { ok: false, code: "internal", detail: String((err as Error)?.message ?? err) };
      this.modelFailures.push(err);
      return { ok: false, code: err.code, detail: err.detail };
    }
  }

  usage(): RunUsage | undefined {
    if (this.calls.length === 0) return undefined;
    return this.calls.reduce(
      (t, c) => ({ inputTokens: t.inputTokens + c.usage.inputTokens, outputTokens: t.outputTokens + c.usage.outputTokens, totalTokens: t.totalTokens + c.usage.totalTokens }),
      { inputTokens: 0, outputTokens: 0, totalTokens: 0 },
    );
  }
}

export interface EgressProps {
  /** Host patterns from permissions.network: `api.example.com`, `*.example.com`, `host:port`. */
  hosts: string[];
}

/** Whether a URL's host is one the agent's permissions name; a pattern without a port allows the scheme's default port only. */
export function hostAllowed(url: URL, patterns: readonly string[]): boolean {
  if (url.protocol !== "https:" && url.protocol !== "http:") return false;
  const host = url.hostname.toLowerCase();
  const port = url.port;
  return patterns.some((raw) => {
    const pattern = raw.toLowerCase();
    const colon = pattern.lastIndexOf(":");
    const [name, wantPort] = colon > 0 && /^\d+$/.test(pattern.slice(colon + 1)) ? [pattern.slice(0, colon), pattern.slice(colon + 1)] : [pattern, ""];
    if (wantPort !== port) return false;
    if (name.startsWith("*.")) return host.endsWith(name.slice(1)) && host.length > name.length - 1;
    return host === name;
  });
}

/**
 * globalOutbound of a code agent whose permissions name hosts: every fetch() the sandbox makes
 * arrives here; requests to other hosts are refused with 403, allowed ones go out without
 * following redirects (a redirect must not lead the agent somewhere it may not go).
 */
export class EgressGate extends WorkerEntrypoint<Env, EgressProps> {
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (!hostAllowed(url, this.ctx.props.hosts)) {
      return new Response(
        JSON.stringify({ error: "egress_denied", detail: `This agent may not reach ${url.host}; permissions.network allows ${this.ctx.props.hosts.join(", ")}.` }),
        {
          status: 403,
          headers: { "content-type": "application/json", "x-tdev-egress": "denied" },
        },
      );
    }
    return fetch(new Request(request, { redirect: "manual" }));
  }
}
