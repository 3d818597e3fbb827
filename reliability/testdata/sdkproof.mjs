// The JavaScript half of the SDK proof (reliability/client_test.go): runs
// the client of client/js under Node.js with the ws package against the
// emulator while the Go test injects faults. Input: one JSON argument
// {urls: {user: url}, tokens: {user: jwt}, heartbeatMs, senders: [user],
// receivers: [user], channels, perSender, maxLifetimeMs, waitMs}; each user's
// url goes through its own hostile-network proxy. Output: one JSON line with what was
// acknowledged and what each subscription delivered, for the Go test to
// check; progress goes to stderr.
import { WebSocket } from "ws";
import { dial } from "../../client/js/wschat.js";

const cfg = JSON.parse(process.argv[2]);
const users = [...cfg.senders, ...cfg.receivers];
const clients = {};
const delivered = {}; // user -> channel -> {seqs, holes}

for (const user of users) {
  const c = await dial(cfg.urls[user], {
    WebSocket,
    token: async () => cfg.tokens[user],
    maxLifetime: cfg.maxLifetimeMs,
    ackTimeout: 3000,
    backoffBase: 50,
    backoffMax: 1000,
    maxSendAttempts: 60,
    gapTimeout: 1000,
    pingInterval: 60000,
    heartbeatInterval: cfg.heartbeatMs,
    heartbeatTimeout: cfg.heartbeatMs,
  });
  clients[user] = c;
  delivered[user] = {};
  for (const ch of cfg.channels) {
    const d = { seqs: [], holes: [] };
    delivered[user][ch] = d;
    const sub = await c.join(ch, { from: 0 });
    sub.on((ev) => {
      if (ev.type === "message") d.seqs.push(ev.message.seq);
      else if (ev.type === "discontinuity") d.holes.push([ev.discontinuity.from, ev.discontinuity.to]);
    });
  }
}
process.stderr.write(`sdkproof: ${users.length} clients joined ${cfg.channels.length} channels\n`);

const acked = Object.fromEntries(cfg.channels.map((ch) => [ch, []]));
let failed = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await Promise.all(cfg.senders.map(async (user, i) => {
  for (let k = 0; k < cfg.perSender; k++) {
    const ch = cfg.channels[(i + k) % cfg.channels.length];
    try {
      acked[ch].push(await clients[user].send(ch, `${user} #${k}`));
    } catch (e) {
      failed++;
      process.stderr.write(`sdkproof: ${user} send ${k}: ${e.code} ${e.message}\n`);
    }
    await sleep(20);
  }
}));
process.stderr.write("sdkproof: sends done\n");

// Bounded wait until every subscription has every acknowledged seq.
const complete = () => users.every((u) => cfg.channels.every((ch) => {
  const got = new Set(delivered[u][ch].seqs);
  return acked[ch].every((s) => got.has(s));
}));
for (const until = Date.now() + cfg.waitMs; !complete() && Date.now() < until;) await sleep(100);

const stats = Object.fromEntries(users.map((u) => [u, clients[u].stats()]));
for (const c of Object.values(clients)) c.close();
process.stdout.write(JSON.stringify({ acked, failed, delivered, stats }) + "\n");
process.exit(0);
