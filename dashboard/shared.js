// What every part of the Data Management page shares: the boat's REST calls, and figures and times in the owner's words.
// The build (scripts/dashboard.js) puts this file in place of each part's `import { d3 } from './shared.js'`.
export const d3 = {
    methods: {
        // The boat's own REST endpoints: same origin and JSON bodies, so the request guard lets them through.
        async api(method, path, body) {
            const init = { method, cache: 'no-store', headers: { Accept: 'application/json' } };
            if (method !== 'GET') {
                init.headers['Content-Type'] = 'application/json';
                init.body = JSON.stringify(body || {});
            }
            let res;
            try {
                res = await fetch(path, init);
            } catch {
                throw Object.assign(new Error('the boat’s data service did not answer. Is Node-RED running?'), { status: 0 });
            }
            let data = null;
            try {
                data = await res.json();
            } catch {
                data = null;
            }
            if (res.status === 404 && (!data || !data.error)) throw Object.assign(new Error('not available on this boat'), { status: 404, missing: true });
            if (res.status === 504) throw Object.assign(new Error('still working after the time the page waits; the result shows here when it is done'), { status: 504 });
            if (!res.ok || !data || data.success === false) {
                throw Object.assign(new Error((data && (data.error || data.message)) || 'the boat’s data service answered ' + res.status), { status: res.status, answer: data });
            }
            return data;
        },
        // A refused action as a notice: what did not happen, and the service's own words on what to do.
        refused(headline, err) {
            return { severity: 'critical', headline, action: this.sentence(err && err.message ? err.message : String(err)) };
        },
        sentence(text) {
            const t = String(text || '').trim();
            return t ? t.charAt(0).toUpperCase() + t.slice(1) : '';
        },
        bytes(n) {
            if (typeof n !== 'number' || !isFinite(n)) return '–';
            const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
            let i = 0;
            while (n >= 1024 && i < units.length - 1) {
                n /= 1024;
                i++;
            }
            return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
        },
        day(iso) {
            const t = Date.parse(iso || '');
            return t ? new Date(t).toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric' }) : '';
        },
        time(iso) {
            const t = Date.parse(iso || '');
            return t ? new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }) : '';
        },
        // "today 14:05", "Tue 8 Dec 03:00": never a day/month order to guess.
        when(iso) {
            const t = Date.parse(iso || '');
            if (!t) return '';
            const d = new Date(t);
            const time = this.time(iso);
            if (d.toDateString() === new Date().toDateString()) return 'today ' + time;
            const tomorrow = new Date();
            tomorrow.setDate(tomorrow.getDate() + 1);
            if (d.toDateString() === tomorrow.toDateString()) return 'tomorrow ' + time;
            return d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', month: 'short' }).replace(',', '') + ' ' + time;
        },
        // "5 min ago", "2 h ago", "3 days ago".
        ago(iso) {
            const t = Date.parse(iso || '');
            if (!t) return '';
            const s = Math.max(0, Math.round((Date.now() - t) / 1000));
            if (s < 90) return 'just now';
            if (s < 90 * 60) return Math.round(s / 60) + ' min ago';
            if (s < 36 * 3600) return Math.round(s / 3600) + ' h ago';
            return Math.round(s / 86400) + ' days ago';
        },
        ageDays(iso) {
            const t = Date.parse(iso || '');
            return t ? (Date.now() - t) / 86400000 : Infinity;
        },
    },
};
