import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { api, codeSpec } from "./helpers";

/** Agents for squad tests: code agents whose behaviour is in their code. */
export const echoAgent = (name: string, capabilities = ["echo"]) => codeSpec(name, "1.0.0", { capabilities });

export const constAgent = (name: string, answer: unknown, capabilities = ["vote"]) =>
  codeSpec(name, "1.0.0", { capabilities, params: { answer }, code: `export default { async run() { return ${JSON.stringify(answer)}; } };` });

export const failingAgent = (name: string, capabilities = ["echo"]) =>
  codeSpec(name, "1.0.0", { capabilities, params: { fail: true }, code: "export default { async run() { throw new Error('boom'); } };" });

export const slowAgent = (name: string, ms: number, capabilities = ["slow"]) =>
  codeSpec(name, "1.0.0", {
    capabilities,
    params: { sleepMs: ms },
    code: `export default { async run(input) { await new Promise((r) => setTimeout(r, ${ms})); return input; } };`,
  });

export async function register(...specs: Record<string, unknown>[]) {
  for (const spec of specs) {
    const res = await api("POST", "/api/v1/agents", { body: spec });
    if (res.status !== 201 && res.status !== 200) throw new Error(`register ${spec.name}: ${res.status} ${res.text}`);
  }
}

export async function createSquad(body: Record<string, unknown>): Promise<string> {
  const res = await api("POST", "/api/v1/squads", { body: { name: "test squad", ...body } });
  if (res.status !== 201) throw new Error(`create squad: ${res.status} ${res.text}`);
  return res.json.id as string;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `done` holds; no timing is asserted, the limit only stops a hung test. */
export async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, limitMs = 15_000): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`condition not reached; last value: ${JSON.stringify(value).slice(0, 500)}`);
    await sleep(25);
  }
}

export const getTask = async (squad: string, taskId: string) => (await api("GET", `/api/v1/squads/${squad}/tasks/${taskId}`)).json;
export const finished = (t: any) => ["completed", "failed", "cancelled"].includes(t.status);
export const waitTask = (squad: string, taskId: string): Promise<any> => waitFor(() => getTask(squad, taskId), finished);

export async function submit(squad: string, body: Record<string, unknown>): Promise<string> {
  const res = await api("POST", `/api/v1/squads/${squad}/tasks`, { body });
  if (res.status !== 202) throw new Error(`submit: ${res.status} ${res.text}`);
  return res.json.taskId as string;
}

export async function events(squad: string, since = 0): Promise<{ type: string; seq: number; data: any }[]> {
  const res = await api("GET", `/api/v1/squads/${squad}/events?since=${since}&limit=1000`);
  if (res.status !== 200) throw new Error(`events: ${res.status} ${res.text}`);
  return res.json.items;
}

export const policy = (extra: Record<string, unknown> = {}) => ({ maxConcurrency: 4, taskTimeoutMs: 10_000, retries: 0, ...extra });

/** Resets one squad object, as a crash would (only this object: abortAllDurableObjects would hit other files' objects too). */
export async function abortSquad(squad: string): Promise<void> {
  const stub = env.SQUADS.get(env.SQUADS.idFromName(squad));
  await runInDurableObject(stub, (_instance, state) => state.abort("test: the squad object dies")).catch(() => undefined);
}
