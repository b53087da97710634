'use strict';
const $ = (id) => document.getElementById(id);
const api = async (path, options = {}) => {
  const response = await fetch(path, { credentials: 'same-origin', ...options });
  if (response.status === 403) { showLogin(); throw new Error('unauthorized'); }
  return response;
};
// State changes are POSTs with a JSON (or octet-stream) content type: the device refuses the simple types a
// cross-site form could send (CSRF).
const json = (body = {}) => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
const octets = (body) => ({ method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body });
const fmtBytes = (n) => n > 1 << 20 ? (n / (1 << 20)).toFixed(1) + ' MiB' : n > 1024 ? (n / 1024).toFixed(1) + ' KiB' : n + ' B';
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

function showLogin() { $('app').hidden = true; $('login').hidden = false; }
function showApp(user) { $('login').hidden = true; $('app').hidden = false; $('user').textContent = `(${user})`; start(); }

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  const response = await fetch('/api/login', { method: 'POST', headers: { Authorization: 'Basic ' + btoa(`${form.get('user')}:${form.get('password')}`) } });
  if (response.ok) showApp((await response.json()).user);
  else $('login-error').textContent = response.status === 429
    ? `Too many failed logins; try again in ${response.headers.get('Retry-After')} s` : 'Wrong user or password';
});
$('logout').addEventListener('click', async () => { await fetch('/api/logout', json()); location.reload(); });

document.querySelectorAll('nav button').forEach((button) => button.addEventListener('click', () => {
  document.querySelectorAll('nav button').forEach((b) => b.classList.toggle('active', b === button));
  document.querySelectorAll('.view').forEach((v) => { v.hidden = v.id !== button.dataset.view; });
  ({ events: loadEvents, settings: loadSettings, firmware: loadFirmware, network: loadNetwork })[button.dataset.view]?.();
}));

function chart(canvas, values, color) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width = canvas.clientWidth * devicePixelRatio, h = canvas.height = 140 * devicePixelRatio;
  ctx.clearRect(0, 0, w, h);
  if (values.length < 2) return;
  const min = Math.min(...values), max = Math.max(...values), span = max - min || 1;
  ctx.strokeStyle = color; ctx.lineWidth = 2 * devicePixelRatio; ctx.beginPath();
  values.forEach((v, i) => { const x = i * w / (values.length - 1), y = h - 8 - (v - min) / span * (h - 16); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
  ctx.stroke();
  ctx.fillStyle = '#6b7585'; ctx.font = `${11 * devicePixelRatio}px system-ui`; ctx.fillText(`${max}`, 4, 12 * devicePixelRatio); ctx.fillText(`${min}`, 4, h - 4);
}

let traffic = [], lastFrames = null, started = false;
function start() {
  if (started) return; started = true;
  loadOverview();
  const live = new EventSource('/api/live');
  live.addEventListener('stats', (e) => {
    const s = JSON.parse(e.data);
    $('ov-temp').textContent = s.temperature; $('ov-hum').textContent = s.humidity;
    chart($('chart-temp'), s.points, '#2463eb');
    const frames = s.frames_received + s.frames_sent;
    if (lastFrames !== null) { traffic.push(frames - lastFrames); traffic = traffic.slice(-60); chart($('chart-traffic'), traffic, '#16a34a'); }
    lastFrames = frames;
    $('ov-state').textContent = `State: ${s.state}`;
    $('ov-time').textContent = new Date(s.time).toLocaleTimeString();
  });
  live.addEventListener('event', () => { if (!$('events').hidden) loadEvents(); });
  setInterval(loadOverview, 5000);
}

async function loadOverview() {
  const n = await (await api('/api/network')).json();
  $('ov-address').textContent = n.ipv4 ? `${n.ipv4}/${n.prefix_length}` : 'none yet';
  $('ov-lease').textContent = n.lease ? `${n.lease.remaining_seconds} s left` : 'static';
  $('ov-gateway').textContent = n.gateway ? `Gateway ${n.gateway}` : 'No gateway';
  $('ov-offset').textContent = n.time.synchronized ? `Offset ${n.time.offset_ms.toFixed(1)} ms` : 'Not synchronised yet';
  const s = await (await api('/api/settings/get')).json();
  $('device-name').textContent = s.device_name;
}

let page = 1;
async function loadEvents() {
  const r = await (await api('/api/events/get', json({ page }))).json();
  const types = ['network', 'system', 'security', 'firmware'], prios = ['low', 'normal', 'high'];
  $('events-body').innerHTML = r.arr.map((e) => `<tr><td>${new Date(e.time * 1000).toLocaleString()}</td><td>${types[e.type] ?? e.type}</td><td>${prios[e.prio] ?? e.prio}</td><td>${esc(e.text)}</td></tr>`).join('');
  const pages = Math.max(1, Math.ceil(r.totalCount / 20));
  $('events-page').textContent = `Page ${page} of ${pages}`;
  $('events-prev').disabled = page <= 1; $('events-next').disabled = page >= pages;
}
$('events-prev').addEventListener('click', () => { page = Math.max(1, page - 1); loadEvents(); });
$('events-next').addEventListener('click', () => { page++; loadEvents(); });

async function loadSettings() {
  const s = await (await api('/api/settings/get')).json(), f = $('settings-form');
  f.device_name.value = s.device_name; f.brightness.value = s.brightness; f.log_enabled.checked = s.log_enabled; f.log_level.value = s.log_level;
}
$('settings-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  const r = await api('/api/settings/set', json({ device_name: f.device_name.value, brightness: +f.brightness.value, log_enabled: f.log_enabled.checked, log_level: +f.log_level.value }));
  $('settings-result').textContent = (await r.json()).message;
  loadOverview();
});

async function loadFirmware() {
  const s = await (await api('/api/firmware/status')).json();
  const describe = (i) => i ? `${esc(i.name)}, ${fmtBytes(i.size)}, sha256 ${i.sha256.slice(0, 16)}…` : 'none';
  $('fw-current').innerHTML = describe(s.current); $('fw-staged').innerHTML = describe(s.staged);
}
$('fw-upload').addEventListener('click', async () => {
  const file = $('fw-file').files[0];
  if (!file) return;
  // The first chunk opens an upload session; every later chunk names it (Upload-Id), so uploads never interleave.
  // Image names are letters, digits, '.', '-' and '_' (the device refuses others): a file's name is fitted to that.
  let id = '';
  const name = file.name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_').slice(0, 64);
  const chunk = 64 * 1024, url = (offset) => `/api/firmware/upload?name=${encodeURIComponent(name)}&offset=${offset}&total=${file.size}${id ? `&id=${id}` : ''}`;
  const reason = async (r) => { try { return (await r.json()).detail; } catch { return `HTTP ${r.status}`; } };
  for (let offset = 0; offset < file.size; offset += chunk) {
    const r = await api(url(offset), octets(file.slice(offset, offset + chunk)));
    if (!r.ok) { $('fw-result').textContent = await reason(r); return; }
    id = id || r.headers.get('Upload-Id') || '';
    $('fw-progress').value = Math.min(100, (offset + chunk) / file.size * 100);
  }
  const done = await api(url(file.size), octets(new Blob([])));
  $('fw-result').textContent = done.ok ? 'Uploaded and staged' : await reason(done);
  loadFirmware();
});
$('fw-commit').addEventListener('click', async () => { $('fw-result').textContent = (await (await api('/api/firmware/commit', json())).json()).message; loadFirmware(); });
$('fw-rollback').addEventListener('click', async () => { $('fw-result').textContent = (await (await api('/api/firmware/rollback', json())).json()).message; loadFirmware(); });
$('fw-reset').addEventListener('click', async () => { if (confirm('Restart the network stack?')) await api('/api/device/reset', json()); });

async function loadNetwork() {
  const n = await (await api('/api/network')).json();
  const dl = (o) => Object.entries(o).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('');
  $('net-interface').innerHTML = dl({ state: n.state, mac: n.mac, mtu: n.mtu, address: n.ipv4 ? `${n.ipv4}/${n.prefix_length}` : '–', gateway: n.gateway ?? '–',
    dns: n.dns_servers.join(', ') || '–', sntp: n.sntp_servers.join(', ') || '–', lease: n.lease ? `${n.lease.address} from ${n.lease.server}, ${n.lease.remaining_seconds}/${n.lease.duration_seconds} s` : 'static' });
  $('net-ipv6').innerHTML = n.ipv6.map((a) => `<tr><td>${esc(a.address)}/${a.prefix_length}</td><td>${esc(a.state)}</td><td>${esc(a.origin)}</td><td>${a.valid_seconds ?? '∞'}</td></tr>`).join('')
    + n.ipv6_routers.map((r) => `<tr><td>${esc(r)}</td><td>router</td><td>advertised</td><td></td></tr>`).join('');
  $('net-arp').innerHTML = n.arp.map((a) => `<tr><td>${a.address}</td><td>${a.mac}</td></tr>`).join('');
  $('net-tcp').innerHTML = n.tcp.map((c) => `<tr><td>${c.local}</td><td>${c.remote}</td><td>${c.state}</td><td>${c.rtt_ms.toFixed(2)}</td><td>${c.cwnd}</td><td>${c.retransmits}</td></tr>`).join('');
  $('net-counters').innerHTML = dl(n.counters);
}

(async () => {
  const r = await fetch('/api/login', { credentials: 'same-origin' });
  if (r.ok) showApp((await r.json()).user); else showLogin();
})();
