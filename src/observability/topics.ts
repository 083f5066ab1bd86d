import type { Scope } from "../auth/scopes";

/**
 * Which topics the global stream carries and what scope reading each takes: the same scope that reads
 * the same facts over REST (squad events, evolution runs, deployment history, agents: all agents:read).
 * Pure: the API and the event hub both decide with it.
 */
export const GLOBAL_TOPICS = ["system", "evolution", "deployments"] as const;

/** Every squad's events, when a caller asks for everything. */
export const ALL_SQUADS = "squad:*";

const SQUAD_TOPIC = /^squad:[A-Za-z0-9_-]{1,64}$/;

export const squadTopic = (squadId: string) => `squad:${squadId}`;

/** The scope a topic needs, or null for a topic the stream does not carry. */
export function topicScope(topic: string): Scope | null {
  if ((GLOBAL_TOPICS as readonly string[]).includes(topic) || topic === ALL_SQUADS || SQUAD_TOPIC.test(topic)) return "agents:read";
  return null;
}

export type TopicChoice = { ok: true; topics: string[] } | { ok: false; code: "bad_request" | "forbidden"; detail: string };

/** The topics a caller asked for (or every topic it may read), refusing unknown topics and those its scopes do not cover. */
export function chooseTopics(requested: string | undefined, scopes: ReadonlySet<string>): TopicChoice {
  const all = [...GLOBAL_TOPICS, ALL_SQUADS];
  if (!requested) {
    const readable = all.filter((t) => scopes.has(topicScope(t)!));
    return readable.length ? { ok: true, topics: readable } : { ok: false, code: "forbidden", detail: "This credential may read no stream topic (agents:read)." };
  }
  const topics = [
    ...new Set(
      requested
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean),
    ),
  ];
  if (topics.length === 0 || topics.length > 50) return { ok: false, code: "bad_request", detail: "topics: name 1 to 50 topics, comma-separated." };
  for (const t of topics) {
    const scope = topicScope(t);
    if (!scope) return { ok: false, code: "bad_request", detail: `Unknown topic ${JSON.stringify(t)}: use ${all.join(", ")} or squad:<id>.` };
    if (!scopes.has(scope)) return { ok: false, code: "forbidden", detail: `Reading ${t} needs the ${scope} scope.` };
  }
  return { ok: true, topics };
}

/** Does a socket that chose `topics` receive an event of `topic`? */
export const wants = (topics: readonly string[], topic: string) => topics.includes(topic) || (topic.startsWith("squad:") && topics.includes(ALL_SQUADS));

/** `?since=12` (every topic) or `?since=evolution=3,squad:sqd_1=40`: the last seq the client saw per topic. */
export function parseSince(since: string | undefined): { all?: number; byTopic: Record<string, number> } | null {
  if (since === undefined || since === "") return { byTopic: {} };
  if (/^\d{1,15}$/.test(since)) return { all: Number(since), byTopic: {} };
  const byTopic: Record<string, number> = {};
  for (const part of since.split(",")) {
    const at = part.lastIndexOf("=");
    const topic = part.slice(0, at);
    const seq = part.slice(at + 1);
    if (at <= 0 || !/^\d{1,15}$/.test(seq) || !topicScope(topic)) return null;
    byTopic[topic] = Number(seq);
  }
  return { byTopic };
}
