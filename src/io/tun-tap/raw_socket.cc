// Raw IP sockets for the CPE (the uplink ICMP/ICMPv6 probes, the DHCP client's hand-built UDP):
// socket(AF_INET | AF_INET6, SOCK_RAW, protocol), non-blocking; setsockopt (SO_BINDTODEVICE,
// IP_HDRINCL, SO_BROADCAST, ...); one datagram per sendto(2); and reading through uv_poll (recvmsg),
// each datagram handed to JS as a fresh Buffer with its source address and, if asked for with
// IPV6_RECVHOPLIMIT or IP_RECVTTL, its hop limit (an IPv4 raw socket receives the IP header too, an
// IPv6 one does not: raw(7), ipv6(7)). Needs CAP_NET_RAW.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "addon.h"

namespace {

// Datagrams handed to JS per event-loop wakeup at most, so a flood cannot starve the loop.
constexpr int kMaxPerWakeup = 64;

class RawSocket : public PolledFd<RawSocket> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "RawSocket",
                       {
                           InstanceMethod<&RawSocket::SetOption>("setOption"),
                           InstanceMethod<&RawSocket::Send>("send"),
                           StartMethod(),
                           RefMethod(),
                           UnrefMethod(),
                           CloseMethod(),
                       });
  }

  // new RawSocket(family (4 | 6), protocol, bufferSize): the largest datagram received whole.
  explicit RawSocket(const Napi::CallbackInfo& info) : PolledFd<RawSocket>(info) {
    Napi::Env env = info.Env();
    int family = info[0].As<Napi::Number>().Int32Value();
    int protocol = info[1].As<Napi::Number>().Int32Value();
    uint32_t size = info[2].As<Napi::Number>().Uint32Value();
    if (family != 4 && family != 6) throw Napi::RangeError::New(env, "address family must be 4 or 6");
    if (size < 64 || size > 65535) throw Napi::RangeError::New(env, "buffer size outside 64..65535");
    family_ = family == 6 ? AF_INET6 : AF_INET;
    buffer_.resize(size);
    fd_ = socket(family_, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd_ < 0) throw SystemError(env, errno, "socket", "SOCK_RAW");
    InitPoll(env, "RawSocketRead");
  }

 private:
  friend class PolledFd<RawSocket>;
  static constexpr const char* kClosedLabel = "raw socket";
  std::string PollLabel() const { return "raw socket"; }

  // setOption(level, name, value): an int option, or a byte one (a Uint8Array, e.g. an interface
  // name for SO_BINDTODEVICE).
  void SetOption(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    int level = info[0].As<Napi::Number>().Int32Value();
    int name = info[1].As<Napi::Number>().Int32Value();
    int rc;
    if (info[2].IsTypedArray()) {
      auto bytes = info[2].As<Napi::Uint8Array>();
      rc = setsockopt(fd_, level, name, bytes.Data(), static_cast<socklen_t>(bytes.ByteLength()));
    } else {
      int v = info[2].As<Napi::Number>().Int32Value();
      rc = setsockopt(fd_, level, name, &v, sizeof v);
    }
    if (rc < 0) throw SystemError(env, errno, "setsockopt", std::to_string(level) + "/" + std::to_string(name));
  }

  // send(data, offset, length, address): one sendto(2); returns the bytes sent, throws on failure
  // (EAGAIN included: a raw socket's send queue full means the datagram is dropped).
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    auto data = info[0].As<Napi::Uint8Array>();
    size_t offset = info[1].As<Napi::Number>().Uint32Value();
    size_t length = info[2].As<Napi::Number>().Uint32Value();
    std::string address = info[3].As<Napi::String>().Utf8Value();
    if (offset > data.ByteLength() || length > data.ByteLength() - offset) {
      throw Napi::RangeError::New(env, "offset and length outside the buffer");
    }
    sockaddr_storage to{};
    int rc = family_ == AF_INET6 ? uv_ip6_addr(address.c_str(), 0, reinterpret_cast<sockaddr_in6*>(&to))
                                 : uv_ip4_addr(address.c_str(), 0, reinterpret_cast<sockaddr_in*>(&to));
    if (rc < 0) throw SystemError(env, -rc, "sendto", "bad address " + address);
    socklen_t to_len = family_ == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    ssize_t n;
    do {
      n = sendto(fd_, data.Data() + offset, length, 0, reinterpret_cast<sockaddr*>(&to), to_len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw SystemError(env, errno, "sendto", address);
    return Napi::Number::New(env, static_cast<double>(n));
  }

  // start(onMessage(buffer, source), onError(err)) is PolledFd's: a read error stops reading and
  // goes to onError; while reading, the socket keeps the process alive (unless unref()).

  // Readable: up to kMaxPerWakeup datagrams, each to onMessage with its source address and, when
  // the socket asked for it (IPV6_RECVHOPLIMIT, IP_RECVTTL), the hop limit it arrived with.
  void OnReadable(Napi::Env env) {
    for (int i = 0; i < kMaxPerWakeup && polling_ && fd_ >= 0; i++) {
      sockaddr_storage from{};
      iovec iov{buffer_.data(), buffer_.size()};
      alignas(cmsghdr) char control[64];
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = recvmsg(fd_, &msg, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) Fail(SystemError(env, errno, "recvmsg", "raw socket"));
        return;
      }
      char name[INET6_ADDRSTRLEN] = "";
      if (from.ss_family == AF_INET6) {
        uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&from), name, sizeof name);
      } else {
        uv_ip4_name(reinterpret_cast<sockaddr_in*>(&from), name, sizeof name);
      }
      int hops = -1;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT;
        bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL;
        if ((v6 || v4) && c->cmsg_len >= CMSG_LEN(sizeof(int))) std::memcpy(&hops, CMSG_DATA(c), sizeof hops);
      }
      Napi::Buffer<uint8_t> data = Napi::Buffer<uint8_t>::Copy(env, buffer_.data(), static_cast<size_t>(n));
      Napi::Value hop_limit = hops < 0 ? env.Undefined() : Napi::Number::New(env, hops);
      try {
        on_data_.MakeCallback(Value(), {data, Napi::String::New(env, name), hop_limit}, *async_);
      } catch (const Napi::Error& e) {
        ReportUncaught(env, e);
      }
    }
  }

  int family_ = AF_INET;
  std::vector<uint8_t> buffer_;
};

}  // namespace

void InitRawSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("RawSocket", RawSocket::Init(env));
}
