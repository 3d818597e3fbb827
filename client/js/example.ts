// Usage example of wschat.js; `tsc --noEmit -p client/js` checks it against
// wschat.d.ts. It is the JavaScript quick start of docs/client.md.
import { dial, LocalStorageStore, MemoryStore, WschatError, type Event, type StateChange } from "./wschat.js";

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
    if (ev.type === "message") console.log(ev.message.seq, ev.message.userName, ev.message.text);
    else if (ev.type === "discontinuity") console.warn(`history lost: ${ev.discontinuity.from}..${ev.discontinuity.to}`);
    else console.log(ev.type, ev.presence.userName);
  });
  client.on("ack", (entry, seq) => console.log("sent after a reload:", entry.clientId, seq));
  try {
    const seq: number = await client.send("general", "hi");
    console.log("acked as", seq);
  } catch (e) {
    if (e instanceof WschatError && e.code === "outbox_full") console.warn("slow down");
  }
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
