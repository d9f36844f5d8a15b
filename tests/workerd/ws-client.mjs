// A minimal WebSocket client for the tests (Node 20 has no global
// WebSocket without --experimental-websocket): text frames, ping/pong and
// close, RFC 6455 client masking. Not for production use.
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

function frame(opcode, payload) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8");
  const mask = randomBytes(4);
  let head;
  if (data.length < 126) head = Buffer.from([0x80 | opcode, 0x80 | data.length]);
  else if (data.length < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(data.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(data.length), 2);
  }
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, masked]);
}

/**
 * Connects to ws://host:port/path. Resolves once the server accepted the
 * upgrade, to { messages (text frames received, in order), next(predicate,
 * timeoutMs), send(text), close(), closed }.
 */
export function connectWebSocket(url, { timeoutMs = 10_000 } = {}) {
  const { hostname, port, pathname, search } = new URL(url);
  const key = randomBytes(16).toString("base64");
  const accept = createHash("sha1")
    .update(key + GUID)
    .digest("base64");
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const messages = [];
    const waiters = [];
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    let fragments = [];
    let closedResolve;
    const closed = new Promise((r) => (closedResolve = r));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`WebSocket ${url}: no upgrade within ${timeoutMs} ms`));
    }, timeoutMs);

    const deliver = (text) => {
      messages.push(text);
      for (const w of [...waiters]) w.check();
    };

    const client = {
      messages,
      closed,
      send: (text) => socket.write(frame(0x1, text)),
      close: () => {
        try {
          socket.write(frame(0x8, Buffer.from([0x03, 0xe8])));
        } catch {}
        socket.end();
        return closed;
      },
      /** Resolves to the first message (from index `from`) for which predicate(parsed JSON or text) holds. */
      next(predicate = () => true, wait = 10_000, from = 0) {
        return new Promise((res, rej) => {
          const waiter = {
            check() {
              for (let i = from; i < messages.length; i++) {
                let value = messages[i];
                try {
                  value = JSON.parse(value);
                } catch {}
                if (predicate(value)) {
                  clearTimeout(waiter.timer);
                  waiters.splice(waiters.indexOf(waiter), 1);
                  res(value);
                  return;
                }
              }
            },
          };
          waiter.timer = setTimeout(() => {
            waiters.splice(waiters.indexOf(waiter), 1);
            rej(
              new Error(
                `WebSocket ${url}: no matching message within ${wait} ms; got ${messages.length}: ${messages.slice(-5).join(" | ")}`,
              ),
            );
          }, wait);
          waiters.push(waiter);
          waiter.check();
        });
      },
    };

    socket.on("connect", () => {
      socket.write(
        `GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      if (!upgraded) reject(e);
      closedResolve();
    });
    socket.on("close", () => closedResolve());
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString("latin1");
        buffer = buffer.subarray(end + 4);
        clearTimeout(timer);
        if (
          !/^HTTP\/1\.1 101/.test(head) ||
          !head.toLowerCase().includes(`sec-websocket-accept: ${accept.toLowerCase()}`)
        ) {
          socket.destroy();
          reject(new Error(`WebSocket ${url}: upgrade refused:\n${head}\n${buffer.toString("utf8")}`));
          return;
        }
        upgraded = true;
        resolve(client);
      }
      for (;;) {
        if (buffer.length < 2) return;
        const fin = (buffer[0] & 0x80) !== 0;
        const opcode = buffer[0] & 0x0f;
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        const payload = buffer.subarray(offset, offset + length);
        buffer = buffer.subarray(offset + length);
        if (opcode === 0x9) socket.write(frame(0xa, payload));
        else if (opcode === 0x8) {
          socket.end();
        } else if (opcode === 0x1 || opcode === 0x0) {
          fragments.push(payload);
          if (fin) {
            deliver(Buffer.concat(fragments).toString("utf8"));
            fragments = [];
          }
        }
      }
    });
  });
}
