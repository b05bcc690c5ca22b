'use strict';
'require view';
'require rpc';
'require poll';
'require dom';

// LuCI view of the Hybrid Access CPE (Status > Hybrid Access): the daemon's /status.json through
// the rpcd plugin luci.hybrid-access, refreshed every 5 s: the HAG, each line with its state and
// why, address, rates, subflow RTT and quota, and the connections. Plain JS, no build step.

const callStatus = rpc.declare({ object: 'luci.hybrid-access', method: 'status' });

const rate = (bps) => (bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`);
const bytes = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`);

function quota(q) {
	if (!q) return '-';
	const pct = Math.min(100, Math.round((100 * q.used) / q.bytes));
	return E('div', { title: `${bytes(q.used)} of ${bytes(q.bytes)} this ${q.period}` }, [
		E('div', { class: 'cbi-progressbar', title: `${pct}%` }, E('div', { style: `width:${pct}%` })),
		q.exceeded ? _('used up: backup only') : `${bytes(q.used)} / ${bytes(q.bytes)}`,
	]);
}

function uplinks(list) {
	const rows = list.map((u) =>
		E('tr', { class: 'tr' }, [
			E('td', { class: 'td' }, `${u.name} (${u.interface})`),
			E('td', { class: 'td' }, u.role + (u.backup ? ', backup' : '')),
			E('td', { class: 'td' }, [
				E('strong', {}, u.state + (u.active ? ` (${_('in use')})` : '')),
				E('br'),
				`${u.reason}: ${u.healthReason}`,
			]),
			E('td', { class: 'td' }, u.address || '-'),
			E('td', { class: 'td' }, `↓ ${rate(u.rateInBps)} ↑ ${rate(u.rateOutBps)}`),
			E('td', { class: 'td' }, u.subflowRttMs === undefined ? '-' : `${Math.round(u.subflowRttMs)} ms`),
			E('td', { class: 'td' }, quota(u.quota)),
		]),
	);
	const head = [_('Line'), _('Role'), _('State'), _('Address'), _('Rate'), _('Subflow RTT'), _('Quota')];
	return E('table', { class: 'table' }, [
		E('tr', { class: 'tr table-titles' }, head.map((h) => E('th', { class: 'th' }, h))),
		...rows,
	]);
}

function content(s) {
	if (!s || s.error || !s.hag) return E('p', {}, (s && s.error) || _('No status from the daemon.'));
	const c = s.connections;
	return E('div', {}, [
		E('p', {}, [
			E('strong', {}, _('HAG') + ': '),
			`${s.hag.address}:${s.hag.port} (${s.hag.method}) ${s.hag.state}`,
			s.hag.reason ? ` - ${s.hag.reason}` : '',
		]),
		uplinks(s.uplinks),
		E('p', {}, `${_('Connections')}: ${c.active} (${c.bonded} ${_('bonded')}, ${c.direct} ${_('direct')})`),
	]);
}

return view.extend({
	load: () => callStatus(),

	render(status) {
		const node = E('div', { class: 'cbi-section' }, content(status));
		poll.add(() => callStatus().then((s) => dom.content(node, content(s))), 5);
		return E('div', {}, [E('h2', {}, _('Hybrid Access')), node]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null,
});
