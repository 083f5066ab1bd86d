// Watches a squad's event stream: node examples/squads/watch.mjs <squadId> [sinceSeq]
// (`tdev tail <squad>` does the same and reconnects on drops.) Uses the settings every tdev tool reads:
// TDEV_URL (default http://localhost:8787) and TDEV_API_KEY (an API key with agents:read).
import WebSocket from "ws";

const [squadId, since] = process.argv.slice(2);
if (!squadId) {
  console.error("usage: node examples/squads/watch.mjs <squadId> [sinceSeq]");
  process.exit(2);
}
const base = (process.env.TDEV_URL ?? "http://localhost:8787").replace(/\/$/, "").replace(/^http/, "ws");
const url = `${base}/api/v1/squads/${squadId}/stream${since ? `?since=${since}` : ""}`;
const ws = new WebSocket(url, { headers: { authorization: `Bearer ${process.env.TDEV_API_KEY ?? ""}` } });
ws.on("open", () => console.error(`watching ${squadId}${since ? ` from seq ${since}` : ""}`));
ws.on("message", (raw) => {
  const e = JSON.parse(String(raw));
  console.log(`${String(e.seq).padStart(5)} ${e.ts} ${e.type.padEnd(20)} ${JSON.stringify(e.data)}`);
});
ws.on("unexpected-response", (_req, res) => {
  console.error(`refused: HTTP ${res.statusCode}`);
  process.exit(1);
});
ws.on("close", (code) => {
  console.error(`closed (${code})`);
  process.exit(0);
});
