// Usage example of wschat.js; `tsc --noEmit -p client/js` checks it against
// wschat.d.ts. It is the JavaScript quick start of docs/client.md.
import { dial, LocalStorageStore, MemoryStore, WschatError, type Event, type StateChange, type Message, type Reaction,
  type ChannelInfo, type ThreadPage } from "./wschat.js";

declare const getIdToken: () => Promise<string>;
declare const localStorage: { getItem(k: string): string | null; setItem(k: string, v: string): void; removeItem(k: string): void };

export async function main(url: string, inBrowser: boolean): Promise<void> {
  const client = await dial(url, {
    token: getIdToken,
    store: inBrowser ? new LocalStorageStore(localStorage) : new MemoryStore(),
    onState: (s: StateChange) => console.log(`${s.from} -> ${s.to}: ${s.reason}`),
  });
  const sub = await client.join("general");
  sub.on((ev: Event) => {
    if (ev.type === "message") console.log(ev.message.seq, ev.message.userName, ev.message.text, ev.message.replyTo || "");
    else if (ev.type === "update") console.log(`${ev.update.userName} ${ev.update.action} #${ev.update.target}:`, ev.update.state.text);
    else if (ev.type === "typing") console.log(`${ev.typing.userName} is typing`);
    else if (ev.type === "read") console.log(`${ev.read.userName} read up to ${ev.read.seq}`);
    else if (ev.type === "discontinuity") console.warn(`history lost: ${ev.discontinuity.from}..${ev.discontinuity.to}`);
    else if (ev.type === "moderation") console.log(`${ev.moderation.byName}: ${ev.moderation.op} ${ev.moderation.userName}`, ev.moderation.until || "");
    else console.log(ev.type, ev.presence.userName);
  });
  client.on("ack", (entry, seq) => console.log("sent after a reload:", entry.clientId, seq));
  try {
    const seq: number = await client.send("general", "hi");
    console.log("acked as", seq);
  } catch (e) {
    if (e instanceof WschatError && e.code === "outbox_full") console.warn("slow down");
  }
  // The lifecycle: the subscription's model folds every change.
  const first = sub.messages()[0];
  if (first && first.userId === client.userId && !first.deleted) {
    await client.edit("general", first.seq, first.text + " (edited)");
    await client.react("general", first.seq, "👍");
    const replySeq: number = await client.reply("general", first.seq, "a reply");
    const thread: ThreadPage = await client.thread("general", first.seq);
    console.log(replySeq, thread.replies.length, thread.parent?.replies);
    const now: Message | undefined = sub.message(first.seq);
    console.log(now?.text, now?.edited, now?.reactions.map((r: Reaction) => `${r.emoji}${r.count}${r.mine ? "*" : ""}`));
    await client.delete("general", first.seq);
  }
  client.typing("general"); // on every keystroke; it throttles itself
  console.log(sub.typing().map((t) => t.userName), sub.readBy());
  await client.markRead("general", sub.last);
  const list: ChannelInfo[] = await client.channels();
  for (const c of list) console.log(c.channel, c.unread + (c.unreadMore ? "+" : ""), c.last?.text ?? "");
  console.log("unread here:", sub.unread(), "read up to", sub.lastRead);
  const page = await client.members("general");
  console.log(page.members.map((m) => m.userName), page.next);
  // Direct messages: open one with bob, hear of those others open with us.
  client.on("direct", (d) => console.log(`${d.userName} opened ${d.channel}`));
  const dm = await client.openDirect("bob");
  dm.on((ev: Event) => { if (ev.type === "message") console.log("from bob:", ev.message.text); });
  console.log("renewed in-band", client.stats().renewals, "times");
  for await (const ev of sub) if (ev.type === "message") break;
  await sub.leave();
  client.close();
}
