// The JavaScript receivers of the liveness proof (internal/liveproof): the
// client of client/js under Node.js with the ws package, one per user, each
// connected through its own hostile-network proxy, with the SDK's default
// heartbeat unless told otherwise. Input: one JSON argument {url, proxies:
// {user: host:port}, tokens: {user: jwt}, channel, heartbeatIntervalMs,
// heartbeatTimeoutMs}: each user addresses the emulator (url) while its TCP
// connections go through its proxy. Output, one JSON line each: {ev:"ready"} once every
// receiver joined; {ev:"state", user, to, code, at} for every transition (at
// in epoch ms, the Go side's clock too); after a line {cmd:"finish", acked,
// waitMs} on stdin, {ev:"result", delivered: {user: {seqs, holes}}, stats}
// once every receiver has every acked seq (or waitMs passed).
import { createInterface } from "node:readline";
import { WebSocket } from "ws";
import { dial } from "../../client/js/wschat.js";
import { via } from "./via.mjs";

const cfg = JSON.parse(process.argv[2]);
const out = (v) => process.stdout.write(JSON.stringify(v) + "\n");
const users = Object.keys(cfg.proxies);
const clients = {};
const delivered = {};

await Promise.all(users.map(async (user) => {
  const opts = {
    WebSocket: via(WebSocket, cfg.proxies[user]),
    token: async () => cfg.tokens[user],
    backoffBase: 100,
    backoffMax: 2000,
    maxSendAttempts: 60,
    onState: (s) => out({ ev: "state", user, from: s.from, to: s.to, code: s.err ? s.err.code : "", at: s.at.getTime() }),
  };
  if (cfg.heartbeatIntervalMs > 0) opts.heartbeatInterval = cfg.heartbeatIntervalMs;
  if (cfg.heartbeatTimeoutMs > 0) opts.heartbeatTimeout = cfg.heartbeatTimeoutMs;
  const c = await dial(cfg.url, opts);
  clients[user] = c;
  const d = { seqs: [], holes: [] };
  delivered[user] = d;
  const sub = await c.join(cfg.channel, { from: 0 });
  sub.on((ev) => {
    if (ev.type === "message") d.seqs.push(ev.message.seq);
    else if (ev.type === "discontinuity") d.holes.push([ev.discontinuity.from, ev.discontinuity.to]);
  });
}));
out({ ev: "ready" });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line);
  if (cmd.cmd !== "finish") continue;
  const complete = () => users.every((u) => {
    const got = new Set(delivered[u].seqs);
    return cmd.acked.every((s) => got.has(s));
  });
  for (const until = Date.now() + cmd.waitMs; !complete() && Date.now() < until;) await sleep(100);
  const stats = Object.fromEntries(users.map((u) => [u, clients[u].stats()]));
  for (const c of Object.values(clients)) c.close();
  out({ ev: "result", delivered, stats });
  process.exit(0);
}
