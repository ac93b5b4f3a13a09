/* global document, window, sessionStorage, fetch, URLSearchParams */
'use strict';
// The fleet page's script. The page itself holds no data: everything comes from api/v1/fleet/boats with the
// operator token the operator typed, kept in this tab's sessionStorage. Boat data is only ever set as text.
(function () {
    const TOKEN_KEY = 'd3kos-fleet-operator-token';
    const PAGE_SIZE = 50;
    const $ = (id) => document.getElementById(id);
    // Cursors of the pages shown so far: the first page has none.
    let cursors = [''];
    let nextCursor = null;

    function token() {
        return sessionStorage.getItem(TOKEN_KEY) || '';
    }

    function show(id, visible) {
        $(id).hidden = !visible;
    }

    function notice(text) {
        $('notice').textContent = text || '';
        show('notice', Boolean(text));
    }

    function el(tag, text, className) {
        const node = document.createElement(tag);
        if (text !== undefined && text !== null) node.textContent = String(text);
        if (className) node.className = className;
        return node;
    }

    function age(iso, now) {
        if (!iso) return 'never';
        const minutes = Math.max(0, Math.round((Date.parse(now) - Date.parse(iso)) / 60000));
        if (minutes < 60) return `${minutes} min ago`;
        const hours = Math.floor(minutes / 60);
        if (hours < 48) return `${hours} h ago`;
        return `${Math.floor(hours / 24)} days ago`;
    }

    function bytes(n) {
        if (n < 1024) return `${n} B`;
        if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
        if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
        return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
    }

    function timeCell(iso, now) {
        const cell = el('td', age(iso, now));
        if (iso) cell.title = iso;
        return cell;
    }

    function signedOut(text) {
        sessionStorage.removeItem(TOKEN_KEY);
        show('fleet', false);
        show('forget', false);
        show('sign-in', true);
        $('boats').replaceChildren();
        notice(text);
    }

    async function api(path, options) {
        const res = await fetch(path, { ...options, headers: { Authorization: `Bearer ${token()}` }, credentials: 'omit', cache: 'no-store' });
        const text = await res.text();
        let body = null;
        try {
            body = JSON.parse(text);
        } catch {
            body = null;
        }
        return { status: res.status, body };
    }

    async function load() {
        const params = new URLSearchParams({ limit: String(PAGE_SIZE), silent_hours: $('silent-hours').value || '48' });
        const search = $('search').value.trim();
        if (search) params.set('q', search);
        const cursor = cursors[cursors.length - 1];
        if (cursor) params.set('after', cursor);
        const { status, body } = await api(`api/v1/fleet/boats?${params}`);
        if (status === 401 || status === 403) return signedOut(`The token was refused: ${(body && body.error) || status}`);
        if (status !== 200 || !body || !body.success) return notice(`The fleet could not be read: ${(body && body.error) || `the central answered ${status}`}`);
        notice('');
        show('sign-in', false);
        show('fleet', true);
        show('forget', true);
        render(body);
    }

    function render(answer) {
        const first = (cursors.length - 1) * PAGE_SIZE;
        $('summary').textContent =
            `${answer.total} boats, ${answer.silent} silent for more than ${answer.silent_hours} h` +
            (answer.matching !== answer.total ? `, ${answer.matching} match the search` : '') +
            (answer.count > 0 ? `; showing ${first + 1}–${first + answer.count}, the longest silent first` : '; none to show');
        $('page-number').textContent = `page ${cursors.length}`;
        nextCursor = answer.next_after || null;
        $('next').disabled = !nextCursor;
        $('previous').disabled = cursors.length === 1;
        $('boats').replaceChildren(...answer.boats.map((boat) => row(boat, answer.now)));
    }

    function row(boat, now) {
        const tr = el('tr', null, boat.silent ? 'silent' : '');
        tr.dataset.installation = boat.installation_id;
        const name = el('td');
        name.append(el('span', boat.installation_id, 'id'));
        if (boat.silent) name.append(' ', el('span', 'silent', 'badge'));
        name.append(el('div', `${boat.export_count} exports, ${boat.records_imported} records`, 'muted'));
        tr.append(name, timeCell(boat.last_import_at, now), timeCell(boat.newest_exported_at, now));

        const rows = Object.entries(boat.rows).sort(([a], [b]) => (a < b ? -1 : 1));
        tr.append(el('td', rows.length ? rows.map(([category, n]) => `${category} ${n}`).join(', ') : 'none'));

        const refused = el('td', boat.refused.count ? `${boat.refused.count}` : 'none');
        if (boat.refused.newest) refused.append(el('div', `${boat.refused.newest.status}: ${boat.refused.newest.error}`, 'problem'));
        tr.append(refused);

        const backlog = el('td', boat.backlog ? `${boat.backlog.exports} exports, ${bytes(boat.backlog.bytes)}` : 'not reported');
        if (boat.backlog) backlog.append(el('div', `told ${age(boat.backlog.reported_at, now)}`, 'muted'));
        tr.append(backlog);

        const vault = el('td', boat.vault ? `${boat.vault.copies} (${bytes(boat.vault.bytes)})` : 'none');
        if (boat.vault && boat.vault.newest_received_at) vault.append(el('div', `newest ${age(boat.vault.newest_received_at, now)}`, 'muted'));
        if (boat.vault && boat.vault.damaged) vault.append(el('div', `${boat.vault.damaged} damaged`, 'problem'));
        if (boat.vault && boat.vault.problem) vault.append(el('div', boat.vault.problem, 'problem'));
        tr.append(vault);

        const actions = el('td');
        const erase = el('button', 'Erase…');
        erase.type = 'button';
        erase.dataset.action = 'erase';
        erase.addEventListener('click', () => askToErase(actions, boat.installation_id));
        actions.append(erase);
        tr.append(actions);
        return tr;
    }

    // Erasing a boat cannot be undone: the operator types its installation_id to confirm.
    function askToErase(cell, id) {
        const box = el('div', null, 'confirm');
        const label = el('label', `Erase every row, import and vault copy of ${id}? Type its installation id:`);
        const input = el('input');
        input.dataset.action = 'confirm-id';
        const go = el('button', 'Erase for good');
        go.type = 'button';
        go.dataset.action = 'erase-now';
        const cancel = el('button', 'Cancel');
        cancel.type = 'button';
        const outcome = el('div', null, 'problem');
        box.append(label, input, go, cancel, outcome);
        cell.replaceChildren(box);
        cancel.addEventListener('click', () => load());
        go.addEventListener('click', async () => {
            if (input.value.trim().toLowerCase() !== id) {
                outcome.textContent = 'The id typed is not this boat’s; nothing was erased.';
                return;
            }
            go.disabled = true;
            const { status, body } = await api(`api/v1/installations/${encodeURIComponent(id)}?confirm=${encodeURIComponent(id)}`, { method: 'DELETE' });
            go.disabled = false;
            if (status === 200 && body && body.success === true) {
                const removed = Object.entries(body.removed || {})
                    .map(([what, n]) => `${what} ${n}`)
                    .join(', ');
                // Reloaded first: a reload clears the notice.
                await load();
                return notice(`Erased ${id}: ${removed}`);
            }
            const erasureMissing = status === 405 || (status === 404 && !(body && body.error));
            outcome.textContent = erasureMissing ? 'Erasure is not available on this central (its ingest has no DELETE /api/v1/installations/:id).' : `Not erased: ${(body && body.error) || status}`;
        });
    }

    $('sign-in').addEventListener('submit', (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
        $('token').value = '';
        cursors = [''];
        load();
    });
    $('filters').addEventListener('submit', (event) => {
        event.preventDefault();
        cursors = [''];
        load();
    });
    $('next').addEventListener('click', () => {
        if (!nextCursor) return;
        cursors.push(nextCursor);
        load();
    });
    $('previous').addEventListener('click', () => {
        if (cursors.length > 1) cursors.pop();
        load();
    });
    $('forget').addEventListener('click', () => signedOut('The token was forgotten in this tab.'));

    if (token()) load();
    else signedOut('');
    window.d3kosFleetReady = true;
})();
