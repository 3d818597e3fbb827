// Type declarations of wschat.js, checked by `tsc --noEmit -p client/js`
// against example.ts.

export declare const Subprotocol: "wschat.v1";
export declare const MaxTextRunes: 4000;
export declare const MaxFrameBytes: number;
/** The upgrade's query parameter naming the connection a reconnect replaces. */
export declare const ReplacesParameter: "replaces";

export declare const State: {
  readonly Connecting: "connecting";
  readonly Connected: "connected";
  readonly Reconnecting: "reconnecting";
  readonly Closed: "closed";
};
export type State = (typeof State)[keyof typeof State];

export interface StateChange {
  from: State;
  to: State;
  reason: string;
  err: WschatError | null;
  at: Date;
}

/** Stable codes of client-side errors; server error frames keep the server's code. */
export type ErrorCode =
  | "closed" | "not_joined" | "already_joined" | "outbox_full" | "text_too_long" | "invalid"
  | "token" | "unauthorized" | "send_failed" | "timeout" | "connection_lost" | "silent" | "dial" | "left" | "removed"
  | "invalid_json" | "unknown_action" | "invalid_field" | "too_large" | "not_member" | "rate_limited" | "internal"
  | "forbidden" | "token_expired" | "token_revoked" | "muted" | "banned" | "rejected" | "unavailable";

export declare class WschatError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, cause?: unknown);
}

export declare class ServerError extends WschatError {
  readonly action: string;
  readonly requestId: string;
  readonly server: true;
  readonly retryable: boolean;
}

/** Where the outbox and per-channel last seqs are kept. Values are JSON-serializable. */
export interface Store {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(key: string): void;
}

export declare class MemoryStore implements Store {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(key: string): void;
}

/** The subset of the Web Storage API the store uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export declare class LocalStorageStore implements Store {
  constructor(storage?: StorageLike, prefix?: string);
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(key: string): void;
}

/** A constructor with the WHATWG WebSocket shape: the browser's, or the ws package's in Node. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => unknown;

export interface Options {
  /** Returns the JWT for one connection attempt; called for every attempt. */
  token?: (() => string | Promise<string>) | null;
  tokenInQuery?: boolean;
  onState?: ((change: StateChange) => void) | null;
  /** Required where there is no global WebSocket (Node.js 20). */
  WebSocket?: WebSocketConstructor;
  /** Keep-alive: a ping when nothing was sent for this long. Milliseconds, like every duration here. Default 300000 (5 min). */
  pingInterval?: number;
  /** A probe after this long with nothing received (any frame counts); negative turns it off. Default 18000. */
  heartbeatInterval?: number;
  /** Nothing received within this long of a probe: the connection is silent and replaced. Default 8000. */
  heartbeatTimeout?: number;
  /** heartbeatInterval while the page is hidden (document.visibilityState). Default 300000 (5 min). */
  hiddenHeartbeatInterval?: number;
  /** Default 2 h minus 5 min. */
  maxLifetime?: number;
  ackTimeout?: number;
  dialTimeout?: number;
  backoffBase?: number;
  backoffMax?: number;
  outboxSize?: number;
  maxSendAttempts?: number;
  reorderWindow?: number;
  gapTimeout?: number;
  historyLimit?: number;
  store?: Store | null;
  /** Messages a subscription's model keeps (the oldest go first). Default 10000. */
  modelSize?: number;
  /** How long before its token's exp a connection renews in-band (reauth), at most a third of its remaining life. Default 120000. */
  renewBefore?: number;
}

/** A direct-message channel another user opened with this one (on("direct")). */
export interface Direct {
  channel: string;
  userId: string;
  userName: string;
  created: boolean;
}

export declare const MaxEmojiBytes: 32;
/** typing() sends at most this often (ms); an indicator lasts TypingExpiry (ms). */
export declare const TypingEvery: 3000;
/** The longest mute, in seconds (30 days). */
export declare const MaxMuteSeconds: number;
export declare const TypingExpiry: 6000;

export interface Reaction {
  emoji: string;
  count: number;
  /** You reacted with it (by user id: every device agrees). */
  mine: boolean;
}

/** A message in the state the frame carried; Subscription.message(seq) has the state folded from the whole stream. */
export interface Message {
  channel: string;
  seq: number;
  /** "server" for a message a backend published (userName is then its configured name); absent for a user's. */
  from?: "server";
  /** Who sent it: the user's token "sub", or "server". Tell senders apart by this, not by userName. */
  userId: string;
  userName: string;
  /** Empty once deleted. */
  text: string;
  clientId: string;
  sentAt: string;
  /** The parent of a reply; 0 otherwise. */
  replyTo: number;
  /** Orders states of one message: the seq of the last change applied, or seq. */
  rev: number;
  edited: boolean;
  editedAt?: string;
  deleted: boolean;
  reactions: Reaction[];
  replies: number;
}

export type UpdateAction = "edit" | "delete" | "react" | "unreact";

/** A change to message target, in the stream under its own seq, with the target's state after it. */
export interface Update {
  channel: string;
  seq: number;
  action: UpdateAction;
  target: number;
  userId: string;
  userName: string;
  emoji?: string;
  clientId?: string;
  at: string;
  state: Message;
}

export interface Typist {
  channel: string;
  userId: string;
  userName: string;
  /** Epoch milliseconds. */
  until: number;
}

export interface ReadReceipt {
  channel: string;
  userId: string;
  userName: string;
  seq: number;
}

export interface ChannelInfo {
  channel: string;
  lastSeq: number;
  lastRead: number;
  /** Messages above lastRead, not yours, not deleted; unreadMore: there are more. */
  unread: number;
  unreadMore: boolean;
  /** The last message, its text cut for a preview. */
  last: Message | null;
  /** A private channel or direct message whose member list names you (listed whether joined or not). */
  private: boolean;
  /** The other user of a direct message (the name as that user last opened it, its id until then). */
  peerId?: string;
  peerName?: string;
}

export interface ThreadPage {
  parent: Message | null;
  replies: Message[];
  more: boolean;
  next: number;
}

export interface Presence {
  channel: string;
  userId: string;
  userName: string;
  at: string;
}

export type ModerationOp = "mute" | "unmute" | "ban" | "unban" | "role";
export type Role = "member" | "moderator" | "owner";

/** A moderation action in the channel's stream, under its own seq: op applied to userId by byId. */
export interface Moderation {
  channel: string;
  seq: number;
  op: ModerationOp;
  userId: string;
  userName: string;
  byId: string;
  byName: string;
  /** "server" when a backend moderated. */
  from?: string;
  /** A mute's end (RFC 3339). */
  until?: string;
  role?: Role;
  reason?: string;
  clientId?: string;
  at: string;
}

export type Event =
  | { type: "message"; message: Message }
  | { type: "update"; update: Update }
  /** A mute, ban or role change; a ban of your own user then ends the subscription. */
  | { type: "moderation"; moderation: Moderation }
  /** A member typing (until ahead), or their indicator expired (until passed). */
  | { type: "typing"; typing: Typist }
  | { type: "read"; read: ReadReceipt }
  | { type: "joined" | "left"; presence: Presence }
  | { type: "discontinuity"; discontinuity: { from: number; to: number } };

export interface Member {
  userId: string;
  userName: string;
  joinedAt: string;
}

export interface MembersPage {
  members: Member[];
  next: string;
}

export interface PendingSend {
  channel: string;
  text: string;
  clientId: string;
  /** Set for a reply. */
  replyTo?: number;
}

export interface Stats {
  connects: number;
  reconnects: number;
  handovers: number;
  sendRetries: number;
  /** Pings sent: keep-alive and heartbeat probes. */
  pings: number;
  /** Connections the heartbeat found silent. */
  silent: number;
  /** In-band token renewals (reauth), which keep the connection. */
  renewals: number;
}

/** A JWT's exp in milliseconds, read without verifying; 0 when it has none. */
export declare function tokenExpiry(token: string): number;

/** The direct-message channel of users a and b, the same whichever is first. */
export declare function directChannel(a: string, b: string): Promise<string>;

export declare function dial(url: string, options?: Options): Promise<Client>;

export declare class Client {
  readonly state: State;
  readonly err: WschatError | null;
  join(channel: string, options?: { from?: number }): Promise<Subscription>;
  /** Open (on first use) and join the direct-message channel with userId. */
  openDirect(userId: string, options?: { from?: number }): Promise<Subscription>;
  send(channel: string, text: string): Promise<number>;
  /** Edit your message; resolves with the update's seq once acked. */
  edit(channel: string, seq: number, text: string): Promise<number>;
  /** Erase your message (a tombstone stays); 0 if already deleted. */
  delete(channel: string, seq: number): Promise<number>;
  /** One Unicode emoji or a :shortcode:; 0 when nothing changed. */
  react(channel: string, seq: number, emoji: string): Promise<number>;
  unreact(channel: string, seq: number, emoji: string): Promise<number>;
  /** A reply to message parent; resolves with its seq. */
  reply(channel: string, parent: number, text: string): Promise<number>;
  /** Owners and moderators: mute userId for seconds (1 to MaxMuteSeconds); resolves with the event's seq. */
  mute(channel: string, userId: string, seconds: number, reason?: string): Promise<number>;
  unmute(channel: string, userId: string): Promise<number>;
  /** Out of the channel at once; their joins fail with "banned" until unbanned. */
  ban(channel: string, userId: string, reason?: string): Promise<number>;
  unban(channel: string, userId: string): Promise<number>;
  /** Owners: make userId a member or moderator. */
  setRole(channel: string, userId: string, role: "member" | "moderator"): Promise<number>;
  /** Call on every keystroke: sends at most every TypingEvery ms per channel. */
  typing(channel: string): void;
  /** Your last-read seq, shared by all your devices; a lower seq costs nothing, concurrent calls are coalesced. */
  markRead(channel: string, seq: number): Promise<void>;
  channels(): Promise<ChannelInfo[]>;
  thread(channel: string, parent: number, after?: number): Promise<ThreadPage>;
  /** Your user id as the server knows it (after the first join). */
  readonly userId: string;
  members(channel: string, cursor?: string): Promise<MembersPage>;
  pending(): PendingSend[];
  on(event: "ack", fn: (entry: PendingSend, seq: number) => void): () => void;
  on(event: "failed", fn: (entry: PendingSend, err: WschatError) => void): () => void;
  on(event: "direct", fn: (direct: Direct) => void): () => void;
  stats(): Stats;
  /** Probe the connection at once (the network changed); replaced if nothing answers within heartbeatTimeout. */
  checkNow(): void;
  close(): void;
}

export declare class Subscription implements AsyncIterable<Event> {
  readonly channel: string;
  readonly last: number;
  readonly err: WschatError | null;
  on(fn: (event: Event) => void): () => void;
  leave(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<Event>;
  /** Message seq in its current state, as far as this subscription has seen it. */
  message(seq: number): Message | undefined;
  /** Every message seen, in its current state, in seq order. */
  messages(): Message[];
  /** Messages above lastRead that are not yours and not deleted. */
  unread(): number;
  readonly lastRead: number;
  /** Who is typing now (you excluded). */
  typing(): Typist[];
  /** Read receipts of other users: user id -> seq. */
  readBy(): Record<string, number>;
}

/** The folding rules of a subscription's message-state model. */
export declare class Model {
  constructor(limit?: number);
  me: string;
  lastRead: number;
  fold(event: Event): void;
  message(seq: number): Message | undefined;
  messages(): Message[];
  unread(): number;
  typing(now?: number): Typist[];
}

export declare class Sequencer {
  constructor(limit: number, last?: number | null);
  readonly last: number;
  readonly gap: boolean;
  offer(m: Message | { seq: number }, out: Event[], force: boolean): boolean;
  offerEvent(event: Event, out: Event[], force: boolean): boolean;
  settle(through: number, out: Event[]): void;
  discontinuity(oldest: number, out: Event[]): void;
}
