import { ChangeCounter, type Generation } from "../change-counter";

export { freshness, REFRESH_AFTER_MS, STALE_AFTER_MS } from "../change-counter";

/**
 * The registry's change counter: migration 0012's triggers bump it with every change to agents, agent
 * versions and channels, whoever writes them (API, promotion, rollback, restore). Cached resolutions and
 * reads hold while it stays put; a change anywhere is seen by every isolate within 1 s (change-counter.ts).
 */
export type RegistryGeneration = Generation;

const counter = new ChangeCounter("SELECT generation FROM registry_generation WHERE id = 1");

export const readGeneration = (d1: D1Database) => counter.read(d1);
export const currentGeneration = (d1: D1Database) => counter.current(d1);
export const localWrites = () => counter.localWrites();
export const noteLocalWrite = () => counter.noteLocalWrite();
