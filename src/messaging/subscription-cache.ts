import { asc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { ChangeCounter } from "../change-counter";
import { subscriptions, type SubscriptionRow } from "./schema";

/**
 * Subscriptions as consumers read them, cached per isolate: a topic's fan-out and every delivery to a
 * subscription would otherwise read D1 per batch and per message. Entries hold while the subscriptions'
 * change counter (migration 0014, bumped by triggers on every change) stays put, so a subscription
 * created or deleted anywhere takes effect in every consumer within 1 s (change-counter.ts), and at once
 * in the isolate that wrote it.
 */
const counter = new ChangeCounter("SELECT generation FROM subscription_generation WHERE id = 1");
const MAX_ENTRIES = 1_000;

const topics = new Map<string, { generation: number; rows: SubscriptionRow[] }>();
const byId = new Map<string, { generation: number; row: SubscriptionRow | undefined }>();

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_ENTRIES && !map.has(key)) map.delete(map.keys().next().value as string);
  map.set(key, value);
}

async function cached<V extends { generation: number }>(d1: D1Database, map: Map<string, V>, key: string, load: (generation: number) => Promise<V>): Promise<V> {
  const { generation } = await counter.current(d1);
  const hit = map.get(key);
  if (hit?.generation === generation) return hit;
  const writesAtStart = counter.localWrites();
  const value = await load(generation);
  // A write through this isolate that landed while we were reading makes this value suspect: do not keep it.
  if (writesAtStart === counter.localWrites()) remember(map, key, value);
  return value;
}

/** Every subscription of a topic, oldest first. */
export async function subscribersOf(d1: D1Database, topic: string): Promise<SubscriptionRow[]> {
  const load = () => drizzle(d1).select().from(subscriptions).where(eq(subscriptions.topic, topic)).orderBy(asc(subscriptions.createdAt));
  return (await cached(d1, topics, topic, async (generation) => ({ generation, rows: await load() }))).rows;
}

/** One subscription by id; undefined once it is deleted. */
export async function subscriptionById(d1: D1Database, id: string): Promise<SubscriptionRow | undefined> {
  const load = async () => (await drizzle(d1).select().from(subscriptions).where(eq(subscriptions.id, id)).limit(1))[0];
  return (await cached(d1, byId, id, async (generation) => ({ generation, row: await load() }))).row;
}

/** Wraps every subscription write through this isolate: clears before (new reads miss) and after (reads that overlapped it are dropped). */
export async function writingSubscriptions<T>(write: () => PromiseLike<T>): Promise<T> {
  const invalidate = () => {
    counter.noteLocalWrite();
    topics.clear();
    byId.clear();
  };
  invalidate();
  try {
    return await write();
  } finally {
    invalidate();
  }
}
