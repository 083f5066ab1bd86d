export const SCOPES = ["agents:read", "agents:write", "squads:run", "evolution:admin", "keys:admin"] as const;
export type Scope = (typeof SCOPES)[number];
