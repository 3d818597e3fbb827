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
  | "token" | "unauthorized" | "send_failed" | "timeout" | "connection_lost" | "silent" | "dial" | "left"
  | "invalid_json" | "unknown_action" | "invalid_field" | "too_large" | "not_member" | "rate_limited" | "internal";

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
  /** Pings sent: keep-alive and heartbeat probes. */
  pings: number;
  /** Connections the heartbeat found silent. */
  silent: number;
}

export declare function dial(url: string, options?: Options): Promise<Client>;

export declare class Client {
  readonly state: State;
  readonly err: WschatError | null;
  join(channel: string, options?: { from?: number }): Promise<Subscription>;
  send(channel: string, text: string): Promise<number>;
  members(channel: string, cursor?: string): Promise<MembersPage>;
  pending(): PendingSend[];
  on(event: "ack", fn: (entry: PendingSend, seq: number) => void): () => void;
  on(event: "failed", fn: (entry: PendingSend, err: WschatError) => void): () => void;
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
}

export declare class Sequencer {
  constructor(limit: number, last?: number | null);
  readonly last: number;
  readonly gap: boolean;
  offer(m: Message | { seq: number }, out: Event[], force: boolean): boolean;
  settle(through: number, out: Event[]): void;
  discontinuity(oldest: number, out: Event[]): void;
}
