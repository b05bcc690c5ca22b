// The project's TUN addon: opens a Linux TUN device (IFF_TUN | IFF_NO_PI, non-blocking), reads up
// to 64 packets per event-loop wakeup into one reused buffer and hands them to JS in one call,
// writes one packet per write(2) (a TUN takes exactly one packet per call), and sets
// IP_TRANSPARENT / IPV6_TRANSPARENT on socket fds. Links, addresses and routes are left to ip(8).
// With offloads asked for, it opens the TUN with IFF_VNET_HDR, sets a 10-byte struct virtio_net_hdr
// (TUNSETVNETHDRSZ) and probes TUNSETOFFLOAD (checksum, TSO4/6, USO4/6): every packet read or
// written then starts with that header, and reads may be GRO'd super-packets of up to 64 KB. Any
// refusal falls back to a plain TUN, and JS is told what the kernel accepted.
#include <napi.h>
#include <uv.h>

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon.h"

namespace {

constexpr uint32_t kMaxBatch = 64;
constexpr uint32_t kMinSlot = 576;
constexpr uint32_t kMaxSlot = 65535;
// sizeof(struct virtio_net_hdr) (linux/virtio_net.h, which C++ cannot include: a field is named
// `class`): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset; no num_buffers.
constexpr int kVnetHdrLen = 10;
// The largest packet a TUN with TSO hands over: its GSO limit (GSO_LEGACY_MAX_SIZE), header apart.
constexpr uint32_t kMaxGsoPacket = 65536;
// With offloads, packets are packed one after another into a batch of this much room plus one
// largest read: 64 packets of up to 4 KiB, or at least 4 super-packets of 64 KiB, per wakeup.
constexpr size_t kPackedRoom = 256 * 1024;
// Not in older uapi headers (Linux 6.2+): UDP segmentation offload.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

class TunDevice : public PolledFd<TunDevice> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "TunDevice",
                       {
                           InstanceAccessor<&TunDevice::Fd>("fd"),
                           InstanceAccessor<&TunDevice::Name>("name"),
                           InstanceAccessor<&TunDevice::SlotSize>("slotSize"),
                           InstanceAccessor<&TunDevice::Oversize>("oversize"),
                           InstanceAccessor<&TunDevice::Offsets>("offsets"),
                           InstanceAccessor<&TunDevice::VnetHdrLen>("vnetHdrLen"),
                           InstanceAccessor<&TunDevice::OffloadFlags>("offloads"),
                           InstanceAccessor<&TunDevice::OffloadNote>("offloadNote"),
                           StartMethod(),
                           InstanceMethod<&TunDevice::Stop>("stop"),
                           HoldMethod(),
                           InstanceMethod<&TunDevice::Write>("write"),
                           InstanceMethod<&TunDevice::WriteBatch>("writeBatch"),
                           RefMethod(),
                           UnrefMethod(),
                           CloseMethod(),
                       });
  }

  // new TunDevice(devicePath, name, slotSize, multiQueue, offload)
  explicit TunDevice(const Napi::CallbackInfo& info) : PolledFd<TunDevice>(info) {
    Napi::Env env = info.Env();
    std::string path = info[0].As<Napi::String>();
    std::string name = info[1].As<Napi::String>();
    uint32_t slot = info[2].As<Napi::Number>().Uint32Value();
    bool multi_queue = info[3].ToBoolean();
    bool offload = info[4].ToBoolean();
    if (name.size() >= IFNAMSIZ) throw Napi::RangeError::New(env, "interface name longer than 15 bytes");
    if (slot < kMinSlot || slot > kMaxSlot) throw Napi::RangeError::New(env, "slot size out of range");
    int flags = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0);

    if (offload) {
      int err = OpenTun(path, name, flags | IFF_VNET_HDR);
      if (err == 0) err = SetUpOffloads();
      if (err != 0 && fd_ < 0 && err != EINVAL) throw OpenError(env, err, path, name);
      if (err != 0) {
        // Today's path: a plain TUN (closing the fd removes a non-persistent interface first).
        CloseFd();
        vnet_hdr_len_ = 0;
        offloads_ = 0;
      }
    }
    if (fd_ < 0) {
      int err = OpenTun(path, name, flags);
      if (err != 0) throw OpenError(env, err, path, name);
    }
    // Plain: fixed slots of `slot` bytes. Offloads: packets packed, each read given room for the largest.
    slot_size_ = vnet_hdr_len_ > 0 ? kMaxGsoPacket : slot;
    read_room_ = vnet_hdr_len_ + slot_size_ + 1;
    batch_bytes_ = vnet_hdr_len_ > 0 ? kPackedRoom + read_room_ : size_t{kMaxBatch} * slot_size_ + 1;
    batch_ = Napi::Persistent(Napi::Buffer<uint8_t>::New(env, batch_bytes_));
    lengths_ = Napi::Persistent(Napi::Uint32Array::New(env, kMaxBatch));
    offsets_ = Napi::Persistent(Napi::Uint32Array::New(env, kMaxBatch));
    InitPoll(env, "TunRead");
  }

 private:
  friend class PolledFd<TunDevice>;
  static constexpr const char* kClosedLabel = "tun";
  std::string PollLabel() const { return name_; }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }
  Napi::Value Name(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), name_); }
  Napi::Value SlotSize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), slot_size_); }
  Napi::Value Oversize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), oversize_); }
  Napi::Value Offsets(const Napi::CallbackInfo&) { return offsets_.Value(); }
  Napi::Value VnetHdrLen(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), vnet_hdr_len_); }
  Napi::Value OffloadFlags(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), offloads_); }
  Napi::Value OffloadNote(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), offload_note_); }

  // Opening. Each returns 0 or an errno, and leaves fd_ open only on success.

  Napi::Error OpenError(Napi::Env env, int err, const std::string& path, const std::string& name) {
    return fd_open_failed_ ? SystemError(env, err, "open", path) : SystemError(env, err, "ioctl", "TUNSETIFF " + name);
  }

  // open(2) the clone device and TUNSETIFF with `flags`.
  int OpenTun(const std::string& path, const std::string& name, int flags) {
    fd_open_failed_ = false;
    fd_ = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) {
      fd_open_failed_ = true;
      return errno;
    }
    struct ifreq ifr;
    std::memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = static_cast<short>(flags);
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd_, TUNSETIFF, &ifr) < 0) {
      int err = errno;
      if (flags & IFF_VNET_HDR) offload_note_ = std::string("TUNSETIFF with IFF_VNET_HDR: ") + std::strerror(err);
      CloseFd();
      return err;
    }
    name_ = ifr.ifr_name;
    return 0;
  }

  // The vnet header size and the offloads, most first: the kernel refuses (EINVAL) flags it lacks.
  int SetUpOffloads() {
    int hdr = kVnetHdrLen;
    if (ioctl(fd_, TUNSETVNETHDRSZ, &hdr) < 0) {
      int err = errno;
      offload_note_ = std::string("TUNSETVNETHDRSZ: ") + std::strerror(err);
      return err;
    }
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    // The header's fields are little-endian in JS (src/wire/virtio-net-hdr.ts), as virtio 1.0 has them.
    int le = 1;
    if (ioctl(fd_, TUNSETVNETLE, &le) < 0) {
      int err = errno;
      offload_note_ = std::string("TUNSETVNETLE: ") + std::strerror(err);
      return err;
    }
#endif
    const unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    for (unsigned want : {base | TUN_F_USO4 | TUN_F_USO6, base}) {
      if (ioctl(fd_, TUNSETOFFLOAD, want) == 0) {
        offloads_ = want;
        vnet_hdr_len_ = kVnetHdrLen;
        return 0;
      }
      if (errno != EINVAL) break;
    }
    int err = errno;
    offload_note_ = std::string("TUNSETOFFLOAD checksum+TSO4+TSO6: ") + std::strerror(err);
    return err;
  }

  // start(onBatch(data, lengths, count, offsets, drained), onError(err)) (PolledFd) starts or resumes
  // reading; stop() pauses it.
  void Stop(const Napi::CallbackInfo&) { StopPolling(); }

  // write(packet): true when written, false when the kernel said EAGAIN (retry later).
  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    auto pkt = info[0].As<Napi::Uint8Array>();
    int err = WriteOne(pkt.Data(), pkt.ByteLength());
    if (err == EAGAIN) return Napi::Boolean::New(env, false);
    if (err != 0) throw SystemError(env, err, "write", name_);
    return Napi::Boolean::New(env, true);
  }

  // writeBatch(packets[]): number written; stops early on EAGAIN. Other errors throw, with
  // `written` set to the number of packets written before the failing one.
  Napi::Value WriteBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    auto packets = info[0].As<Napi::Array>();
    uint32_t n = packets.Length();
    uint32_t i = 0;
    for (; i < n; i++) {
      auto pkt = packets.Get(i).As<Napi::Uint8Array>();
      int err = WriteOne(pkt.Data(), pkt.ByteLength());
      if (err == EAGAIN) break;
      if (err != 0) {
        Napi::Error e = SystemError(env, err, "write", name_);
        e.Set("written", Napi::Number::New(env, i));
        throw e;
      }
    }
    return Napi::Number::New(env, i);
  }

  // Readable: up to kMaxBatch packets into the batch buffer, handed to onBatch in one call.
  void OnReadable(Napi::Env env) {
    Napi::Buffer<uint8_t> data = batch_.Value();
    if (data.Length() != batch_bytes_) {
      // The JS side detached (transferred) the buffer: start a fresh one.
      data = Napi::Buffer<uint8_t>::New(env, batch_bytes_);
      batch_ = Napi::Persistent(data);
    }
    Napi::Uint32Array lengths = lengths_.Value();
    Napi::Uint32Array offsets = offsets_.Value();
    uint8_t* base = data.Data();
    uint32_t* lens = lengths.Data();
    uint32_t* offs = offsets.Data();
    const size_t hdr = vnet_hdr_len_;
    uint32_t count = 0;
    size_t off = 0;
    int err = 0;
    // The read ended on EAGAIN: the kernel's queue is empty (not the batch full).
    bool drained = false;
    while (count < kMaxBatch && off + read_room_ <= batch_bytes_) {
      // One byte more than the largest packet (it spills into the next slot, or the spare byte at
      // the end): the kernel truncates a packet to the buffer but returns its whole length, so a
      // read longer than the room means "did not fit".
      ssize_t r = read(fd_, base + off, read_room_);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN) err = errno;
        else drained = true;
        break;
      }
      if (static_cast<size_t>(r) >= read_room_ || static_cast<size_t>(r) < hdr) {
        oversize_++;
        continue;
      }
      offs[count] = static_cast<uint32_t>(off + hdr);
      lens[count++] = static_cast<uint32_t>(r - hdr);
      off += hdr > 0 ? static_cast<size_t>(r) : slot_size_;
    }
    if (count > 0) {
      try {
        on_data_.MakeCallback(
            Value(), {data, lengths, Napi::Number::New(env, count), offsets, Napi::Boolean::New(env, drained)},
            *async_);
      } catch (const Napi::Error& e) {
        ReportUncaught(env, e);
      }
    }
    if (err != 0 && fd_ >= 0) Fail(SystemError(env, err, "read", name_));
  }

  // Helpers.

  int WriteOne(const uint8_t* p, size_t len) {
    for (;;) {
      ssize_t r = ::write(fd_, p, len);
      if (r >= 0) return 0;
      if (errno == EINTR) continue;
      return errno == EWOULDBLOCK ? EAGAIN : errno;
    }
  }

  std::string name_;
  // Largest packet read, bytes one read may fill (header + packet + 1), and the batch buffer's size.
  size_t slot_size_ = 0;
  size_t read_room_ = 0;
  size_t batch_bytes_ = 0;
  // 0 without offloads; the TUN_F_* flags the kernel took, and why offloads are off if asked for.
  int vnet_hdr_len_ = 0;
  unsigned offloads_ = 0;
  std::string offload_note_;
  bool fd_open_failed_ = false;
  double oversize_ = 0;
  Napi::Reference<Napi::Buffer<uint8_t>> batch_;
  Napi::Reference<Napi::Uint32Array> lengths_;
  Napi::Reference<Napi::Uint32Array> offsets_;
};

int SocketFamily(Napi::Env env, int fd) {
  int domain = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) throw SystemError(env, errno, "getsockopt", "SO_DOMAIN");
  return domain == AF_INET6 ? 6 : 4;
}

// setTransparent(fd, family (4 | 6 | 0 = from the socket), on): IP_TRANSPARENT / IPV6_TRANSPARENT.
void SetTransparent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int family = info[1].As<Napi::Number>().Int32Value();
  int on = info[2].ToBoolean() ? 1 : 0;
  if (family == 0) family = SocketFamily(env, fd);
  int rc = family == 6 ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof on)
                       : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof on);
  if (rc < 0) throw SystemError(env, errno, "setsockopt", family == 6 ? "IPV6_TRANSPARENT" : "IP_TRANSPARENT");
}

// getTransparent(fd, family): the socket's current transparent flag (for checks and diagnostics).
Napi::Value GetTransparent(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int family = info[1].As<Napi::Number>().Int32Value();
  if (family == 0) family = SocketFamily(env, fd);
  int on = 0;
  socklen_t len = sizeof on;
  int rc = family == 6 ? getsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &on, &len)
                       : getsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, &len);
  if (rc < 0) throw SystemError(env, errno, "getsockopt", family == 6 ? "IPV6_TRANSPARENT" : "IP_TRANSPARENT");
  return Napi::Boolean::New(env, on != 0);
}

// sendLinkBroadcast(ifname, ipPacket): one IPv4 packet out of interface `ifname` to the link-layer
// broadcast address, through an AF_PACKET socket, exactly as given: a DHCP client without an
// address must send from 0.0.0.0 (RFC 2131 4.1), which a raw IP socket cannot (the kernel fills
// in a source address when the header's is zero). Returns the bytes sent.
Napi::Value SendLinkBroadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = info[0].As<Napi::String>().Utf8Value();
  auto pkt = info[1].As<Napi::Uint8Array>();
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
  if (fd < 0) throw SystemError(env, errno, "socket", "AF_PACKET");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
    int err = errno;
    close(fd);
    throw SystemError(env, err, "SIOCGIFINDEX", ifname);
  }
  int idx = ifr.ifr_ifindex;
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_IP);
  sll.sll_ifindex = idx;
  sll.sll_halen = 6;
  memset(sll.sll_addr, 0xff, 6);
  ssize_t n = sendto(fd, pkt.Data(), pkt.ByteLength(), 0, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll);
  int err = errno;
  close(fd);
  if (n < 0) throw SystemError(env, err, "sendto", ifname);
  return Napi::Number::New(env, static_cast<double>(n));
}

void InitFileLimit(Napi::Env env, Napi::Object exports);  // at the end of the file

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("TunDevice", TunDevice::Init(env));
  exports.Set("setTransparent", Napi::Function::New(env, SetTransparent, "setTransparent"));
  exports.Set("getTransparent", Napi::Function::New(env, GetTransparent, "getTransparent"));
  InitRawSocket(env, exports);
  exports.Set("sendLinkBroadcast", Napi::Function::New(env, SendLinkBroadcast, "sendLinkBroadcast"));
  exports.Set("maxBatch", Napi::Number::New(env, kMaxBatch));
  InitFileLimit(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tun_tap, Init)

// ---------------------------------------------------------------- the open-file limit
// Node has no setrlimit: the daemons raise their soft RLIMIT_NOFILE to the hard limit at start.
#include <sys/resource.h>

#include <cmath>

namespace {

// A limit as a JS number: RLIM_INFINITY is Infinity.
Napi::Value LimitValue(Napi::Env env, rlim_t v) {
  return Napi::Number::New(env, v == RLIM_INFINITY ? INFINITY : static_cast<double>(v));
}

// getFileLimit(): { soft, hard } of RLIMIT_NOFILE.
Napi::Value GetFileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) throw SystemError(env, errno, "getrlimit", "RLIMIT_NOFILE");
  Napi::Object o = Napi::Object::New(env);
  o.Set("soft", LimitValue(env, rl.rlim_cur));
  o.Set("hard", LimitValue(env, rl.rlim_max));
  return o;
}

// setFileLimit(soft): sets the soft RLIMIT_NOFILE (at most the hard limit), the hard one unchanged.
void SetFileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double soft = info[0].As<Napi::Number>().DoubleValue();
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) throw SystemError(env, errno, "getrlimit", "RLIMIT_NOFILE");
  rl.rlim_cur = std::isinf(soft) ? RLIM_INFINITY : static_cast<rlim_t>(soft);
  if (setrlimit(RLIMIT_NOFILE, &rl) < 0) throw SystemError(env, errno, "setrlimit", "RLIMIT_NOFILE");
}

void InitFileLimit(Napi::Env env, Napi::Object exports) {
  exports.Set("getFileLimit", Napi::Function::New(env, GetFileLimit, "getFileLimit"));
  exports.Set("setFileLimit", Napi::Function::New(env, SetFileLimit, "setFileLimit"));
}

}  // namespace
