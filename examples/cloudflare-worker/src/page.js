// A page that follows a tenant's change stream: each change with its
// trigger ids and payload, as the WebSocket delivers it.
const escape = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function page(tenant) {
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(tenant)} — entity-reactor catalog</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; max-width: 60rem; }
  pre { background: #f4f4f4; padding: .5rem; overflow-x: auto; margin: .25rem 0 1rem; }
  .t { font-weight: 600; } #status { color: #666; }
</style>
<h1>Catalog <code>${escape(tenant)}</code></h1>
<p id="status">connecting…</p>
<form id="create"><input name="name" placeholder="new system name" required> <button>Create system</button></form>
<div id="log"></div>
<script type="module">
  const base = location.pathname.replace(/\\/$/, "");
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  document.getElementById("create").onsubmit = async (e) => {
    e.preventDefault();
    const name = new FormData(e.target).get("name");
    const r = await fetch(base + "/systems", { method: "POST", body: JSON.stringify({ name }) });
    if (!r.ok) alert(JSON.stringify(await r.json()));
    e.target.reset();
  };
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + base + "/stream");
    const ping = setInterval(() => ws.readyState === 1 && ws.send("ping"), 30000);
    ws.onopen = () => (status.textContent = "live");
    ws.onclose = () => { clearInterval(ping); status.textContent = "reconnecting…"; setTimeout(connect, 2000); };
    ws.onmessage = ({ data }) => {
      if (data === "pong") return;
      const m = JSON.parse(data);
      if (m.type !== "change") return;
      const item = document.createElement("div");
      const head = document.createElement("div");
      head.className = "t";
      head.textContent = m.change.occurredAt + "  " + m.change.kind + " " + m.change.id + "  " + (m.triggers.join(", ") || "(no trigger)");
      const body = document.createElement("pre");
      body.textContent = JSON.stringify({ changedFields: m.change.changedFields, delta: m.change.delta, actor: m.change.actor, payload: m.payload }, null, 2);
      item.append(head, body);
      log.prepend(item);
    };
  }
  connect();
</script>
</html>
`;
}
