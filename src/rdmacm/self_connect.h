// A TCP connect to a port on our own address that nobody listens on can
// "succeed" by connecting the socket to itself: when the kernel gave the
// socket that very port as its own, the SYN meets itself (TCP simultaneous
// open, RFC 793 3.4). The CM retries a refused connect for a moment on new
// sockets with new ports, so one of them now and then drew the port it was
// calling; its REQ then came back to itself and nobody answered for 30 s.
#pragma once

namespace flexins::rdmacm {

// Whether connected TCP socket SOCK's peer is SOCK itself (same address
// and port at both ends): that is a refusal, not a peer.
bool connected_to_itself(int sock);

}  // namespace flexins::rdmacm
