// via returns a WebSocket class (the ws package's) whose connections go
// through a proxy at hostPort while the URL, and so the Host header, still
// names the server: the proxy is the network, not a server of its own.
import net from "node:net";

export function via(WebSocket, hostPort) {
  const i = hostPort.lastIndexOf(":");
  const host = hostPort.slice(0, i), port = Number(hostPort.slice(i + 1));
  return class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { createConnection: () => net.connect({ host, port }) });
    }
  };
}
