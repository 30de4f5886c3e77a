// The analyst page: a live feed of non-ALLOW decisions, search, and a session view (summary, score
// chart, timeline). Plain DOM, no framework: every value from the API goes through textContent or
// setAttribute (never innerHTML), and the page's CSP allows no inline script or style.

const API = new URL('../', document.baseURI); // the page is served at <engine>/ui/
const TOKEN_KEY = 'risk-stream.analyst-token';
const DECISIONS = ['ALLOW', 'STEP_UP', 'BLOCK_ACTION', 'TERMINATE'];
const PARTS = [
  ['ip', 'ip'],
  ['asn', 'asn'],
  ['country', 'country'],
  ['user_agent', 'user agent'],
  ['ja4', 'JA4'],
  ['device_id', 'device'],
];
const FEED_MAX = 200;
const $ = (id) => document.getElementById(id);

// --- small DOM helpers -------------------------------------------------------------------------------

/** el('td', { class: 'x', 'data-n': 3 }, 'text', child): attributes via setAttribute, strings as text. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  append(node, children);
  return node;
}

function setText(id, text) {
  $(id).textContent = text;
}

// --- formatting ----------------------------------------------------------------------------------------

const timeFmt = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
});
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

function fmtTime(ms) {
  if (ms === null || ms === undefined) return '–';
  const d = new Date(ms);
  const sameDay = new Date().toDateString() === d.toDateString();
  return sameDay ? timeFmt.format(d) : `${dayFmt.format(d)} ${timeFmt.format(d)}`;
}
const iso = (ms) => (ms === null || ms === undefined ? '' : new Date(ms).toISOString());
const fmtScore = (s) => (typeof s === 'number' ? s.toFixed(3) : '–');
const short = (s, n = 10) => (s && s.length > n ? `${s.slice(0, n)}…` : (s ?? ''));
const dash = (v) => (v === null || v === undefined || v === '' ? '–' : String(v));

function badge(decision) {
  const d = DECISIONS.includes(decision) ? decision : 'ALLOW';
  return el('span', { class: `badge ${d}`, 'data-testid': 'decision-badge' }, decision);
}

function evidenceCell(ev) {
  if (!ev) return el('span', { class: 'muted' }, '–');
  return el(
    'span',
    { class: 'evidence', title: `evidence seq ${ev.seq}, hash ${ev.hash}`, 'data-testid': 'evidence' },
    `#${ev.seq} `,
    el('code', {}, short(ev.hash, 8)),
  );
}

function reasonsList(reasons) {
  if (!reasons || reasons.length === 0) return el('span', { class: 'muted' }, '–');
  return el(
    'ul',
    { class: 'reasons', 'data-testid': 'reasons' },
    reasons.map((r) =>
      el(
        'li',
        { title: `weight ${r.weight}` },
        el('b', {}, r.code),
        r.detail ? `: ${r.detail}` : '',
        typeof r.weight === 'number' ? el('span', { class: 'weight' }, ` ${r.weight.toFixed(2)}`) : '',
      ),
    ),
  );
}

// --- the token and the API -----------------------------------------------------------------------------

let tokenPrompt = null;

/** Shows the token form (once, however many requests got a 401) and resolves with the new token. */
function askToken(why) {
  if (tokenPrompt) return tokenPrompt;
  const dialog = $('login');
  const form = $('login-form');
  const error = $('login-error');
  error.hidden = !why;
  error.textContent = why ?? '';
  tokenPrompt = new Promise((resolve) => {
    const onSubmit = (e) => {
      e.preventDefault();
      const token = form.elements.token.value.trim();
      if (token.length === 0) return;
      form.removeEventListener('submit', onSubmit);
      sessionStorage.setItem(TOKEN_KEY, token);
      form.reset();
      dialog.close();
      tokenPrompt = null;
      $('signout').hidden = false;
      resolve(token);
    };
    form.addEventListener('submit', onSubmit);
  });
  if (!dialog.open) dialog.showModal();
  form.elements.token.focus();
  return tokenPrompt;
}

const authHeaders = () => {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
};

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Forgets the token the API refused; the message for the token form. */
function refusal(status) {
  const had = sessionStorage.getItem(TOKEN_KEY);
  sessionStorage.removeItem(TOKEN_KEY);
  if (status === 403) return 'That token may not read the analyst API: use an analyst token.';
  return had ? 'That token was refused.' : undefined;
}

/** GET a JSON endpoint; on 401 (or 403) asks for a token and tries again. */
async function api(path, params = {}) {
  const url = new URL(path, API);
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  for (;;) {
    const res = await fetch(url, {
      headers: { accept: 'application/json', ...authHeaders() },
      cache: 'no-store',
    });
    if (res.status === 401 || res.status === 403) {
      await askToken(refusal(res.status));
      continue;
    }
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new ApiError(res.status, body);
    return body;
  }
}

function showMessage(text) {
  const m = $('message');
  m.hidden = !text;
  m.textContent = text ?? '';
}

// --- live feed: SSE read with fetch (EventSource cannot send the Authorization header) -------------------

/**
 * A minimal text/event-stream parser (the WHATWG rules that matter here): lines end with CRLF, LF or
 * CR; `field: value`; a blank line dispatches; lines starting with ':' are comments (heartbeats).
 */
function sseParser(onEvent) {
  let buffer = '';
  let data = [];
  let type = '';
  let id = null;
  let retry = null;
  const line = (l) => {
    if (l === '') {
      if (data.length > 0) onEvent({ type: type || 'message', data: data.join('\n'), id });
      data = [];
      type = '';
      return;
    }
    if (l.startsWith(':')) return;
    const colon = l.indexOf(':');
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') type = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
  };
  return {
    push(chunk) {
      buffer += chunk;
      const re = /\r\n|\r|\n/g;
      let start = 0;
      let m;
      while ((m = re.exec(buffer)) !== null) {
        // A CR at the very end may be the first half of a CRLF split across chunks.
        if (m[0] === '\r' && m.index === buffer.length - 1) break;
        line(buffer.slice(start, m.index));
        start = m.index + m[0].length;
      }
      buffer = buffer.slice(start);
    },
    get lastEventId() {
      return id;
    },
    get retry() {
      return retry;
    },
  };
}

const feed = {
  seen: new Set(),
  /** decided_at of the newest decision shown, to fill the gap after a reconnect. */
  newest: 0,
};

function feedItem(d) {
  const top = d.reasons?.[0];
  return el(
    'li',
    {
      class: `feed-item ${d.decision}`,
      'data-testid': 'feed-item',
      'data-decision': d.decision,
      'data-session': d.session_id,
      'data-decision-id': d.decision_id,
    },
    el(
      'a',
      { href: sessionHash(d.session_id, d.event_id), title: `open session ${d.session_id}` },
      el('div', { class: 'feed-line' }, badge(d.decision), el('span', { class: 'score' }, fmtScore(d.score))),
      el(
        'div',
        { class: 'feed-line' },
        el('span', { class: 'who' }, d.user_id),
        el('time', { datetime: iso(d.decided_at), title: iso(d.decided_at) }, fmtTime(d.decided_at)),
      ),
      el('div', { class: 'feed-what' }, `${d.app} · ${d.action ?? '?'}`),
      el('div', { class: 'feed-session' }, short(d.session_id, 30)),
      top ? el('div', { class: 'feed-why' }, top.code) : '',
    ),
  );
}

function addToFeed(d, { top = true } = {}) {
  if (!d || d.decision === 'ALLOW' || feed.seen.has(d.decision_id)) return;
  feed.seen.add(d.decision_id);
  feed.newest = Math.max(feed.newest, d.decided_at ?? 0);
  const list = $('feed');
  const item = feedItem(d);
  if (top) {
    list.prepend(item);
    item.classList.add('fresh');
    setTimeout(() => item.classList.remove('fresh'), 2000);
  } else list.append(item);
  while (list.children.length > FEED_MAX) {
    const last = list.lastElementChild;
    feed.seen.delete(last.getAttribute('data-decision-id'));
    last.remove();
  }
  $('feed-empty').hidden = true;
}

function feedStatus(state, text) {
  const s = $('feed-status');
  s.dataset.state = state;
  s.textContent = text;
}

/** Recent non-ALLOW decisions (newest first) when the feed (re)connects: nothing missed in between. */
async function backfill() {
  const body = await api('v1/decisions', { limit: 50, since: feed.newest || undefined });
  const items = (body.items ?? []).filter((d) => d.decision !== 'ALLOW');
  if (feed.newest === 0) for (const d of items) addToFeed(d, { top: false });
  else for (const d of items.reverse()) addToFeed(d);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The server sends a heartbeat comment well within this; silence this long means a dead connection.
const STREAM_SILENCE_MS = 45_000;

async function runFeed() {
  let backoff = 1000;
  let lastEventId = null;
  for (;;) {
    const abort = new AbortController();
    let watchdog;
    const kick = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort.abort(), STREAM_SILENCE_MS);
    };
    try {
      feedStatus('connecting', 'connecting…');
      const headers = { accept: 'text/event-stream', ...authHeaders() };
      if (lastEventId) headers['last-event-id'] = lastEventId;
      kick();
      const res = await fetch(new URL('v1/decisions/stream', API), {
        headers,
        cache: 'no-store',
        signal: abort.signal,
      });
      if (res.status === 401 || res.status === 403) {
        clearTimeout(watchdog);
        feedStatus('auth', 'needs a token');
        await askToken(refusal(res.status));
        continue;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      // A reconnect with Last-Event-ID gets what it missed on the stream itself.
      if (!lastEventId) await backfill();
      feedStatus('live', 'live');
      const parser = sseParser((ev) => {
        if (ev.type !== 'decision') return;
        try {
          addToFeed(JSON.parse(ev.data));
        } catch {
          // a malformed event is skipped; the next one may be fine
        }
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let connectedAt = Date.now();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        kick();
        parser.push(value);
        lastEventId = parser.lastEventId ?? lastEventId;
        if (Date.now() - connectedAt > 10_000) {
          backoff = 1000; // a connection that held is not a failing one
          connectedAt = Infinity;
        }
      }
      if (parser.retry !== null) backoff = parser.retry;
      throw new Error('the stream ended');
    } catch (err) {
      clearTimeout(watchdog);
      abort.abort();
      feedStatus('down', `reconnecting in ${Math.round(backoff / 1000)} s`);
      console.warn('live feed:', err?.message ?? err);
      await sleep(backoff + Math.random() * 500);
      backoff = Math.min(backoff * 2, 30_000);
    }
  }
}

// --- routing: the view is in the URL's fragment (never the token) ----------------------------------------

function sessionHash(sessionId, eventId) {
  const p = new URLSearchParams({ session: sessionId });
  if (eventId) p.set('event', eventId);
  return `#${p}`;
}

function route() {
  const p = new URLSearchParams(location.hash.slice(1));
  const form = $('search');
  const session = p.get('session');
  // The form shows a search's terms; a session view starts a fresh search (its id is in the heading).
  for (const name of ['user', 'session', 'app', 'decision']) {
    form.elements[name].value = session ? '' : (p.get(name) ?? '');
  }
  showMessage(null);
  const query = { user: p.get('user'), app: p.get('app'), decision: p.get('decision') };
  $('welcome').hidden = Boolean(session || query.user || query.app || query.decision);
  $('results').hidden = true;
  $('session').hidden = true;
  if (session) void openSession(session, p.get('event'));
  else if (query.user || query.app || query.decision) void search(query);
}

function onSearch(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const p = new URLSearchParams();
  for (const name of ['user', 'session', 'app', 'decision']) {
    const v = form.elements[name].value.trim();
    if (v) p.set(name, v);
  }
  const hash = `#${p}`;
  if (location.hash === hash) route();
  else location.hash = hash;
}

// --- search results ------------------------------------------------------------------------------------

let searchToken = 0;

async function search(query, cursor = null) {
  const mine = cursor ? searchToken : ++searchToken;
  const label = Object.entries(query)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  setText('results-title', `Decisions: ${label}`);
  try {
    const body = await api('v1/decisions', { ...query, limit: 50, cursor });
    if (mine !== searchToken) return;
    const tbody = $('results-body');
    if (!cursor) tbody.replaceChildren();
    for (const d of body.items ?? []) tbody.append(resultRow(d));
    $('results').hidden = false;
    $('results-none').hidden = tbody.children.length > 0;
    const more = $('results-more');
    more.hidden = !body.next_cursor;
    more.onclick = () => search(query, body.next_cursor);
  } catch (err) {
    if (mine === searchToken) showMessage(`Search failed: ${err.message}`);
  }
}

function resultRow(d) {
  return el(
    'tr',
    { 'data-testid': 'result-row', 'data-decision': d.decision, class: `row-${d.decision}` },
    el('td', { title: iso(d.decided_at) }, fmtTime(d.decided_at)),
    el('td', {}, badge(d.decision)),
    el('td', {}, d.user_id),
    el(
      'td',
      { class: 'nowrap' },
      el('a', { href: sessionHash(d.session_id, d.event_id), title: d.session_id }, short(d.session_id, 24)),
    ),
    el('td', { class: 'nowrap' }, `${d.app} · ${d.action ?? '?'}`),
    el('td', { class: 'num' }, fmtScore(d.score)),
    el('td', { class: 'rule' }, dash(d.policy_rule)),
    el('td', {}, reasonsList(d.reasons)),
    el('td', {}, evidenceCell(d.evidence)),
  );
}

// --- the session view ----------------------------------------------------------------------------------

const view = { id: null, entries: [], focusEvent: null, token: 0 };

async function openSession(id, focusEvent) {
  const mine = ++view.token;
  view.id = id;
  view.entries = [];
  view.focusEvent = focusEvent;
  try {
    const [session, timeline] = await Promise.all([
      api(`v1/sessions/${encodeURIComponent(id)}`),
      api(`v1/sessions/${encodeURIComponent(id)}/timeline`, { limit: 100 }),
    ]);
    if (mine !== view.token) return;
    renderSummary(session);
    view.entries = timeline.items ?? [];
    $('session').hidden = false; // first: the chart is drawn to the box's width
    renderTimeline(timeline.next_before);
    focusRow();
  } catch (err) {
    if (mine !== view.token) return;
    showMessage(
      err.status === 404
        ? `No session ${id}: it is unknown, or its window expired (sessions are kept while active).`
        : `Could not load session ${id}: ${err.message}`,
    );
  }
}

async function loadEarlier(before) {
  const mine = view.token;
  try {
    const older = await api(`v1/sessions/${encodeURIComponent(view.id)}/timeline`, { limit: 100, before });
    if (mine !== view.token) return;
    view.entries = [...(older.items ?? []), ...view.entries];
    renderTimeline(older.next_before);
  } catch (err) {
    showMessage(`Could not load earlier actions: ${err.message}`);
  }
}

function clientSummary(c) {
  if (!c) return '–';
  return [
    c.ip,
    c.asn !== null && c.asn !== undefined ? `AS${c.asn}` : null,
    c.country,
    short(c.user_agent, 40),
  ]
    .filter(Boolean)
    .join(' · ');
}

function renderSummary(s) {
  setText('s-id', s.session_id);
  setText('s-user', s.user_id);
  const w = s.window ?? {};
  setText('s-events', dash(w.events));
  $('s-span').replaceChildren(
    el('time', { title: iso(w.first_ts) }, fmtTime(w.first_ts)),
    ' – ',
    el('time', { title: iso(w.last_ts) }, fmtTime(w.last_ts)),
  );
  const t = s.state?.terminated;
  const state = $('s-state');
  state.className = `badge ${t ? 'TERMINATE' : 'ACTIVE'}`;
  state.textContent = t ? 'TERMINATED' : 'active';
  $('s-terminated').replaceChildren(
    t
      ? el(
          'span',
          {},
          `${fmtTime(t.ts)} · score ${fmtScore(t.score)} · model ${dash(t.model)}`,
          el('br'),
          'by decision ',
          el('code', { 'data-testid': 'terminated-decision-id', title: t.decision_id }, t.decision_id),
        )
      : 'no',
  );
  const trusted = s.state?.trusted_until;
  setText('s-trusted', trusted ? `${fmtTime(trusted)}${trusted < Date.now() ? ' (expired)' : ''}` : '–');
  setText('s-failures', String(s.state?.failures ?? 0));
  const d = w.distinct ?? {};
  setText(
    's-distinct',
    `${dash(d.fp)} fingerprints · ${dash(d.ua)} UAs · ${dash(d.ja4)} JA4 · ${dash(d.dev)} devices · ${dash(d.asn)} ASNs · ${dash(d.country)} countries`,
  );
  // The window's first and latest client (the whole session, not only the actions the timeline keeps).
  setText('s-baseline', clientSummary(w.baseline));
  setText('s-latest', clientSummary(w.latest));
  $('s-evidence').replaceChildren(evidenceCell(s.evidence));
  const file = `${s.session_id}.jsonl`;
  setText(
    'cmd-export',
    `risk-stream evidence export --session ${shellQuote(s.session_id)} -o ${shellQuote(file)}`,
  );
  setText('cmd-verify', `risk-stream evidence verify ${shellQuote(file)}`);
}

/** Quotes a value for a POSIX shell when it has anything but safe characters. */
function shellQuote(s) {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The entry whose decision terminated the session (not the later friction.terminated answers). */
function terminatingEntry(entries) {
  return (
    entries.find((e) => e.decision === 'TERMINATE' && e.policy_rule !== 'friction.terminated') ??
    entries.find((e) => e.decision === 'TERMINATE') ??
    null
  );
}

function clientCell(entry, part) {
  const c = entry.client ?? {};
  const raw = c[part];
  const changed = entry.changed?.includes(part);
  const isNew = entry.new_to_session?.includes(part);
  let text = raw === null || raw === undefined ? '–' : String(raw);
  if (part === 'asn' && raw !== null && raw !== undefined) text = `AS${raw}`;
  const classes = [part, changed ? 'changed' : '', isNew ? 'new' : ''].filter(Boolean).join(' ');
  return el(
    'td',
    {
      class: classes,
      'data-part': part,
      'data-changed': changed ? 'true' : undefined,
      'data-new': isNew ? 'true' : undefined,
      title: [text, changed ? 'changed since the previous action' : '', isNew ? 'new to this session' : '']
        .filter(Boolean)
        .join(' · '),
    },
    el('span', { class: 'val' }, text),
    isNew ? el('span', { class: 'new-mark' }, 'new') : '',
  );
}

/** The action's row, then (for a decision with reasons or not ALLOW) a row explaining the decision. */
function timelineRows(e, terminating) {
  const changed = e.changed ?? [];
  const classes = [
    `row-${e.decision}`,
    changed.length > 0 ? 'drift' : '',
    e === terminating ? 'terminating' : '',
    e.event_id === view.focusEvent ? 'focus' : '',
  ].filter(Boolean);
  const row = el(
    'tr',
    {
      class: classes.join(' '),
      id: `ev-${e.n}`,
      'data-testid': 'timeline-row',
      'data-n': e.n,
      'data-event-id': e.event_id,
      'data-decision': e.decision,
      'data-rule': e.policy_rule ?? undefined,
      'data-changed': changed.join(','),
      'data-terminating': e === terminating ? 'true' : undefined,
    },
    el('td', { class: 'num muted' }, e.n),
    el('td', { title: `event ${iso(e.ts)}, decided ${iso(e.decided_at)}` }, el('time', {}, fmtTime(e.ts))),
    el(
      'td',
      { class: 'what', title: e.resource ?? '' },
      el('span', { class: 'app' }, e.app),
      ' · ',
      el('b', {}, e.action),
      e.records !== null && e.records !== undefined
        ? el('span', { class: 'records' }, ` (${e.records} records)`)
        : '',
    ),
    PARTS.map(([part]) => clientCell(e, part)),
    el('td', { class: 'num score' }, fmtScore(e.score)),
    el('td', {}, badge(e.decision)),
    el('td', {}, evidenceCell(e.evidence)),
  );
  if (e.decision === 'ALLOW' && !(e.reasons?.length > 0)) return [row];
  const why = el(
    'tr',
    {
      class: ['why', ...classes.filter((c) => c !== 'focus')].join(' '),
      'data-testid': 'timeline-why',
      'data-n': e.n,
      'data-decision': e.decision,
    },
    el('td', { colspan: 2 }),
    el(
      'td',
      { colspan: 4 + PARTS.length },
      el(
        'div',
        { class: 'why-head' },
        badge(e.decision),
        ' by ',
        el('code', { class: 'rule', 'data-testid': 'rule' }, dash(e.policy_rule)),
        el('span', { class: 'muted' }, ` · model ${dash(e.model_version)}`),
        changed.length > 0 ? el('span', { class: 'drift-note' }, ` · changed: ${changed.join(', ')}`) : '',
        e === terminating ? el('span', { class: 'term-note' }, 'this decision terminated the session') : '',
      ),
      reasonsList(e.reasons),
    ),
  );
  return [row, why];
}

function renderTimeline(nextBefore) {
  const entries = view.entries;
  const terminating = terminatingEntry(entries);
  $('timeline-body').replaceChildren(...entries.flatMap((e) => timelineRows(e, terminating)));
  $('timeline-none').hidden = entries.length > 0;
  const earlier = $('timeline-earlier');
  earlier.hidden = nextBefore === null || nextBefore === undefined;
  earlier.onclick = () => loadEarlier(nextBefore);
  const jump = $('jump-terminate');
  jump.hidden = !terminating;
  jump.onclick = () => terminating && scrollToRow(terminating.n);
  renderChart(entries, terminating);
}

function scrollToRow(n) {
  const row = $(`ev-${n}`);
  if (!row) return;
  row.scrollIntoView({ block: 'center', behavior: 'smooth' });
  row.classList.remove('flash');
  void row.offsetWidth; // restart the animation
  row.classList.add('flash');
}

/**
 * Scrolls to the decision the analyst came for; from a later `friction.terminated` answer, to the
 * decision that terminated the session (that is where the cause is).
 */
function focusRow() {
  const terminating = terminatingEntry(view.entries);
  let e = view.entries.find((x) => x.event_id === view.focusEvent) ?? terminating;
  if (e?.policy_rule === 'friction.terminated' && terminating) e = terminating;
  if (e) requestAnimationFrame(() => scrollToRow(e.n));
}

// --- the score chart: one point per action, in order (an attack's burst stays readable) ----------------

function renderChart(entries, terminating) {
  const box = $('chart');
  if (entries.length === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, 'No actions.'));
    return;
  }
  const W = Math.max(320, box.clientWidth || 800);
  const H = 180;
  const pad = { l: 36, r: 12, t: 14, b: 26 };
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const x = (i) => pad.l + (entries.length === 1 ? iw / 2 : (i * iw) / (entries.length - 1));
  const y = (s) => pad.t + ih - Math.max(0, Math.min(1, s)) * ih;

  const grid = [0, 0.25, 0.5, 0.75, 1].map((v) =>
    svg(
      'g',
      { class: 'grid' },
      svg('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v) }),
      svg('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, v.toFixed(2)),
    ),
  );
  // Time labels under a few evenly spread actions.
  const ticks = new Set([0, entries.length - 1]);
  const every = Math.max(1, Math.ceil(entries.length / Math.max(2, Math.floor(iw / 110))));
  for (let i = 0; i < entries.length; i += every) ticks.add(i);
  const labels = [...ticks]
    .filter((i) => i === entries.length - 1 || entries.length - 1 - i >= every / 2)
    .map((i) =>
      svg(
        'text',
        {
          class: 'tick',
          x: x(i),
          y: H - 8,
          'text-anchor': i === 0 ? 'start' : i === entries.length - 1 ? 'end' : 'middle',
        },
        fmtTime(entries[i].ts),
      ),
    );
  const drift = entries.flatMap((e, i) =>
    e.changed?.length > 0
      ? [
          svg(
            'line',
            { class: 'drift', x1: x(i), x2: x(i), y1: pad.t, y2: pad.t + ih },
            svg('title', {}, `#${e.n}: ${e.changed.join(', ')} changed`),
          ),
        ]
      : [],
  );
  const path = entries
    .map((e, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(e.score).toFixed(1)}`)
    .join(' ');
  const points = entries.map((e, i) => {
    const d = DECISIONS.includes(e.decision) ? e.decision : 'ALLOW';
    const r = d === 'ALLOW' ? 3 : e === terminating ? 7 : 5;
    return svg(
      'circle',
      {
        class: `pt ${d}`,
        cx: x(i),
        cy: y(e.score),
        r,
        'data-n': e.n,
        'data-decision': d,
        tabindex: d === 'ALLOW' ? undefined : 0,
      },
      svg(
        'title',
        {},
        `#${e.n} ${fmtTime(e.ts)} ${e.app} · ${e.action}: ${d} ${fmtScore(e.score)}${e.changed?.length ? ` (changed: ${e.changed.join(', ')})` : ''}`,
      ),
    );
  });
  const chart = svg(
    'svg',
    {
      viewBox: `0 0 ${W} ${H}`,
      width: W,
      height: H,
      role: 'img',
      'aria-label': `score of ${entries.length} actions, 0 to 1`,
      'data-testid': 'score-chart-svg',
    },
    grid,
    drift,
    svg('path', { class: 'line', d: path }),
    points,
    labels,
  );
  chart.addEventListener('click', (ev) => {
    const n = ev.target?.getAttribute?.('data-n');
    if (n) scrollToRow(n);
  });
  box.replaceChildren(chart);
}

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    if (!$('session').hidden) renderChart(view.entries, terminatingEntry(view.entries));
  }, 150);
});

// --- copy buttons --------------------------------------------------------------------------------------

async function copy(button) {
  const code = $(button.getAttribute('data-copy'));
  const text = code.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (plain http on another host): select the text for Ctrl-C.
    const range = document.createRange();
    range.selectNodeContents(code);
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
    button.textContent = 'Selected';
    setTimeout(() => (button.textContent = 'Copy'), 1500);
    return;
  }
  button.textContent = 'Copied';
  setTimeout(() => (button.textContent = 'Copy'), 1500);
}

// --- start ---------------------------------------------------------------------------------------------

function start() {
  $('search').addEventListener('submit', onSearch);
  for (const b of document.querySelectorAll('button.copy')) b.addEventListener('click', () => void copy(b));
  $('signout').hidden = !sessionStorage.getItem(TOKEN_KEY);
  $('signout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  });
  window.addEventListener('hashchange', route);
  route();
  void runFeed();
}

start();
