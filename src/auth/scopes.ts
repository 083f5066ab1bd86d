export const SCOPES = ["agents:read", "agents:write", "squads:run", "evolution:admin", "keys:admin"] as const;
export type Scope = (typeof SCOPES)[number];

const known: ReadonlySet<string> = new Set(SCOPES);

export const isScope = (value: string): value is Scope => known.has(value);
