import { AppError } from "../errors";
import { registryDb, resolveAgentRef } from "../registry/store";
import { memberKey, type Member, type SquadConfig } from "./config";

/** Member capabilities come from the registry; cache them briefly so dispatch stays cheap. */
const CAPABILITY_TTL_MS = 15_000;

export interface Routing {
  capability?: string | null;
  agent?: string | null;
}

const agentMatches = (m: Member, agent: string) => (/[@#]/.test(agent) ? memberKey(m) === agent : m.agent === agent);

/** The members (by key) a task routed by capability or agent name can run on. Pure. */
export function capableMembers(config: SquadConfig, caps: ReadonlyMap<string, string[]>, routing: Routing): string[] {
  return config.members.filter((m) => (routing.capability ? (caps.get(memberKey(m)) ?? []).includes(routing.capability) : agentMatches(m, routing.agent ?? ""))).map(memberKey);
}

/** Which members can take which work, from the registry's specs. */
export class MemberRouter {
  private cached: { at: number; byMember: Promise<Map<string, string[]>> } | null = null;

  constructor(private readonly db: () => D1Database) {}

  /** Forget cached capabilities (the squad's members changed). */
  reset(): void {
    this.cached = null;
  }

  async capable(config: SquadConfig, routing: Routing): Promise<string[]> {
    return capableMembers(config, routing.capability ? await this.capabilities(config) : new Map(), routing);
  }

  /** Refuses work no member could take, naming the field (and the workflow step). */
  async check(config: SquadConfig, routing: Routing, needed: number, pathPrefix: string, step?: string): Promise<void> {
    const capable = await this.capable(config, routing);
    if (capable.length >= needed) return;
    const field = routing.capability ? "capability" : "agent";
    const what = routing.capability ? `capability ${routing.capability}` : `agent ${routing.agent}`;
    const message = capable.length === 0 ? `no member of this squad offers ${what}` : `consensus needs ${needed} capable members but only ${capable.length} offer ${what}`;
    throw new AppError("validation_failed", `${step ? `Step ${step}: ` : ""}${message}.`, {
      errors: [{ path: `${pathPrefix}${capable.length === 0 ? field : "consensus.n"}`, message }],
    });
  }

  private capabilities(config: SquadConfig): Promise<Map<string, string[]>> {
    if (this.cached && Date.now() - this.cached.at < CAPABILITY_TTL_MS) return this.cached.byMember;
    // One lookup shared by every caller meanwhile: 32 tasks starting at once must not each resolve every member.
    this.cached = { at: Date.now(), byMember: this.lookup(config) };
    return this.cached.byMember;
  }

  private async lookup(config: SquadConfig): Promise<Map<string, string[]>> {
    const db = registryDb(this.db());
    const entries = await Promise.all(
      config.members.map(async (m): Promise<[string, string[]]> => {
        try {
          const { version } = await resolveAgentRef(db, memberKey(m));
          return [memberKey(m), version.spec.capabilities];
        } catch {
          return [memberKey(m), []]; // a retired or missing agent offers nothing
        }
      }),
    );
    return new Map(entries);
  }
}
