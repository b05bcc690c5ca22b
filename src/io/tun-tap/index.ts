// Typed wrapper of the project's TUN addon (tun_tap.node, built from tun_tap.cc at `npm ci`): opens
// a TUN interface, reads packets in batches of up to 64 per event-loop wakeup, writes one packet per
// write(2), sets IP_TRANSPARENT on listening sockets, and turns kernel errors into TunError with a
// message that says what to do. Links and addresses are configured with ip(8) (configureLink).
// With `offload: 'auto'` it asks the kernel for checksum and segmentation offloads (IFF_VNET_HDR):
// every packet then carries a struct virtio_net_hdr in front (src/wire/virtio-net-hdr.ts).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Server, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Most packets handed over per batch (per event-loop wakeup). */
export const MAX_BATCH = 64;

/**
 * errno name from the kernel (ENOENT, EBUSY, EINVAL, EIO, EBADF, ...), or EADDON when the addon is not
 * built. EPERM means "not privileged": TUNSETIFF refused, or the clone device could not be opened
 * (EACCES from open is reported as EPERM; the original error is the `cause`).
 */
export type TunErrorCode =
  | 'EPERM'
  | 'EACCES'
  | 'ENOENT'
  | 'ENODEV'
  | 'EBUSY'
  | 'EINVAL'
  | 'EIO'
  | 'EBADF'
  | 'ENOTSOCK'
  | 'EADDON'
  | `E${string}`;

export class TunError extends Error {
  override readonly name = 'TunError';
  readonly code: TunErrorCode;
  /** The failing call ("open", "ioctl", "write", "setsockopt", ...), when a system call failed. */
  readonly syscall: string | undefined;
  /** For writeBatch failures: packets written before the failing one. */
  readonly written: number | undefined;

  constructor(
    code: TunErrorCode,
    message: string,
    options: { syscall?: string; written?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.syscall = options.syscall;
    this.written = options.written;
  }
}

export interface TunOptions {
  /** Interface name, at most 15 bytes; "%d" lets the kernel number it. Default "tun%d". */
  name?: string;
  /** Largest packet read (the slot size); longer ones are dropped and counted in `oversize`.
   * Keep the link MTU at or below it. 576..65535, default 1500. */
  mtu?: number;
  /** IFF_MULTI_QUEUE: several fds (Tun objects, processes) can attach to one interface. */
  multiQueue?: boolean;
  /** The clone device. Default /dev/net/tun. */
  devicePath?: string;
  /**
   * 'auto': open with IFF_VNET_HDR and ask for TUN_F_CSUM, TSO4, TSO6 (and USO4/6 where the kernel
   * has them); if the kernel refuses any of the first three, the TUN falls back to the plain form
   * and `offloadNote` says why. 'off' (the default): the plain form. See `vnetHdrLen`.
   */
  offload?: 'auto' | 'off';
}

/** What TUNSETOFFLOAD accepted (all false without offloads). */
export interface TunOffloads {
  /** TUN_F_CSUM: packets may carry a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM), both ways. */
  readonly csum: boolean;
  /** TUN_F_TSO4 / TUN_F_TSO6: TCP super-segments up to 64 KB, both ways. */
  readonly tso4: boolean;
  readonly tso6: boolean;
  /** TUN_F_USO4 / TUN_F_USO6 (Linux 6.2+): UDP super-datagrams. */
  readonly uso4: boolean;
  readonly uso6: boolean;
}

const TUN_F = { csum: 0x01, tso4: 0x02, tso6: 0x04, uso4: 0x20, uso6: 0x40 } as const;

/**
 * One batch of read packets: packet i is `data.subarray(offsets[i], offsets[i] + lengths[i])`
 * (see Tun.packet), for i < count; without offloads offsets[i] is i * slotSize. With offloads its
 * virtio_net_hdr is the `vnetHdrLen` bytes before offsets[i]. `data`, `lengths` and `offsets` are
 * reused for the next batch as soon as the handler returns: copy what you keep
 * (e.g. Buffer.from(tun.packet(data, lengths, i))). `drained`: the last read found the kernel's
 * queue empty (false when the batch filled up first: more packets are waiting).
 */
export type BatchHandler = (
  data: Buffer,
  lengths: Uint32Array,
  count: number,
  offsets: Uint32Array,
  drained: boolean,
) => void;

export type TunErrorHandler = (err: TunError) => void;

export class Tun {
  /** The actual interface name (with "%d" replaced by the kernel). */
  readonly name: string;
  /** The TUN file descriptor (non-blocking, close-on-exec); -1 after close(). */
  get fd(): number {
    return this.#dev.fd;
  }
  /**
   * The largest packet read: the `mtu` option, or 65536 with offloads (a GRO'd super-packet).
   * Without offloads packets lie this far apart in a batch; with them they are packed (see offsets).
   */
  readonly slotSize: number;
  /**
   * Bytes of struct virtio_net_hdr in front of every packet read and every packet to write:
   * 10 with offloads, 0 without (then packets are plain IP packets, as without the option).
   */
  readonly vnetHdrLen: number;
  /** The offloads the kernel accepted. */
  readonly offloads: TunOffloads;
  /** Why offloads are off although 'auto' asked for them ('' otherwise). */
  readonly offloadNote: string;
  /** Where packet i of the current batch starts (the addon's array, the one handed to the handler). */
  readonly offsets: Uint32Array;

  readonly #dev: NativeTun;
  #onBatch: BatchHandler | undefined;
  #onError: TunErrorHandler | undefined;
  #reading = false;
  #closed = false;

  private constructor(dev: NativeTun) {
    this.#dev = dev;
    this.name = dev.name;
    this.slotSize = dev.slotSize;
    this.vnetHdrLen = dev.vnetHdrLen;
    const f = dev.offloads;
    this.offloads = {
      csum: (f & TUN_F.csum) !== 0,
      tso4: (f & TUN_F.tso4) !== 0,
      tso6: (f & TUN_F.tso6) !== 0,
      uso4: (f & TUN_F.uso4) !== 0,
      uso6: (f & TUN_F.uso6) !== 0,
    };
    this.offloadNote = dev.offloadNote;
    this.offsets = dev.offsets;
  }

  /**
   * Creates (or attaches to) a TUN interface, IFF_TUN | IFF_NO_PI (| IFF_VNET_HDR with offloads).
   * Needs CAP_NET_ADMIN. Throws TunError.
   */
  static open(options: TunOptions = {}): Tun {
    const name = options.name ?? 'tun%d';
    const mtu = options.mtu ?? 1500;
    const path = options.devicePath ?? '/dev/net/tun';
    if (Buffer.byteLength(name) > 15) {
      throw new TunError('EINVAL', `interface name "${name}" is longer than 15 bytes`);
    }
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
      throw new TunError('EINVAL', `TUN mtu ${mtu} is outside 576..65535`);
    }
    const addon = loadAddon();
    try {
      return new Tun(
        new addon.TunDevice(path, name, mtu, options.multiQueue === true, options.offload === 'auto'),
      );
    } catch (e) {
      throw toTunError(e, { path, name });
    }
  }

  /** Packets dropped because they were longer than `slotSize`. */
  get oversize(): number {
    return this.#dev.oversize;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** True between read()/resume() and pause()/close() or a read error. */
  get reading(): boolean {
    return this.#reading;
  }

  /**
   * Starts reading: `onBatch` is called once per event-loop wakeup with up to 64 packets. A read
   * error stops reading and goes to `onError`; without one it is thrown as an uncaught exception.
   * While reading, the TUN keeps the process alive unless unref() was called.
   */
  read(onBatch: BatchHandler, onError?: TunErrorHandler): this {
    this.#check();
    this.#onBatch = onBatch;
    this.#onError = onError;
    this.#start(onBatch);
    return this;
  }

  /** Stops reading (packets queue in the kernel, up to the interface's txqueuelen, then drop). */
  pause(): void {
    if (!this.#reading) return;
    this.#reading = false;
    this.#dev.stop();
  }

  /**
   * While reading, stops the device's polling for a moment (true) or restarts it (false), the
   * handlers kept: cheaper than pause()/resume() when done after every batch (the TUN driver's
   * read hold-off). Does nothing when not reading; pause() and resume() end a hold.
   */
  hold(on: boolean): void {
    if (this.#reading) this.#dev.hold(on);
  }

  /** Resumes reading with the handlers given to read(). */
  resume(): void {
    if (this.#reading || this.#onBatch === undefined) return;
    this.#check();
    this.#start(this.#onBatch);
  }

  #start(onBatch: BatchHandler): void {
    // Also when already reading: the addon then just takes the new handlers.
    this.#dev.start(onBatch, (e) => {
      this.#reading = false;
      const err = toTunError(e, { name: this.name });
      if (this.#onError === undefined) throw err;
      this.#onError(err);
    });
    this.#reading = true;
  }

  /** Packet i of a batch (without its virtio_net_hdr), as a view into `data` (valid only during the batch handler). */
  packet(data: Buffer, lengths: Uint32Array, i: number): Buffer {
    const start = this.offsets[i];
    return data.subarray(start, start + lengths[i]);
  }

  /** One line for a daemon's start-up log: what the offload probe found. */
  describeOffloads(): string {
    if (this.vnetHdrLen === 0) {
      return this.offloadNote
        ? `offloads off, fallback to one packet per write: ${this.offloadNote}`
        : 'offloads off';
    }
    const on = (Object.keys(TUN_F) as (keyof TunOffloads)[]).filter((k) => this.offloads[k]);
    return `offloads ${on.join(' ')} (virtio_net_hdr of ${this.vnetHdrLen} bytes)`;
  }

  /**
   * Writes one IPv4 or IPv6 packet (one write(2)); with offloads (vnetHdrLen > 0) it must start
   * with a virtio_net_hdr (all zero for an ordinary packet). Returns false if the kernel answered EAGAIN:
   * nothing was written, retry later (e.g. on setImmediate). A TUN rarely does this; it drops
   * rather than blocks. Other failures throw TunError (EIO: interface down, EINVAL: not an IP packet).
   */
  write(packet: Uint8Array): boolean {
    this.#check();
    try {
      return this.#dev.write(packet);
    } catch (e) {
      throw toTunError(e, { name: this.name });
    }
  }

  /**
   * Writes packets in order, one write(2) each. Returns how many were written: fewer than
   * packets.length means EAGAIN, retry the rest later. Other failures throw TunError whose
   * `written` property counts the packets written before the failing one.
   */
  writeBatch(packets: readonly Uint8Array[]): number {
    this.#check();
    try {
      return this.#dev.writeBatch(packets);
    } catch (e) {
      throw toTunError(e, { name: this.name });
    }
  }

  /** Lets the process exit even while reading (like socket.unref()). */
  unref(): this {
    this.#dev.unref();
    return this;
  }

  /** Undoes unref(): while reading, the TUN keeps the process alive (the default). */
  ref(): this {
    this.#dev.ref();
    return this;
  }

  /** Stops reading and closes the fd; the interface goes away unless another fd holds it. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reading = false;
    this.#onBatch = undefined;
    this.#onError = undefined;
    this.#dev.close();
  }

  #check(): void {
    if (this.#closed) throw new TunError('EBADF', `TUN ${this.name} is closed`);
  }
}

/** A socket, by fd or as a net.Server / net.Socket (listening or connected, so that it has an fd). */
export type SocketTarget = number | Server | Socket;

/**
 * Sets IP_TRANSPARENT (family 4) or IPV6_TRANSPARENT (family 6; default: the socket's own family),
 * so a listener accepts connections redirected to it by TPROXY for addresses that are not local.
 * Needs CAP_NET_ADMIN. A net.Server has an fd once it is listening: call it from the 'listening' event.
 */
export function setTransparent(target: SocketTarget, family?: 4 | 6, on = true): void {
  const fd = socketFd(target);
  try {
    loadAddon().setTransparent(fd, family ?? 0, on);
  } catch (e) {
    throw toTunError(e, {});
  }
}

/** Reads back IP_TRANSPARENT / IPV6_TRANSPARENT. */
export function getTransparent(target: SocketTarget, family?: 4 | 6): boolean {
  const fd = socketFd(target);
  try {
    return loadAddon().getTransparent(fd, family ?? 0);
  } catch (e) {
    throw toTunError(e, {});
  }
}

/**
 * Sends one IPv4 packet, exactly as given (its source may be 0.0.0.0), out of interface `ifname`
 * to the link-layer broadcast address (AF_PACKET): a DHCP client before it has an address
 * (RFC 2131 4.1). Needs CAP_NET_RAW. Returns the bytes sent.
 */
export function sendLinkBroadcast(ifname: string, packet: Uint8Array): number {
  try {
    return loadAddon().sendLinkBroadcast(ifname, packet);
  } catch (e) {
    throw toTunError(e, {});
  }
}

export interface LinkConfig {
  /** Link MTU; normally the Tun's slotSize. */
  mtu?: number;
  /** Addresses in CIDR form, IPv4 or IPv6 (IPv6 ones are added with nodad). */
  addresses?: readonly string[];
  /** Kernel queue towards the reader, in packets (default 500). */
  txQueueLen?: number;
  /** Bring the link up (default true). */
  up?: boolean;
}

/** Configures a link with ip(8) in the current network namespace: `ip link set ... mtu/up`, `ip addr add`. */
export function configureLink(name: string, config: LinkConfig): void {
  const link = ['link', 'set', 'dev', name];
  if (config.mtu !== undefined) link.push('mtu', String(config.mtu));
  if (config.txQueueLen !== undefined) link.push('txqueuelen', String(config.txQueueLen));
  if (config.up !== false) link.push('up');
  if (link.length > 4) ip(link);
  for (const cidr of config.addresses ?? []) {
    ip(
      cidr.includes(':')
        ? ['-6', 'addr', 'add', cidr, 'dev', name, 'nodad']
        : ['addr', 'add', cidr, 'dev', name],
    );
  }
}

function ip(args: string[]): void {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    const stderr = String((e as { stderr?: string }).stderr ?? '').trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || (e as Error).message}`, { cause: e });
  }
}

// The native addon.

/** raw_socket.cc's RawSocket; wrapped by RawSocket in ./raw-socket.ts. */
export interface NativeRawSocket {
  setOption(level: number, name: number, value: number | Uint8Array): void;
  send(data: Uint8Array, offset: number, length: number, address: string): number;
  start(
    onMessage: (data: Buffer, source: string, hopLimit: number | undefined) => void,
    onError: (err: Error) => void,
  ): void;
  ref(): void;
  unref(): void;
  close(): void;
}

interface NativeTun {
  readonly fd: number;
  readonly name: string;
  readonly slotSize: number;
  readonly oversize: number;
  readonly offsets: Uint32Array;
  readonly vnetHdrLen: number;
  readonly offloads: number;
  readonly offloadNote: string;
  start(onBatch: BatchHandler, onError: (err: unknown) => void): void;
  stop(): void;
  hold(on: boolean): void;
  write(packet: Uint8Array): boolean;
  writeBatch(packets: readonly Uint8Array[]): number;
  ref(): void;
  unref(): void;
  close(): void;
}

interface NativeAddon {
  TunDevice: new (
    path: string,
    name: string,
    slotSize: number,
    multiQueue: boolean,
    offload: boolean,
  ) => NativeTun;
  setTransparent(fd: number, family: number, on: boolean): void;
  getTransparent(fd: number, family: number): boolean;
  RawSocket: new (family: 4 | 6, protocol: number, bufferSize: number) => NativeRawSocket;
  sendLinkBroadcast(ifname: string, packet: Uint8Array): number;
  getFileLimit(): FileLimit;
  setFileLimit(soft: number): void;
}

const ADDON_FILE = 'tun_tap.node';
let addon: NativeAddon | undefined;

/**
 * Where the addon may be, in order: $HYBRID_ACCESS_TUN_ADDON; tun_tap.node beside the main script
 * (a single-file bundle); src/io/tun-tap/build/Release/ under the package root (the nearest folder
 * above this file with a package.json: works from src/ and from dist/src/).
 */
export function addonCandidates(): string[] {
  const env = process.env.HYBRID_ACCESS_TUN_ADDON;
  if (env) return [env];
  const out: string[] = [];
  if (process.argv[1]) out.push(join(dirname(process.argv[1]), ADDON_FILE));
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      out.push(join(dir, 'src', 'io', 'tun-tap', 'build', 'Release', ADDON_FILE));
      break;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return out;
}

/** The addon's exports (loaded once); throws TunError EADDON when it is not built. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const candidates = addonCandidates();
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    throw new TunError(
      'EADDON',
      `the TUN addon is not built (looked for ${candidates.join(', ')}): run \`npm ci\` or ` +
        '`npx node-gyp rebuild --directory=src/io/tun-tap` (needs g++ and make), or set HYBRID_ACCESS_TUN_ADDON',
    );
  }
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (e) {
    throw new TunError('EADDON', `cannot load the TUN addon ${path}: ${(e as Error).message}`, { cause: e });
  }
  return addon;
}

function socketFd(target: SocketTarget): number {
  const fd =
    typeof target === 'number' ? target : (target as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new TunError(
      'EBADF',
      'the socket has no file descriptor yet: call this once the server is listening',
    );
  }
  return fd;
}

interface SystemErrorLike {
  code?: string;
  syscall?: string;
  written?: number;
  message: string;
}

/** Turns an addon error into a TunError whose message says what to do. */
function toTunError(e: unknown, ctx: { path?: string; name?: string }): TunError {
  if (e instanceof TunError) return e;
  const err = e as SystemErrorLike;
  let code = (err.code ?? 'EINVAL') as TunErrorCode;
  const syscall = err.syscall;
  const iface = ctx.name ? `"${ctx.name}"` : 'the TUN interface';
  let hint = '';
  if (syscall === 'open') {
    if (code === 'ENOENT') {
      hint = `${ctx.path} does not exist: load the tun module (modprobe tun) or create the node (mkdir -p /dev/net && mknod ${ctx.path} c 10 200); in a container, pass the device in (--device /dev/net/tun)`;
    } else if (code === 'ENODEV' || code === 'ENXIO') {
      hint = 'this kernel has no TUN driver: load it with modprobe tun';
    } else if (code === 'EACCES' || code === 'EPERM') {
      // One code for "not privileged enough", whichever step refused.
      code = 'EPERM';
      hint = `this user may not use ${ctx.path}: run as root (e.g. sudo), or give the user access to it and CAP_NET_ADMIN`;
    }
  } else if (syscall === 'ioctl') {
    if (code === 'EPERM') {
      hint = `creating TUN interface ${iface} needs CAP_NET_ADMIN in this network namespace: run as root (e.g. sudo), or grant the capability (setcap cap_net_admin+ep on the node binary)`;
    } else if (code === 'EBUSY') {
      hint = `interface ${iface} exists and is busy (held by another process, or a multi-queue mismatch): choose another name or remove it (ip link del ${ctx.name})`;
    } else if (code === 'EINVAL') {
      hint = `interface ${iface} exists but is not a TUN device with these flags (a TAP? a multi-queue mismatch?): choose another name or remove it`;
    }
  } else if (syscall === 'setsockopt' && code === 'EPERM') {
    hint = 'IP_TRANSPARENT needs CAP_NET_ADMIN: run as root';
  } else if (syscall === 'write' && code === 'EIO') {
    hint = `interface ${iface} is down: ip link set dev ${ctx.name} up`;
  }
  const message = hint ? `${err.message}: ${hint}` : err.message;
  return new TunError(code, message, { syscall, written: err.written, cause: e });
}

/** RLIMIT_NOFILE: the open files a process may have (Infinity: unlimited). */
export interface FileLimit {
  soft: number;
  hard: number;
}

/** The process's open-file limit (getrlimit(RLIMIT_NOFILE)). */
export function getFileLimit(): FileLimit {
  try {
    return loadAddon().getFileLimit();
  } catch (e) {
    throw toTunError(e, {});
  }
}

/** Sets the soft open-file limit, at most the hard one (setrlimit(RLIMIT_NOFILE)). */
export function setFileLimit(soft: number): void {
  try {
    loadAddon().setFileLimit(soft);
  } catch (e) {
    throw toTunError(e, {});
  }
}
