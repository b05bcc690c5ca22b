# Build of the project's addon (tun_tap.node, Linux only: the TUN device, raw IP sockets):
# node-addon-api headers with C++ exceptions, built by the root package.json "install" script (node-gyp rebuild --directory=src/io/tun-tap).
{
  'targets': [
    {
      'target_name': 'tun_tap',
      'sources': ['tun_tap.cc', 'raw_socket.cc'],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': ['NAPI_VERSION=8', 'NAPI_CPP_EXCEPTIONS'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions'],
      'cflags_cc': ['-std=c++17', '-Wall', '-Wextra'],
    },
  ],
}
