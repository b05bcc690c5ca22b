// Events for operators and home users (`events` in the config): on uplink down/up, HAG
// unreachable/back and quota warning/exhausted/reset, a JSON document is handed to a command
// (argv, no shell; the JSON on its stdin, the event's name in HYBRID_ACCESS_EVENT) and/or POSTed
// to an HTTP(S) webhook. Each target has its own bounded queue (when full the oldest waiting
// event is dropped, counted) and delivers one event at a time with bounded retries and
// exponential backoff; nothing waits for it (emit only queues), so the data path never blocks.
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import type { Logger } from 'pino';

export type EventName =
  | 'uplink-down'
  | 'uplink-up'
  | 'hag-unreachable'
  | 'hag-back'
  | 'quota-warning'
  | 'quota-exhausted'
  | 'quota-reset';

/** The JSON body: the event, when, which CPE, and the event's details. */
export interface HookEvent {
  event: EventName;
  time: string;
  host: string;
  uplink?: string;
  [detail: string]: unknown;
}

export interface EventsConfig {
  command: string[] | undefined;
  webhook: { url: string; headers: Record<string, string> } | undefined;
  /** How long a command or a webhook request may take (ms). */
  timeout: number;
  /** Further attempts after a failed delivery. */
  retries: number;
  /** Wait before the first retry (ms); doubled for each further one, at most 64 times. */
  backoff: number;
  /** Events waiting per target. */
  queue: number;
}

export interface SinkStats {
  sent: number;
  failed: number;
  dropped: number;
  retries: number;
  queued: number;
}

type Deliver = (body: string, event: EventName) => Promise<true | string>;

/** One target: its queue, one delivery at a time. */
class Sink {
  readonly stats: SinkStats = { sent: 0, failed: 0, dropped: 0, retries: 0, queued: 0 };
  private readonly waiting: { body: string; event: EventName }[] = [];
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly name: 'command' | 'webhook',
    private readonly deliver: Deliver,
    private readonly cfg: EventsConfig,
    private readonly log: Logger,
  ) {}

  push(body: string, event: EventName): void {
    if (this.closed) return;
    if (this.waiting.length >= this.cfg.queue) {
      const old = this.waiting.shift();
      this.stats.dropped++;
      this.log.warn(
        { event: 'event-dropped', sink: this.name, dropped: old?.event },
        `${this.name} event queue full: ${old?.event} dropped`,
      );
    }
    this.waiting.push({ body, event });
    this.stats.queued = this.waiting.length;
    if (!this.busy) void this.run();
  }

  private async run(): Promise<void> {
    this.busy = true;
    while (!this.closed && this.waiting.length > 0) {
      const next = this.waiting.shift() as { body: string; event: EventName };
      this.stats.queued = this.waiting.length;
      for (let attempt = 0; ; attempt++) {
        const r = await this.deliver(next.body, next.event).catch((e: Error) => e.message);
        if (r === true) {
          this.stats.sent++;
          break;
        }
        if (attempt >= this.cfg.retries || this.closed) {
          this.stats.failed++;
          this.log.warn(
            { event: 'event-failed', sink: this.name, failed: next.event, reason: r, attempts: attempt + 1 },
            `${this.name} could not deliver ${next.event}: ${r}`,
          );
          break;
        }
        this.stats.retries++;
        this.log.debug({ event: 'event-retry', sink: this.name, reason: r }, `${this.name}: ${r}; retrying`);
        await new Promise<void>((resolve) => {
          this.timer = setTimeout(resolve, this.cfg.backoff * 2 ** Math.min(attempt, 6));
          this.timer.unref();
        });
        this.timer = undefined;
      }
    }
    this.busy = false;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

/** Runs `argv` with `body` on its stdin; true when it exited with status 0. */
function runCommand(argv: string[], timeout: number): Deliver {
  return (body, event) =>
    new Promise((resolve) => {
      const child = spawn(argv[0], argv.slice(1), {
        stdio: ['pipe', 'ignore', 'pipe'],
        env: { ...process.env, HYBRID_ACCESS_EVENT: event },
        timeout,
      });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        if (err.length < 500) err += d;
      });
      child.stdin.on('error', () => {}); // a command that does not read its stdin
      child.stdin.end(body);
      child.on('error', (e) => resolve(e.message));
      child.on('close', (code, signal) =>
        resolve(
          code === 0
            ? true
            : `${argv[0]} ${signal ? `killed by ${signal}` : `exited ${code}`}${err ? `: ${err.trim()}` : ''}`,
        ),
      );
    });
}

/** POSTs `body` to the webhook; true on a 2xx answer. */
function postWebhook(w: NonNullable<EventsConfig['webhook']>, timeout: number): Deliver {
  return async (body) => {
    const res = await fetch(w.url, {
      method: 'POST',
      headers: { ...w.headers, 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeout),
    });
    await res.arrayBuffer().catch(() => undefined);
    return res.ok ? true : `HTTP ${res.status}`;
  };
}

export class EventHook {
  readonly sinks: Sink[] = [];
  private readonly host = hostname();

  constructor(cfg: EventsConfig, log: Logger) {
    if (cfg.command?.length)
      this.sinks.push(new Sink('command', runCommand(cfg.command, cfg.timeout), cfg, log));
    if (cfg.webhook) this.sinks.push(new Sink('webhook', postWebhook(cfg.webhook, cfg.timeout), cfg, log));
  }

  /** Queues an event for every target; returns at once. */
  emit(event: EventName, details: Record<string, unknown> = {}): void {
    if (this.sinks.length === 0) return;
    const body = JSON.stringify({ event, time: new Date().toISOString(), host: this.host, ...details });
    for (const s of this.sinks) s.push(body, event);
  }

  /** Per target: sent, failed, dropped, retries, queued. */
  stats(): Record<string, SinkStats> {
    return Object.fromEntries(this.sinks.map((s) => [s.name, { ...s.stats }]));
  }

  close(): void {
    for (const s of this.sinks) s.close();
  }
}
