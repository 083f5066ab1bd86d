import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { publishToSquad } from "../src/squad/directory";
import { REPLAY_MAX_EVENTS } from "../src/squad/events";
import { ADMIN_KEY } from "./helpers";
import { createSquad, echoAgent, policy, register, waitFor } from "./squad-helpers";

describe("squad stream replay window", () => {
  it("says so with a stream.gap frame when ?since is older than the kept events, then replays what is kept", async () => {
    await register(echoAgent("echo-gap"));
    const squad = await createSquad({ members: [{ agent: "echo-gap" }], policy: policy() });
    const total = REPLAY_MAX_EVENTS + 150;
    for (let i = 1; i <= total; i++) await publishToSquad(env, squad, "note.added", { i });

    const res = await exports.default.fetch(
      new Request(`http://localhost/api/v1/squads/${squad}/stream?since=0`, { headers: { upgrade: "websocket", authorization: `Bearer ${ADMIN_KEY}` } }),
    );
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const frames: { type: string; seq: number; data: any }[] = [];
    ws.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string)));
    ws.accept();
    await waitFor(
      async () => frames,
      (f) => f.length > 0 && f[f.length - 1]!.seq === total,
    );

    const [gap, ...replayed] = frames;
    expect(gap).toMatchObject({ type: "stream.gap", data: { requestedSince: 0 } });
    const oldest = gap!.data.oldestAvailable as number;
    expect(oldest).toBeGreaterThan(1);
    // At least the last REPLAY_MAX_EVENTS events are kept, and everything kept is replayed in order.
    expect(total - oldest + 1).toBeGreaterThanOrEqual(REPLAY_MAX_EVENTS);
    expect(replayed.map((f) => f.seq)).toEqual(Array.from({ length: total - oldest + 1 }, (_, k) => oldest + k));
    expect(replayed[replayed.length - 1]).toMatchObject({ type: "note.added", data: { i: total } });
    ws.close();
  });
});
