// A server-sent-events hub: every connected client gets every published
// event. Each event has an increasing id; the last 1,000 are kept so that a
// client reconnecting with Last-Event-ID (or ?since=<id>) misses nothing.
const KEEP = 1000;
const HEARTBEAT_MS = 15_000;

export function createSseHub() {
  const clients = new Set();
  const recent = [];
  let seq = 0;
  const frame = (e) => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(": ping\n\n");
  }, HEARTBEAT_MS);
  heartbeat.unref();

  return {
    get clients() {
      return clients.size;
    },
    publish(type, data) {
      const event = { id: ++seq, type, data };
      recent.push(event);
      if (recent.length > KEEP) recent.shift();
      const text = frame(event);
      for (const res of clients) res.write(text);
    },
    /** Serves GET /events. */
    attach(req, res, url) {
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      res.write("retry: 2000\n: connected\n\n");
      const since = Number(req.headers["last-event-id"] ?? url.searchParams.get("since") ?? NaN);
      if (Number.isFinite(since)) for (const e of recent) if (e.id > since) res.write(frame(e));
      clients.add(res);
      req.on("close", () => clients.delete(res));
    },
    close() {
      clearInterval(heartbeat);
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}
