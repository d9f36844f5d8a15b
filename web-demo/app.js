// The catalog demo page. It is a host application of entity-reactor: it owns
// its data (IndexedDB), routes every write through the engine and renders
// what the engine hands back. Diffing, validation, masking, transition rows
// and trigger derivation all happen inside the package (WebAssembly); this
// file only moves data between the form, IndexedDB and the package.
import { createEngine, EntityReactorError, ErrorCode } from "entity-reactor";
import {
  CATALOG_GROUP_ENTITY_KIND,
  CATALOG_SYSTEM_ENTITY_KIND,
  createCatalogActions,
  registerCatalogEntities,
  removeCatalogEntity,
  toCatalogGroupState,
  toCatalogSystemState,
  writeCatalogGroupEntity,
  writeCatalogSystemEntity,
} from "entity-reactor/catalog";
import { createIndexedDbTransitionStore } from "entity-reactor/stores/indexeddb";

const HOST_DB = "entity-reactor-demo"; // the host's own tables: systems, groups
const LOG_DB = "entity-reactor-demo-log"; // the transition log (the adapter's database)
const CHANNEL = "entity-reactor-demo";
const STREAM_LIMIT = 100;
const tabId = crypto.randomUUID().slice(0, 4);
const ACTOR = { type: "user", id: "demo-user", name: `Demo user (tab ${tabId})` };

const $ = (selector, root = document) => root.querySelector(selector);

// ------------------------------------------------------------ host storage

function openHostDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(HOST_DB, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const name of ["systems", "groups"])
        if (!db.objectStoreNames.contains(name)) db.createObjectStore(name, { keyPath: "id" });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

let hostDb;

/**
 * Runs fn(objectStore) in one IndexedDB transaction and resolves once it has
 * committed, with the result of the request fn returned (or of the function).
 */
function hostTx(storeName, mode, fn) {
  return new Promise((resolve, reject) => {
    const tx = hostDb.transaction(storeName, mode);
    const out = fn(tx.objectStore(storeName));
    tx.oncomplete = () => resolve(out instanceof IDBRequest ? out.result : typeof out === "function" ? out() : out);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

const getRow = (storeName, id) => hostTx(storeName, "readonly", (s) => s.get(id)).then((row) => row ?? null);
const putRow = (storeName, row) => hostTx(storeName, "readwrite", (s) => s.put(row));
const deleteRow = (storeName, id) => hostTx(storeName, "readwrite", (s) => s.delete(id));
const allRows = (storeName) => hostTx(storeName, "readonly", (s) => s.getAll());
const getRows = (storeName, ids) =>
  hostTx(storeName, "readonly", (s) => {
    const requests = ids.map((id) => s.get(id));
    return () => requests.map((r) => r.result).filter(Boolean);
  });

/** The engine's batched read: the rows that exist, projected to entity state by the package. */
function readerFor(storeName, project) {
  return async (ids) => {
    const out = {};
    for (const row of await getRows(storeName, ids)) out[row.id] = project(row);
    return out;
  };
}

// ------------------------------------------------------------ engine

let engine;
let systemEntity;
let groupEntity;
let updateMetadataAction;
let channel;

const KIND = {
  system: { entityKind: CATALOG_SYSTEM_ENTITY_KIND, store: "systems", label: "system" },
  group: { entityKind: CATALOG_GROUP_ENTITY_KIND, store: "groups", label: "group" },
};
const handleFor = (kind) => (kind === "system" ? systemEntity : groupEntity);
const kindOfEntity = (entityKind) => (entityKind === CATALOG_SYSTEM_ENTITY_KIND ? "system" : "group");

async function start() {
  hostDb = await openHostDb();
  hostDb.onversionchange = () => hostDb.close();
  const transitions = createIndexedDbTransitionStore({ dbName: LOG_DB });
  engine = await createEngine({ transitions, emit: onLocalChange });
  ({ systemEntity, groupEntity } = registerCatalogEntities(engine, {
    readSystems: readerFor("systems", toCatalogSystemState),
    readGroups: readerFor("groups", toCatalogGroupState),
  }));
  [updateMetadataAction] = createCatalogActions({
    entityService: {
      getSystem: (id) => getRow("systems", id),
      updateSystem: async (id, { metadata }) => {
        const row = await getRow("systems", id);
        if (!row) return null;
        const updated = { ...row, metadata, updatedAt: new Date().toISOString() };
        await putRow("systems", updated);
        return updated;
      },
    },
    getSystemEntity: () => systemEntity,
  });

  // Other tabs of this page: they wrote the host rows and the transition rows
  // already; this tab only shows their event and re-reads IndexedDB.
  channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = ({ data }) => {
    if (data?.type !== "entity-changed" || data.from === tabId) return;
    showChange(data.event, data.from);
    track(refresh());
  };

  wireForms();
  await refresh();
  setStatus(`engine ready · tab ${tabId} · live with other tabs`, "ok");
  document.body.dataset.ready = "true";
}

/** The engine's outbound emitter: every change this tab makes. */
function onLocalChange(event) {
  showChange(event, null);
  for (const sink of captures) sink.push(event);
  // toJSON(): the event as a plain (structured-cloneable) object for the other tabs.
  channel?.postMessage({ type: "entity-changed", from: tabId, event: event.toJSON() });
}

// ------------------------------------------------------------ writes

const isEntityError = (e) => e instanceof EntityReactorError;

function describeError(e) {
  if (isEntityError(e)) return `${e.code}: ${e.message}`;
  return e?.message ?? String(e);
}

/** Parses the metadata box; a syntax error is the user's, reported as such. */
function parseMetadata(text) {
  const source = text.trim() === "" ? "{}" : text;
  try {
    return { value: JSON.parse(source) };
  } catch (e) {
    return { error: `Metadata is not valid JSON: ${e.message}` };
  }
}

// The catalog schemas (SPEC §8, like the reference's z.string()) accept an
// empty name, so the engine would store one. An entry nobody can pick from a
// list is a UI mistake, so the page refuses a blank name before writing.
function checkName(name) {
  return name.trim() === "" ? "Name is required: enter a name for it." : null;
}

/**
 * `apply` writes the host row before the engine validates the state (the
 * order of SPEC §5). If the engine then rejects it (e.g. metadata that is not
 * an object → ER_SCHEMA), nothing was logged or emitted, and the host puts its
 * previous row back, so an invalid edit changes nothing. (ER_STORE — the log
 * append failed after a valid write — leaves the write standing, as specified.)
 */
async function guardedWrite(storeName, id, write) {
  const before = await getRow(storeName, id);
  let applied = false;
  try {
    await write(() => (applied = true));
  } catch (e) {
    if (applied && !(isEntityError(e) && e.code === ErrorCode.ER_STORE)) {
      if (before) await putRow(storeName, before);
      else await deleteRow(storeName, id);
    }
    throw e;
  }
}

function newId(prefix) {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

async function saveEntity(kind, id, { name, description, metadata }) {
  const { store } = KIND[kind];
  await guardedWrite(store, id, async (markApplied) => {
    const apply = async () => {
      const existing = await getRow(store, id);
      const row = {
        ...(existing ?? { id, createdAt: new Date().toISOString() }),
        name,
        metadata,
        updatedAt: new Date().toISOString(),
      };
      if (kind === "system") row.description = description;
      markApplied();
      await putRow(store, row);
      return kind === "system" ? toCatalogSystemState(row) : toCatalogGroupState(row);
    };
    const opts = { actor: ACTOR };
    if (kind === "system") await writeCatalogSystemEntity({ handle: systemEntity, systemId: id, opts, apply });
    else await writeCatalogGroupEntity({ handle: groupEntity, groupId: id, opts, apply });
  });
}

async function deleteEntity(kind, id) {
  const { store } = KIND[kind];
  await removeCatalogEntity({ handle: handleFor(kind), id, opts: { actor: ACTOR }, apply: () => deleteRow(store, id) });
}

/** Reads a form into { name, description, metadata } or an error message. */
function readEntityForm(form, kind) {
  const name = form.elements.name.value;
  const nameError = checkName(name);
  if (nameError) return { error: nameError };
  const meta = parseMetadata(form.elements.metadata.value);
  if (meta.error) return { error: meta.error };
  const out = { name: name.trim(), metadata: meta.value };
  if (kind === "system") {
    const d = form.elements.description.value.trim();
    out.description = d === "" ? null : d;
  }
  return { value: out };
}

function say(el, text, tone = "ok") {
  el.textContent = text;
  el.className = `msg ${tone}`;
}

// ------------------------------------------------------------ state & rendering

let systems = [];
let groups = [];
let selected = null; // { kind, id }
let editorDirty = false;
const captures = new Set();

/** Runs work() and returns [its result, the events this tab emitted meanwhile]. */
async function withEvents(work) {
  const events = [];
  captures.add(events);
  try {
    return [await work(), events];
  } finally {
    captures.delete(events);
  }
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat())
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const pad = (n, w = 2) => String(n).padStart(w, "0");
function clock(date) {
  const d = date instanceof Date ? date : new Date(date);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const hrs = Math.floor(m / 60);
  return hrs < 48 ? `${hrs} h ${m % 60} min` : `${Math.floor(hrs / 24)} days`;
}
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const json = (v, indent = 2) => JSON.stringify(v, null, indent);
const compact = (v) => (v === null ? "null" : json(v, 0));

async function refresh() {
  [systems, groups] = await Promise.all([allRows("systems"), allRows("groups")]);
  const byName = (a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
  systems.sort(byName);
  groups.sort(byName);
  renderList("system", systems, $("#system-list"));
  renderList("group", groups, $("#group-list"));
  renderMaskSystems();
  if (selected && ![...systems, ...groups].some((r) => r.id === selected.id)) select(null);
  else await renderDetails();
}

function renderList(kind, rows, list) {
  list.replaceChildren(
    ...rows.map((row) =>
      h(
        "li",
        { class: selected?.id === row.id ? "selected" : "", dataset: { id: row.id, testid: `${kind}-item` } },
        h(
          "button",
          { type: "button", class: "entity", onclick: () => track(select({ kind, id: row.id })) },
          h("span", { class: "entity-name" }, row.name),
          kind === "system" && row.description ? h("span", { class: "entity-desc" }, row.description) : null,
          h(
            "span",
            { class: "entity-meta" },
            h("code", {}, row.id),
            ` · ${plural(Object.keys(row.metadata ?? {}).length, "metadata key")}`,
          ),
        ),
      ),
    ),
  );
  if (rows.length === 0) list.append(h("li", { class: "empty" }, `No ${kind}s yet.`));
}

function select(next) {
  selected = next;
  editorDirty = false;
  for (const li of document.querySelectorAll(".entity-list li"))
    li.classList.toggle("selected", li.dataset.id === next?.id);
  say($('[data-testid="editor-message"]'), "");
  $("#history-field").value = "";
  return renderDetails();
}

let detailsToken = 0;
async function renderDetails() {
  const token = ++detailsToken;
  const body = $("#details-body");
  if (!selected) {
    body.hidden = true;
    $("#details-empty").hidden = false;
    return;
  }
  const { kind, id } = selected;
  const row = (kind === "system" ? systems : groups).find((r) => r.id === id);
  if (!row) return;
  const handle = handleFor(kind);
  const fields = kind === "system" ? ["name", "description"] : ["name"];
  const field = $("#history-field").value || undefined;
  const [since, history, nameChanges] = await Promise.all([
    Promise.all(fields.map((f) => handle.inStateSince(id, f))),
    handle.history(id, { field, limit: 50 }),
    handle.transitionCount({ id, field: "name", windowMs: 3_600_000 }),
  ]);
  if (token !== detailsToken) return; // a newer render started
  body.hidden = false;
  $("#details-empty").hidden = true;
  $("#details-kind").textContent = KIND[kind].label;
  $("#details-kind").className = `kind-badge ${kind}`;
  $("#details-id").textContent = id;
  $("#editor-description").hidden = kind !== "system";
  $('#history-field option[value="description"]').hidden = kind !== "system";

  const form = $("#editor");
  if (!editorDirty) {
    form.elements.name.value = row.name;
    form.elements.description.value = row.description ?? "";
    form.elements.metadata.value = json(row.metadata ?? {});
    form.elements.metadata.rows = Math.min(14, Math.max(4, form.elements.metadata.value.split("\n").length + 1));
  }

  const facts = $("#facts");
  facts.replaceChildren();
  fields.forEach((f, i) => {
    const at = since[i];
    facts.append(
      h("dt", {}, `${f} = ${compact(row[f] ?? null)}`),
      h(
        "dd",
        { dataset: { testid: `since-${f}` } },
        at
          ? [
              `since ${at.toLocaleString()} `,
              h("span", { class: "muted", dataset: { since: at.getTime() } }, `(${ago(Date.now() - at.getTime())})`),
            ]
          : "no transition recorded",
      ),
    );
  });
  facts.append(
    h("dt", {}, "name changes, last hour"),
    h("dd", { dataset: { testid: "name-changes" } }, String(nameChanges)),
  );

  const tbody = $("#history-rows");
  tbody.replaceChildren(
    ...history.map((r) =>
      h(
        "tr",
        { dataset: { testid: "history-row", field: r.field } },
        h("td", { class: "nowrap", title: r.transitionedAt.toISOString() }, clock(r.transitionedAt)),
        h("td", {}, h("code", {}, r.field)),
        h("td", { class: "value" }, r.fromValue === null ? h("span", { class: "muted" }, "—") : r.fromValue),
        h("td", { class: "value" }, r.toValue),
      ),
    ),
  );
  if (history.length === 0) tbody.append(h("tr", {}, h("td", { colspan: 4, class: "empty" }, "No transitions.")));
}

function renderMaskSystems() {
  const select = $('[data-testid="mask-system"]');
  const current = select.value;
  select.replaceChildren(...systems.map((s) => h("option", { value: s.id, title: s.id }, s.name)));
  if (systems.some((s) => s.id === current)) select.value = current;
}

function showChange(event, fromTab) {
  const triggers = engine.derive(event);
  const payload = engine.payload(event);
  const kind = kindOfEntity(event.kind);
  const actor =
    event.actor?.type === "user" ? `user ${event.actor.name ?? event.actor.id}` : (event.actor?.type ?? "?");
  const item = h(
    "li",
    {
      class: `change ${kind}`,
      dataset: {
        testid: "stream-item",
        kind: event.kind,
        id: event.id,
        origin: fromTab ? "remote" : "local",
        changeId: event.changeId,
      },
    },
    h(
      "div",
      { class: "change-head" },
      h("span", { class: `kind-badge ${kind}` }, event.kind),
      h("code", { class: "change-id" }, event.id),
      h("span", { class: "spacer" }),
      fromTab
        ? h("span", { class: "tag remote", dataset: { testid: "origin" } }, `from tab ${fromTab}`)
        : h("span", { class: "tag", dataset: { testid: "origin" } }, "this tab"),
      h("time", { datetime: event.occurredAt, title: event.occurredAt }, clock(event.occurredAt)),
    ),
    h(
      "dl",
      { class: "change-body" },
      h("dt", {}, "changed"),
      h(
        "dd",
        { dataset: { testid: "changed-fields" } },
        event.changedFields.length ? event.changedFields.map((f) => h("code", { class: "field" }, f)) : "—",
      ),
      h("dt", {}, "delta"),
      h("dd", {}, h("pre", { dataset: { testid: "delta" } }, json(event.delta, 0))),
      h("dt", {}, "actor"),
      h("dd", { dataset: { testid: "actor" } }, actor),
      h("dt", {}, "triggers"),
      h(
        "dd",
        { dataset: { testid: "triggers" } },
        triggers.length
          ? triggers.map((t) =>
              h("span", { class: `trigger ${t.split(".").at(-1)}`, dataset: { testid: "trigger" } }, t),
            )
          : h("span", { class: "muted" }, "none for this change"),
      ),
      triggers.length && payload !== undefined
        ? [h("dt", {}, "payload"), h("dd", {}, h("pre", { dataset: { testid: "payload" } }, json(payload, 0)))]
        : null,
    ),
  );
  const stream = $("#stream");
  stream.prepend(item);
  while (stream.children.length > STREAM_LIMIT) stream.lastElementChild.remove();
  $("#stream-empty").hidden = true;
}

function setStatus(text, tone) {
  $("#status-text").textContent = text;
  $("#status-dot").className = `dot ${tone}`;
}

// ------------------------------------------------------------ forms

function busy(form, on) {
  for (const b of form.querySelectorAll("button")) b.disabled = on;
}

// Work in flight (a write and the re-render after it, a refresh after another
// tab's change) keeps aria-busy on <body>, so assistive tech and the browser
// tests know when the page has settled rather than guessing with timeouts.
let inFlight = 0;
function track(promise) {
  if (inFlight++ === 0) document.body.setAttribute("aria-busy", "true");
  return promise.finally(() => {
    if (--inFlight === 0) document.body.removeAttribute("aria-busy");
  });
}

function guarded(form, msg, work) {
  busy(form, true);
  return track(
    (async () => {
      try {
        await work();
      } catch (e) {
        say(msg, describeError(e), "error");
      } finally {
        busy(form, false);
      }
    })(),
  );
}

function wireForms() {
  for (const kind of ["system", "group"]) {
    const form = $(`#new-${kind}`);
    const msg = $(`[data-testid="new-${kind}-message"]`);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = readEntityForm(form, kind);
      if (input.error) return say(msg, input.error, "error");
      guarded(form, msg, async () => {
        const id = newId(kind === "system" ? "sys" : "grp");
        await saveEntity(kind, id, input.value);
        form.reset();
        say(msg, `Created ${input.value.name}.`);
        await refresh();
        await select({ kind, id });
      });
    });
  }

  const editor = $("#editor");
  const editorMsg = $('[data-testid="editor-message"]');
  editor.addEventListener("input", () => (editorDirty = true));
  editor.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!selected) return;
    const { kind, id } = selected;
    const input = readEntityForm(editor, kind);
    if (input.error) return say(editorMsg, input.error, "error");
    guarded(editor, editorMsg, async () => {
      const [, events] = await withEvents(() => saveEntity(kind, id, input.value));
      editorDirty = false;
      await refresh();
      const change = events.find((e) => e.id === id);
      say(
        editorMsg,
        change ? `Saved: ${change.changedFields.join(", ")} changed.` : "Saved: no field changed, so no event.",
      );
    });
  });
  $("#delete").addEventListener("click", () => {
    if (!selected) return;
    const { kind, id } = selected;
    const name = (kind === "system" ? systems : groups).find((r) => r.id === id)?.name ?? id;
    guarded(editor, editorMsg, async () => {
      await deleteEntity(kind, id);
      await refresh();
      say($(`[data-testid="new-${kind}-message"]`), `Deleted ${name}; its transition history stays in the log.`);
    });
  });
  $("#history-field").addEventListener("change", () => track(renderDetails()));

  // Masking
  const reg = $("#mask-register");
  const regMsg = $('[data-testid="mask-register-message"]');
  reg.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const runId = reg.elements.runId.value.trim();
    const values = reg.elements.secrets.value
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean);
    if (!runId) return say(regMsg, "Enter a run id.", "error");
    if (values.length === 0) return say(regMsg, "Enter at least one secret value.", "error");
    try {
      engine.secrets.register(runId, values);
      reg.elements.secrets.value = "";
      say(regMsg, `Registered ${plural(values.length, "secret")} for ${runId} (this tab's engine).`);
    } catch (e) {
      say(regMsg, describeError(e), "error");
    }
  });
  $("#mask-drop").addEventListener("click", () => {
    const runId = reg.elements.runId.value.trim();
    if (!runId) return say(regMsg, "Enter a run id.", "error");
    try {
      engine.secrets.drop(runId);
      say(regMsg, `Dropped the secrets of ${runId}.`);
    } catch (e) {
      say(regMsg, describeError(e), "error");
    }
  });

  const write = $("#mask-write");
  const writeMsg = $('[data-testid="mask-message"]');
  write.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const runId = reg.elements.runId.value.trim();
    const systemId = write.elements.systemId.value;
    if (!runId) return say(writeMsg, "Enter a run id above.", "error");
    if (!systemId) return say(writeMsg, "Create a system first.", "error");
    const meta = parseMetadata(write.elements.metadata.value);
    if (meta.error) return say(writeMsg, meta.error, "error");
    guarded(write, writeMsg, async () => {
      const [result, events] = await withEvents(() =>
        updateMetadataAction.execute({ config: { systemId, strategy: "merge", metadata: meta.value }, runId }),
      );
      if (!result.success) return say(writeMsg, result.error, "error");
      const event = events.find((e) => e.id === systemId);
      const [history, stored] = await Promise.all([
        systemEntity.history(systemId, { field: "metadata", limit: 3 }),
        getRow("systems", systemId),
      ]);
      $('[data-testid="mask-event"]').textContent = event
        ? json({ id: event.id, changedFields: event.changedFields, delta: event.delta })
        : "(no change: the metadata was already like this)";
      $('[data-testid="mask-history"]').textContent = history
        .map((r) => `${clock(r.transitionedAt)}  ${r.field}\n  from ${r.fromValue}\n  to   ${r.toValue}`)
        .join("\n");
      $('[data-testid="mask-stored"]').textContent = json({
        id: stored.id,
        name: stored.name,
        metadata: stored.metadata,
      });
      $("#mask-out").hidden = false;
      say(writeMsg, `catalog.update_metadata ran under ${runId}.`);
      await refresh();
    });
  });

  $("#stream-clear").addEventListener("click", () => {
    $("#stream").replaceChildren();
    $("#stream-empty").hidden = false;
  });

  // Keep "(12 s)" next to each "since" current.
  setInterval(() => {
    for (const el of document.querySelectorAll("[data-since]"))
      el.textContent = `(${ago(Date.now() - Number(el.dataset.since))})`;
  }, 1000);
}

start().catch((e) => {
  setStatus("failed to start", "error");
  const fatal = $("#fatal");
  fatal.textContent = `The demo could not start: ${describeError(e)}`;
  fatal.hidden = false;
  console.error(e);
});
