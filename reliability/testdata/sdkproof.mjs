// The JavaScript half of the SDK proof (reliability/client_test.go): runs
// the client of client/js under Node.js with the ws package against the
// emulator while the Go test injects faults. Input: one JSON argument {url,
// proxies: {user: host:port}, tokens: {user: jwt}, heartbeatMs, senders:
// [user], receivers: [user], channels, perSender, maxLifetimeMs, waitMs};
// each user's connections go through its own hostile-network proxy.
// Output: one JSON line with what was acknowledged, what each subscription
// delivered (messages and updates) and each subscription's folded message
// states, for the Go test to check against history; progress goes to
// stderr. After each send a sender makes one change (edit or delete of its
// own message, reaction, unreaction or reply), as the Go proof's
// lifecycleStep does.
import { WebSocket } from "ws";
import { dial } from "../../client/js/wschat.js";
import { via } from "./via.mjs";

const cfg = JSON.parse(process.argv[2]);
const users = [...cfg.senders, ...cfg.receivers];
const clients = {};
const delivered = {}; // user -> channel -> {seqs, holes}
const subs = {}; // user -> channel -> Subscription

for (const user of users) {
  const c = await dial(cfg.url, {
    WebSocket: via(WebSocket, cfg.proxies[user]),
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
  subs[user] = {};
  for (const ch of cfg.channels) {
    const d = { seqs: [], holes: [] };
    delivered[user][ch] = d;
    const sub = await c.join(ch, { from: 0 });
    subs[user][ch] = sub;
    sub.on((ev) => {
      if (ev.type === "message") d.seqs.push(ev.message.seq);
      else if (ev.type === "update") d.seqs.push(ev.update.seq);
      else if (ev.type === "discontinuity") d.holes.push([ev.discontinuity.from, ev.discontinuity.to]);
    });
  }
}
process.stderr.write(`sdkproof: ${users.length} clients joined ${cfg.channels.length} channels\n`);

const acked = Object.fromEntries(cfg.channels.map((ch) => [ch, []]));
const seen = Object.fromEntries(cfg.channels.map((ch) => [ch, []]));
const life = { edits: 0, deletes: 0, reacts: 0, unreacts: 0, replies: 0, refused: 0, unchanged: 0 };
let failed = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const emoji = ["👍", "🎉", "❤️", ":eyes:"];

// change makes one lifecycle request after send k (see lifecycleStep in
// reliability/lifecycle_test.go) and returns [counter, promise of seq].
function change(c, user, own, rx, ch, k) {
  const pick = (xs) => xs[Math.floor(Math.random() * xs.length)];
  if (k % 7 === 6 && own[ch].length > 1) {
    const [target] = own[ch].splice(Math.floor(Math.random() * (own[ch].length - 1)), 1);
    return ["deletes", c.delete(ch, target)];
  }
  if (k % 3 === 1 && own[ch].length > 0) return ["edits", c.edit(ch, pick(own[ch]), `edited #${k}`)];
  if (k % 5 === 4 && rx[ch].length > 0) { const [t, e] = rx[ch].shift(); return ["unreacts", c.unreact(ch, t, e)]; }
  if (k % 4 === 3 && seen[ch].length > 0) return ["replies", c.reply(ch, pick(seen[ch]), `reply #${k}`)];
  if (seen[ch].length === 0) return [null, null];
  const t = pick(seen[ch]), e = pick(emoji);
  rx[ch].push([t, e]);
  return ["reacts", c.react(ch, t, e)];
}

await Promise.all(cfg.senders.map(async (user, i) => {
  const own = Object.fromEntries(cfg.channels.map((ch) => [ch, []]));
  const rx = Object.fromEntries(cfg.channels.map((ch) => [ch, []]));
  for (let k = 0; k < cfg.perSender; k++) {
    const ch = cfg.channels[(i + k) % cfg.channels.length];
    try {
      const seq = await clients[user].send(ch, `${user} #${k}`);
      acked[ch].push(seq);
      seen[ch].push(seq);
      own[ch].push(seq);
    } catch (e) {
      failed++;
      process.stderr.write(`sdkproof: ${user} send ${k}: ${e.code} ${e.message}\n`);
    }
    const [what, p] = change(clients[user], user, own, rx, ch, k);
    if (p) {
      try {
        const seq = await p;
        if (seq > 0) { acked[ch].push(seq); life[what]++; } else life.unchanged++;
      } catch (e) {
        // A refusal a concurrent change explains (a message deleted by its
        // author meanwhile) is counted; anything else is a failure.
        if (e.code === "invalid_field" || e.code === "too_large") life.refused++;
        else { failed++; process.stderr.write(`sdkproof: ${user} ${what} ${k}: ${e.code} ${e.message}\n`); }
      }
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
// Each subscription's folded states, in the Go check's terms.
const states = Object.fromEntries(users.map((u) => [u, Object.fromEntries(cfg.channels.map((ch) => [ch,
  subs[u][ch].messages().map((m) => ({
    seq: m.seq, text: m.text, deleted: m.deleted, replies: m.replies,
    reactions: m.reactions.filter((r) => r.count > 0).map((r) => ({ emoji: r.emoji, count: r.count, mine: r.mine })),
  }))]))]));
for (const c of Object.values(clients)) c.close();
process.stdout.write(JSON.stringify({ acked, failed, delivered, stats, life, states }) + "\n");
process.exit(0);
