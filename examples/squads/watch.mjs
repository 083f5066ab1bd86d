// Watches a squad's event stream: node examples/squads/watch.mjs <squadId> [sinceSeq]
// Uses TDEV_URL (default http://127.0.0.1:8787) and TDEV_KEY (an API key with agents:read).
import WebSocket from "ws";

const [squadId, since] = process.argv.slice(2);
if (!squadId) {
  console.error("usage: node examples/squads/watch.mjs <squadId> [sinceSeq]");
  process.exit(2);
}
const base = (process.env.TDEV_URL ?? "http://127.0.0.1:8787").replace(/^http/, "ws");
const url = `${base}/api/v1/squads/${squadId}/stream${since ? `?since=${since}` : ""}`;
const ws = new WebSocket(url, { headers: { authorization: `Bearer ${process.env.TDEV_KEY ?? ""}` } });
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
