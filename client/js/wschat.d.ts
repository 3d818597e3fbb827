// Type declarations of wschat.js, checked by `tsc --noEmit -p client/js`
// against example.ts.

export declare const Subprotocol: "wschat.v1";
export declare const MaxTextRunes: 4000;
export declare const MaxFrameBytes: number;

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
  | "token" | "unauthorized" | "send_failed" | "timeout" | "connection_lost" | "dial" | "left" | "removed"
  | "invalid_json" | "unknown_action" | "invalid_field" | "too_large" | "not_member" | "rate_limited" | "internal"
  | "forbidden" | "token_expired" | "token_revoked";

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
  /** Milliseconds, like every duration here. Default 300000 (5 min). */
  pingInterval?: number;
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

export interface Message {
  channel: string;
  seq: number;
  userId: string;
  userName: string;
  text: string;
  clientId: string;
  sentAt: string;
}

export interface Presence {
  channel: string;
  userId: string;
  userName: string;
  at: string;
}

export type Event =
  | { type: "message"; message: Message }
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
}

export interface Stats {
  connects: number;
  reconnects: number;
  handovers: number;
  sendRetries: number;
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
  members(channel: string, cursor?: string): Promise<MembersPage>;
  pending(): PendingSend[];
  on(event: "ack", fn: (entry: PendingSend, seq: number) => void): () => void;
  on(event: "failed", fn: (entry: PendingSend, err: WschatError) => void): () => void;
  on(event: "direct", fn: (direct: Direct) => void): () => void;
  stats(): Stats;
  close(): void;
}

export declare class Subscription implements AsyncIterable<Event> {
  readonly channel: string;
  readonly last: number;
  readonly err: WschatError | null;
  on(fn: (event: Event) => void): () => void;
  leave(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<Event>;
}

export declare class Sequencer {
  constructor(limit: number, last?: number | null);
  readonly last: number;
  readonly gap: boolean;
  offer(m: Message | { seq: number }, out: Event[], force: boolean): boolean;
  settle(through: number, out: Event[]): void;
  discontinuity(oldest: number, out: Event[]): void;
}
