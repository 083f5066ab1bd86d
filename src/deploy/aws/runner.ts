import type { WorkflowStep, WorkflowStepConfig } from "cloudflare:workers";
import type { Env } from "../../env";
import type { AwsResult } from "./client";
import type { DeployTiming } from "./config";
import { recordAttempt } from "./store";

/** A deployment that cannot go on: AWS's code and message, or ours (PollTimeout, AgentFailed, …). */
export class DeployFailure extends Error {
  override readonly name = "DeployFailure";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** How one poll reads: done, keep waiting, or a terminal AWS state (FAILED, UPDATE_FAILED, …). */
export type Verdict = { state: "done"; detail?: Record<string, unknown> } | { state: "wait" } | { state: "failed"; code: string; message: string };

export interface ActOptions {
  /** On a 409, wait for the resource to leave its transitional state before the next attempt. */
  settle?: (attempt: number) => Promise<unknown>;
  /** `fatal` where a 409 is not transitional (a duplicate name on create). */
  conflict?: "retry" | "fatal";
  /** What to keep of a successful answer in the step's record. */
  detail?: (text: string) => Record<string, unknown>;
}

/**
 * Each attempt is its own step: one AWS call plus the D1 record of it. The platform retries only
 * what throws (D1 or the Worker dying mid-step), and the calls a retry could repeat are idempotent
 * (clientToken, full replaces, re-reads). AWS errors are answers, not throws: the loop below decides.
 */
const ATTEMPT: WorkflowStepConfig = { retries: { limit: 3, delay: "1 second", backoff: "exponential" }, timeout: "2 minutes" };

/** Exponential backoff with jitter in [ceiling/2, ceiling); the jitter is drawn inside a step, so replays wait the same. */
export function backoffMs(baseMs: number, maxMs: number, attempt: number, jitter: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.floor(ceiling / 2 + (jitter * ceiling) / 2));
}

/** Runs the AWS steps of one deployment (or rollback), recording every attempt, poll and error. */
export class StepRunner {
  private seq: number;

  constructor(
    private readonly env: Env,
    private readonly step: WorkflowStep,
    private readonly deploymentId: string,
    private readonly timing: DeployTiming,
    /** Names the steps of a rollback apart from the deployment's own (`rollback-1:`); empty for the deployment. */
    private readonly prefix = "",
    firstSeq = 0,
  ) {
    this.seq = firstSeq;
  }

  /** A bookkeeping step (D1 reads and writes), checkpointed like the AWS ones. */
  do<T extends Rpc.Serializable<T>>(name: string, work: () => Promise<T>): Promise<T> {
    return this.step.do(`${this.prefix}${name}`, ATTEMPT, work);
  }

  /**
   * One AWS action. 429/5xx/network: back off and try again. 409 (a transitional state): `settle`
   * (a poll until the resource is stable), then try again. Any other 4xx ends the deployment with
   * AWS's code and message. `call` runs again on every attempt, so it must be safe to repeat.
   */
  async act(bare: string, call: () => Promise<AwsResult>, opts: ActOptions = {}): Promise<string> {
    const { settle, detail } = opts;
    const name = `${this.prefix}${bare}`;
    const seq = ++this.seq;
    let last: Extract<AwsResult, { ok: false }> | undefined;
    for (let attempt = 1; attempt <= this.timing.maxAttempts; attempt++) {
      const { result, jitter } = await this.step.do(`${name}#${attempt}`, ATTEMPT, async () => {
        const result = await call();
        const error = result.ok ? undefined : { status: result.status, code: result.code, message: result.message };
        const final = result.ok
          ? "succeeded"
          : result.kind === "fatal" || (result.kind === "conflict" && opts.conflict === "fatal") || attempt === this.timing.maxAttempts
            ? "failed"
            : undefined;
        await recordAttempt(this.env, {
          deploymentId: this.deploymentId,
          step: name,
          seq,
          attempt,
          kind: "attempt",
          ok: result.ok,
          final,
          error,
          detail: result.ok && detail ? detail(result.text) : undefined,
        });
        return { result, jitter: Math.random() };
      });
      if (result.ok) return result.text;
      last = result;
      if (result.kind === "fatal" || (result.kind === "conflict" && opts.conflict === "fatal")) break;
      if (attempt === this.timing.maxAttempts) break;
      if (result.kind === "conflict" && settle) await settle(attempt);
      await this.step.sleep(`${name}#${attempt}:backoff`, backoffMs(this.timing.retryBaseMs, this.timing.retryMaxMs, attempt, jitter));
    }
    const kind = last?.kind === "fatal" ? "" : ` (gave up after ${this.timing.maxAttempts} attempts)`;
    throw new DeployFailure(last?.code ?? "Unknown", `${name}: AWS answered ${last?.status} ${last?.code}: ${last?.message}${kind}`);
  }

  /**
   * Polls until `judge` says done, waiting with backoff and jitter between reads. Throttling and
   * 5xx on a read are waited out like a not-yet; a terminal state or another 4xx fails the deployment.
   */
  async poll(bare: string, read: () => Promise<AwsResult>, judge: (text: string) => Verdict): Promise<string> {
    const name = `${this.prefix}${bare}`;
    const seq = ++this.seq;
    for (let i = 1; i <= this.timing.maxPolls; i++) {
      const { result, verdict, jitter } = await this.step.do(`${name}:poll#${i}`, ATTEMPT, async () => {
        const result = await read();
        const verdict: Verdict = result.ok ? judge(result.text) : result.kind === "fatal" ? { state: "failed", code: result.code, message: result.message } : { state: "wait" };
        const awsStatus = result.ok ? statusOf(result.text) : undefined;
        const error = result.ok
          ? verdict.state === "failed"
            ? { status: result.status, code: verdict.code, message: verdict.message }
            : undefined
          : { status: result.status, code: result.code, message: result.message };
        const final = verdict.state === "done" ? "succeeded" : verdict.state === "failed" || i === this.timing.maxPolls ? "failed" : undefined;
        await recordAttempt(this.env, {
          deploymentId: this.deploymentId,
          step: name,
          seq,
          attempt: i,
          kind: "poll",
          ok: verdict.state !== "failed",
          final,
          awsStatus,
          error,
          detail: verdict.state === "done" ? verdict.detail : undefined,
        });
        return { result, verdict, jitter: Math.random() };
      });
      if (verdict.state === "done" && result.ok) return result.text;
      if (verdict.state === "failed") throw new DeployFailure(verdict.code, `${name}: ${verdict.message}`);
      if (i < this.timing.maxPolls) await this.step.sleep(`${name}:wait#${i}`, backoffMs(this.timing.pollBaseMs, this.timing.pollMaxMs, i, jitter));
    }
    throw new DeployFailure("PollTimeout", `${name}: not done after ${this.timing.maxPolls} polls`);
  }
}

/** The status field of an AWS answer, for the poll record (Bedrock: agentStatus / agentAliasStatus; AgentCore: status). */
function statusOf(text: string): string | undefined {
  try {
    const b = JSON.parse(text) as { agent?: { agentStatus?: string }; agentAlias?: { agentAliasStatus?: string }; status?: string };
    return b.agent?.agentStatus ?? b.agentAlias?.agentAliasStatus ?? b.status;
  } catch {
    return undefined;
  }
}
